package natsbridge_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Two buses, two connections: Order goes from A to B, Ack from B to A,
// each arriving as its own Go type with its value intact.
func TestBothWays(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	a := connect(t, busA, cfg, func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Forward[Order](c, "orders"), natsbridge.Receive[Ack](c, "acks"))
	})
	b := connect(t, busB, cfg, func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Receive[Order](c, "orders"), natsbridge.Forward[Ack](c, "acks"))
	})
	orders := fxbus.Subscribe[Order](busB)
	defer orders.Close()
	acks := fxbus.Subscribe[Ack](busA)
	defer acks.Close()

	for i := range 3 {
		fxbus.Emit(busA, Order{ID: strconv.Itoa(i), Items: i + 1})
	}
	for i := range 3 {
		got := recv(t, orders)
		if want := (Order{ID: strconv.Itoa(i), Items: i + 1}); got != want {
			t.Fatalf("B got %+v, want %+v", got, want)
		}
		fxbus.Emit(busB, Ack{OrderID: got.ID, By: "B"})
	}
	for i := range 3 {
		if got, want := recv(t, acks), (Ack{OrderID: strconv.Itoa(i), By: "B"}); got != want {
			t.Fatalf("A got %+v, want %+v", got, want)
		}
	}

	t.Run("stats", func(t *testing.T) {
		// A route counts an event once the client has taken it, which
		// may be after a peer got it: poll.
		eventually(t, "A counts 3 forwarded", func() bool {
			return statsOf(t, a, natsbridge.Outbound, "orders").Forwarded == 3
		})
		if s := statsOf(t, a, natsbridge.Outbound, "orders"); s.Type != "natsbridge_test.Order" || s.Dropped != 0 {
			t.Errorf("A outbound: %+v", s)
		}
		if s := statsOf(t, b, natsbridge.Inbound, "orders"); s.Received != 3 || s.DecodeFailures != 0 {
			t.Errorf("B inbound: %+v", s)
		}
		if s := statsOf(t, a, natsbridge.Inbound, "acks"); s.Received != 3 {
			t.Errorf("A inbound: %+v", s)
		}
		if n := len(a.Stats()); n != 2 {
			t.Errorf("A has %d routes, want 2", n)
		}
	})
}

// A Conn skips the messages that carry its own origin, whatever path they
// took back to it.
func TestNoEchoOfOwnMessages(t *testing.T) {
	srv := runServer(t, -1)
	bus := newBus(t)
	c := connect(t, bus, natsbridge.Config{URL: srv.ClientURL()}, func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Forward[Ping](c, "ping"), natsbridge.Receive[Ping](c, "ping"))
	})
	sub := fxbus.Subscribe[Ping](bus)
	defer sub.Close()

	// The local subscriber sees a local event once: the route does not
	// bring it back.
	fxbus.Emit(bus, Ping{N: 1})
	if got := recv(t, sub); got.N != 1 {
		t.Fatalf("got %+v", got)
	}
	// A message with this Conn's origin, published by another client (the
	// server's no-echo would hide the Conn's own), is skipped; one without
	// is emitted.
	raw := rawConn(t, srv.ClientURL())
	own := &nats.Msg{Subject: "ping", Header: nats.Header{natsbridge.HeaderOrigin: {c.Origin()}}, Data: []byte(`{"N":2}`)}
	if err := raw.PublishMsg(own); err != nil {
		t.Fatal(err)
	}
	if err := raw.Publish("ping", []byte(`{"N":3}`)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, sub); got.N != 3 {
		t.Fatalf("got %+v, want N 3: the message with the Conn's origin was emitted", got)
	}
	s := statsOf(t, c, natsbridge.Inbound, "ping")
	if s.Echoes != 1 || s.Received != 1 {
		t.Errorf("inbound stats %+v, want 1 echo and 1 received", s)
	}
	// The received Ping{3} was not sent back out either.
	eventually(t, "the outbound route skips the received event", func() bool {
		return statsOf(t, c, natsbridge.Outbound, "ping").Echoes == 1
	})
	if s := statsOf(t, c, natsbridge.Outbound, "ping"); s.Forwarded != 1 {
		t.Errorf("outbound stats %+v, want 1 forwarded (the local Ping 1)", s)
	}
}

// Two processes that bridge a type both ways do not bounce events between
// them: B does not forward what it received from A, so A sees its own
// event once, then B's marker, and nothing else.
func TestNoRelayLoop(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	both := func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Forward[Ping](c, "ping"), natsbridge.Receive[Ping](c, "ping"))
	}
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	a := connect(t, busA, cfg, both)
	b := connect(t, busB, cfg, both)
	subA := fxbus.Subscribe[Ping](busA)
	defer subA.Close()
	subB := fxbus.Subscribe[Ping](busB)
	defer subB.Close()

	fxbus.Emit(busA, Ping{N: 1})
	if got := recv(t, subB); got.N != 1 {
		t.Fatalf("B got %+v", got)
	}
	// B's outbound route reads Ping 1 (and skips it) before the marker, and
	// NATS keeps B's order: had B sent Ping 1 back, A would get it first.
	fxbus.Emit(busB, Ping{N: 2})
	for _, want := range []int{1, 2} {
		if got := recv(t, subA); got.N != want {
			t.Fatalf("A got %+v, want N %d", got, want)
		}
	}
	if got := recv(t, subB); got.N != 2 {
		t.Fatalf("B got %+v, want its own marker", got)
	}
	eventually(t, "both count their event forwarded", func() bool {
		return statsOf(t, b, natsbridge.Outbound, "ping").Forwarded == 1 &&
			statsOf(t, a, natsbridge.Outbound, "ping").Forwarded == 1
	})
	if s := statsOf(t, b, natsbridge.Outbound, "ping"); s.Forwarded != 1 || s.Echoes != 1 {
		t.Errorf("B outbound %+v, want 1 forwarded (the marker), 1 echo (Ping 1)", s)
	}
	if s := statsOf(t, a, natsbridge.Outbound, "ping"); s.Forwarded != 1 {
		t.Errorf("A outbound %+v, want 1 forwarded", s)
	}
	if n := subA.Len(); n != 0 {
		t.Errorf("A has %d more events", n)
	}
}

// Two Conns on one bus that bridge the same type on the same subject (a
// misconfiguration: one would do) do not pass events to each other: an
// event received by one is not forwarded by the other, and one published
// by one is not emitted by the other. Each forwards the local events and
// each emits what peers publish, so those are duplicated, but nothing
// comes back and nothing loops.
func TestTwoConnsOnOneBusDoNotLoop(t *testing.T) {
	srv := runServer(t, -1)
	busM, busP := newBus(t), newBus(t)
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	both := func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Forward[Ping](c, "ping"), natsbridge.Receive[Ping](c, "ping"))
	}
	x := connect(t, busM, cfg, both)
	y := connect(t, busM, cfg, both)
	z := connect(t, busP, cfg, both)
	raw := rawConn(t, srv.ClientURL())
	seen, err := raw.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	subM := fxbus.Subscribe[Ping](busM)
	defer subM.Close()

	fxbus.Emit(busP, Ping{N: 1})
	for range 2 { // one copy through X, one through Y
		if got := recv(t, subM); got.N != 1 {
			t.Fatalf("M got %+v, want Ping 1", got)
		}
	}
	fxbus.Emit(busM, Ping{N: 2}) // read by X and Y after both copies of Ping 1
	type msg struct {
		origin string
		n      int
	}
	want := map[msg]bool{{z.Origin(), 1}: true, {x.Origin(), 2}: true, {y.Origin(), 2}: true}
	for len(want) > 0 {
		m, err := seen.NextMsg(wait)
		if err != nil {
			t.Fatalf("still waiting for %v: %v", want, err)
		}
		p, err := (natsbridge.JSON[Ping]{}).Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		k := msg{m.Header.Get(natsbridge.HeaderOrigin), p.N}
		if !want[k] {
			t.Fatalf("published %+v: X is %s, Y %s, Z %s; Ping 1 came back", k, x.Origin(), y.Origin(), z.Origin())
		}
		delete(want, k)
	}
	for _, c := range []*natsbridge.Conn{x, y} {
		eventually(t, "X and Y read both copies and the other's Ping 2", func() bool {
			out, in := statsOf(t, c, natsbridge.Outbound, "ping"), statsOf(t, c, natsbridge.Inbound, "ping")
			return out.Forwarded+out.Echoes == 3 && in.Received+in.Echoes == 2
		})
		if s := statsOf(t, c, natsbridge.Outbound, "ping"); s.Forwarded != 1 || s.Echoes != 2 {
			t.Errorf("outbound %+v, want Ping 2 forwarded and both copies of Ping 1 skipped", s)
		}
		if s := statsOf(t, c, natsbridge.Inbound, "ping"); s.Received != 1 || s.Echoes != 1 {
			t.Errorf("inbound %+v, want Ping 1 received and the other's Ping 2 skipped", s)
		}
	}
	if n := subM.Len(); n != 1 {
		t.Errorf("M has %d events waiting, want its own Ping 2 only", n)
	}
}

// stallingPing encodes Pings as JSON, but stalls on Ping{N: -1} until
// released, as a slow link would.
type stallingPing struct {
	stalled chan<- struct{}
	release <-chan struct{}
}

func (s stallingPing) Encode(p Ping) ([]byte, error) {
	if p.N == -1 {
		s.stalled <- struct{}{}
		<-s.release
	}
	return natsbridge.JSON[Ping]{}.Encode(p)
}

func (stallingPing) Decode(b []byte) (Ping, error) { return natsbridge.JSON[Ping]{}.Decode(b) }

// No event received from NATS is sent back, even when the outbound route
// falls more than the bus capacity behind while received events fill the
// ring: those it missed are counted in Missed, those still in the ring are
// recognised and skipped.
func TestNoEchoAfterLag(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t, fxbus.WithCapacity(16))
	stalled, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	a := connect(t, busA, cfg, func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Forward[Ping](c, "ping"), natsbridge.Receive[Ping](c, "ping"))
	})
	codec := natsbridge.WithCodec[Ping](stallingPing{stalled, release})
	b := connect(t, busB, cfg, func(c *natsbridge.Conn) error {
		return errors.Join(natsbridge.Forward(c, "ping", codec), natsbridge.Receive(c, "ping", codec))
	})
	t.Cleanup(releaseOnce)
	subA := fxbus.Subscribe[Ping](busA)
	defer subA.Close()

	fxbus.Emit(busB, Ping{N: -1}) // B's outbound route stalls on it
	<-stalled
	const n = 40
	for i := 1; i <= n; i++ {
		fxbus.Emit(busA, Ping{N: i})
	}
	eventually(t, "B receives A's events", func() bool {
		return statsOf(t, b, natsbridge.Inbound, "ping").Received == n
	})
	releaseOnce()
	// The route sends -1, misses 24 events, then reads the 16 the ring
	// holds.
	eventually(t, "B's outbound route reads or misses A's events", func() bool {
		s := statsOf(t, b, natsbridge.Outbound, "ping")
		return s.Missed+s.Echoes == n
	})
	if s := statsOf(t, b, natsbridge.Outbound, "ping"); s.Missed != n-16 || s.Echoes != 16 {
		t.Errorf("B outbound %+v, want %d missed, 16 echoes", s, n-16)
	}
	fxbus.Emit(busB, Ping{N: -2}) // a marker: B's outbound route reads it last

	// A's subscribers see A's events once, then B's two, and nothing else.
	var got []int
	for len(got) < n+2 {
		got = append(got, recv(t, subA).N)
	}
	for i, v := range got {
		want := i + 1
		switch i {
		case n:
			want = -1
		case n + 1:
			want = -2
		}
		if v != want {
			t.Fatalf("A's subscriber got %v, want 1..%d, -1, -2: B sent received events back", got, n)
		}
	}
	eventually(t, "B counts its marker forwarded", func() bool {
		return statsOf(t, b, natsbridge.Outbound, "ping").Forwarded == 2
	})
	if s := statsOf(t, a, natsbridge.Inbound, "ping"); s.Received != 2 {
		t.Errorf("A inbound %+v, want 2 received", s)
	}
}

// No received event is sent back while local events of the same type are
// emitted at the same time and the outbound route keeps lagging: every
// message the Conn publishes is one of its local events.
func TestNoEchoWhileLocalEventsRace(t *testing.T) {
	srv := runServer(t, -1)
	// A's route keeps up; B's lags whenever its codec hiccups.
	busA, busB := newBus(t, fxbus.WithCapacity(4096)), newBus(t, fxbus.WithCapacity(16))
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	both := func(opts ...natsbridge.RouteOption[Ping]) func(c *natsbridge.Conn) error {
		return func(c *natsbridge.Conn) error {
			return errors.Join(natsbridge.Forward(c, "ping", opts...), natsbridge.Receive(c, "ping", opts...))
		}
	}
	a := connect(t, busA, cfg, both())
	b := connect(t, busB, cfg, both(natsbridge.WithCodec[Ping](&hiccupPing{})))
	raw := rawConn(t, srv.ClientURL())
	seen, err := raw.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := seen.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	flush(t, b)
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}

	// Both sides emit at about the same pace, so that B's ring holds
	// received and local events side by side.
	const n = 2000
	emit := func(bus *fxbus.Bus, sign int) {
		for i := 1; i <= n; i++ {
			fxbus.Emit(bus, Ping{N: sign * i})
			if i%20 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); emit(busA, 1) }()
	go func() { defer wg.Done(); emit(busB, -1) }()
	wg.Wait()
	eventually(t, "B's outbound route reads or misses every event", func() bool {
		s := statsOf(t, b, natsbridge.Outbound, "ping")
		return statsOf(t, a, natsbridge.Outbound, "ping").Forwarded == n &&
			statsOf(t, b, natsbridge.Inbound, "ping").Received == n &&
			s.Forwarded+s.Missed+s.Echoes == 2*n
	})
	out := statsOf(t, b, natsbridge.Outbound, "ping")
	fromB := 0
	for fromB < int(out.Forwarded) {
		m, err := seen.NextMsg(wait)
		if err != nil {
			t.Fatalf("after %d of B's %d messages: %v", fromB, out.Forwarded, err)
		}
		if m.Header.Get(natsbridge.HeaderOrigin) != b.Origin() {
			continue
		}
		fromB++
		if p, err := (natsbridge.JSON[Ping]{}).Decode(m.Data); err != nil || p.N > 0 {
			t.Fatalf("B published %s (%v): an event it received from A", m.Data, err)
		}
	}
	t.Logf("B outbound %+v", out)
}

// hiccupPing encodes Pings as JSON, pausing now and then as a slow link
// would, so that the outbound route lags.
type hiccupPing struct{ calls atomic.Int64 }

func (h *hiccupPing) Encode(p Ping) ([]byte, error) {
	if h.calls.Add(1)%97 == 0 {
		time.Sleep(time.Millisecond)
	}
	return natsbridge.JSON[Ping]{}.Encode(p)
}

func (*hiccupPing) Decode(b []byte) (Ping, error) { return natsbridge.JSON[Ping]{}.Decode(b) }

// Payloads the codec rejects are logged with the subject and the error,
// counted, and skipped; the route goes on.
func TestMalformedPayloads(t *testing.T) {
	srv := runServer(t, -1)
	core, logs := observer.New(zap.ErrorLevel)
	bus := newBus(t, fxbus.WithLogger(zap.New(core)))
	c := connect(t, bus, natsbridge.Config{URL: srv.ClientURL()}, func(c *natsbridge.Conn) error {
		return natsbridge.Receive[Order](c, "orders.>")
	})
	sub := fxbus.Subscribe[Order](bus)
	defer sub.Close()

	raw := rawConn(t, srv.ClientURL())
	bad := []string{"", "not json", `{"ID": "x"`, `[1, 2]`, `{"Items": "many"}`, "\x00\xff"}
	for _, p := range bad {
		if err := raw.Publish("orders.eu", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Publish("orders.eu", []byte(`{"ID":"ok","Items":1}`)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, sub); got != (Order{ID: "ok", Items: 1}) {
		t.Fatalf("got %+v", got)
	}
	s := statsOf(t, c, natsbridge.Inbound, "orders.>")
	if s.DecodeFailures != uint64(len(bad)) || s.Received != 1 {
		t.Errorf("stats %+v, want %d decode failures and 1 received", s, len(bad))
	}
	entries := logs.FilterMessageSnippet("cannot decode").All()
	if len(entries) != len(bad) {
		t.Fatalf("%d decode errors logged, want %d", len(entries), len(bad))
	}
	fields := entries[0].ContextMap()
	if fields["subject"] != "orders.eu" || fields["type"] != "natsbridge_test.Order" || fields["error"] == "" {
		t.Errorf("log fields %v, want subject, type and error", fields)
	}
}

// textPing is a codec of its own: Ping as decimal text.
type textPing struct{}

func (textPing) Encode(p Ping) ([]byte, error) { return []byte(strconv.Itoa(p.N)), nil }
func (textPing) Decode(b []byte) (Ping, error) {
	n, err := strconv.Atoi(string(b))
	return Ping{N: n}, err
}

func TestCodec(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	connect(t, busA, cfg, func(c *natsbridge.Conn) error {
		return natsbridge.Forward(c, "ping", natsbridge.WithCodec[Ping](textPing{}))
	})
	connect(t, busB, cfg, func(c *natsbridge.Conn) error {
		return natsbridge.Receive(c, "ping", natsbridge.WithCodec[Ping](textPing{}))
	})
	sub := fxbus.Subscribe[Ping](busB)
	defer sub.Close()
	raw := rawConn(t, srv.ClientURL())
	payloads, err := raw.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}

	fxbus.Emit(busA, Ping{N: 42})
	if got := recv(t, sub); got.N != 42 {
		t.Fatalf("got %+v", got)
	}
	msg, err := payloads.NextMsg(wait)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "42" {
		t.Errorf("payload %q, want the codec's \"42\"", msg.Data)
	}
}

// The cause of a shutdown crosses as text, with the reason and exit code;
// the receiving process gets a PeerShutdown, not a ShutdownInitiatedEvent.
func TestForwardShutdown(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	a := connect(t, busA, natsbridge.Config{URL: srv.ClientURL(), Name: "indexer"}, func(c *natsbridge.Conn) error {
		return natsbridge.ForwardShutdown(c, "fleet.shutdown")
	})
	connect(t, busB, natsbridge.Config{URL: srv.ClientURL()}, func(c *natsbridge.Conn) error {
		return natsbridge.Receive[natsbridge.PeerShutdownEvent](c, "fleet.shutdown")
	})
	peers := fxbus.Subscribe[natsbridge.PeerShutdownEvent](busB)
	defer peers.Close()
	local := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](busB)
	defer local.Close()

	runhooks.Of(busA).AnnounceShutdown("task failed", errors.New("disk full"), 3)
	got := recv(t, peers)
	want := natsbridge.PeerShutdownEvent{Origin: a.Origin(), Name: "indexer", Reason: "task failed", Cause: "disk full", ExitCode: 3}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got.CauseError() == nil || got.CauseError().Error() != "disk full" {
		t.Errorf("CauseError() = %v", got.CauseError())
	}
	if n := local.Len(); n != 0 {
		t.Errorf("B got %d ShutdownInitiatedEvent of its own", n)
	}
	eventually(t, "A counts the shutdown forwarded", func() bool {
		return statsOf(t, a, natsbridge.Outbound, "fleet.shutdown").Forwarded == 1
	})
	if s := statsOf(t, a, natsbridge.Outbound, "fleet.shutdown"); s.Type != "fxbus.ShutdownInitiatedEvent" {
		t.Errorf("stats %+v", s)
	}
}

// freePort returns a port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestConnectUnreachable(t *testing.T) {
	port := freePort(t)
	bus := newBus(t)
	url := fmt.Sprintf("nats://app:s3cret@127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	_, err := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: url})
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("error %q does not name the URL", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}

	t.Run("a context without deadline", func(t *testing.T) {
		srv := runServer(t, -1)
		c, err := natsbridge.Connect(context.Background(), bus, natsbridge.Config{URL: srv.ClientURL()})
		if err != nil {
			t.Fatal(err)
		}
		closeConn(t, c)
	})

	t.Run("context deadline bounds the attempt", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: url})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
	})
}

func TestRouteErrors(t *testing.T) {
	srv := runServer(t, -1)
	bus := newBus(t)
	c := connect(t, bus, natsbridge.Config{URL: srv.ClientURL()}, func(c *natsbridge.Conn) error {
		return natsbridge.Forward[Order](c, "orders")
	})
	tests := []struct {
		desc string
		give func() error
		want string
	}{
		{"empty subject", func() error { return natsbridge.Forward[Ping](c, "") }, "empty subject"},
		{"empty token", func() error { return natsbridge.Receive[Ping](c, "a..b") }, "empty token"},
		{"white space", func() error { return natsbridge.Receive[Ping](c, "a b") }, "white space"},
		{"publish to wildcard", func() error { return natsbridge.Forward[Ping](c, "a.*") }, "wildcard"},
		{"duplicate", func() error { return natsbridge.Forward[Order](c, "orders") }, "already declared"},
		{"ShutdownInitiatedEvent as JSON", func() error { return natsbridge.Forward[fxbus.ShutdownInitiatedEvent](c, "x") }, "ForwardShutdown"},
		{"receive ShutdownInitiatedEvent", func() error { return natsbridge.Receive[fxbus.ShutdownInitiatedEvent](c, "x") }, "PeerShutdown"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.give()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("same type other direction", func(t *testing.T) {
		if err := natsbridge.Receive[Order](c, "orders"); err != nil {
			t.Error(err)
		}
	})
	t.Run("after close", func(t *testing.T) {
		closeConn(t, c)
		closeConn(t, c) // idempotent
		if err := natsbridge.Forward[Ping](c, "late"); !errors.Is(err, natsbridge.ErrClosed) {
			t.Errorf("Forward after Close: %v", err)
		}
		// A standalone Conn serves once: the error says so and what to do.
		err := c.Start(context.Background())
		if !errors.Is(err, natsbridge.ErrClosed) || !strings.Contains(err.Error(), "cannot be started again") ||
			!strings.Contains(err.Error(), "natsbridge.New") {
			t.Errorf("Start after Close: %v, want ErrClosed saying a closed Conn cannot be started again and to make one with natsbridge.New", err)
		}
	})
}

// Routes declared before Start subscribe to the bus at once: an event
// emitted between New and Start is forwarded.
func TestEventsBeforeStart(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	connect(t, busB, natsbridge.Config{URL: srv.ClientURL()}, func(c *natsbridge.Conn) error {
		return natsbridge.Receive[Order](c, "orders")
	})
	sub := fxbus.Subscribe[Order](busB)
	defer sub.Close()

	a, err := natsbridge.New(busA, natsbridge.Config{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbridge.Forward[Order](a, "orders"); err != nil {
		t.Fatal(err)
	}
	fxbus.Emit(busA, Order{ID: "early"})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, a)
	if got := recv(t, sub); got.ID != "early" {
		t.Fatalf("got %+v", got)
	}
}
