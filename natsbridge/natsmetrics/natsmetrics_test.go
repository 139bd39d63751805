package natsmetrics_test

import (
	"encoding/json"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/natsmetrics"
	"github.com/nats-io/nats.go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

const (
	typeOrder = "natsmetrics_test.Order"
	typeAck   = "natsmetrics_test.Ack"
)

// A known sequence on a real server: events forwarded, messages received,
// one a decode failure, received events not sent back; every route counter
// is exported with exactly the value the sequence makes, and each
// collection reads the Conn anew.
func TestRouteCountersFollowAKnownSequence(t *testing.T) {
	srv := runServer(t, -1)
	bus := newBus(t)
	conn := newConn(t, bus, natsbridge.Config{URL: srv.ClientURL()})
	mp, reader := newProvider(t)
	m, err := natsmetrics.New(conn, natsmetrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})

	// Before any route and before Start: the state only.
	s := collect(t, reader)
	s.want(t, "natsbridge.connection.state", states("not_started"))
	for name := range s {
		if name != "natsbridge.connection.state" {
			t.Errorf("without routes, %s was reported: %v", name, s[name])
		}
	}

	// Routes declared after New are reported.
	for _, err := range []error{
		natsbridge.Forward[Order](conn, "orders"),
		natsbridge.Receive[Ack](conn, "acks"),
		natsbridge.Forward[Ack](conn, "acks"), // what it receives, it does not send back
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	acks := fxbus.Subscribe[Ack](bus)
	defer acks.Close()
	start(t, conn)

	peer := rawConn(t, srv.ClientURL())
	orders, err := peer.SubscribeSync("orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Flush(); err != nil {
		t.Fatal(err)
	}

	const forwarded, received = 5, 3
	for i := range forwarded {
		fxbus.Emit(bus, Order{ID: itoa(i)})
	}
	for range forwarded {
		if _, err := orders.NextMsg(wait); err != nil {
			t.Fatalf("the peer got fewer than %d orders: %v", forwarded, err)
		}
	}
	// The bad payload first: the route handles its messages in order, so
	// once the good ones are on the bus the decode failure is counted.
	publish(t, peer, "acks", []byte(`{"not":"an ack"}`))
	for i := range received {
		payload, _ := json.Marshal(Ack{OrderID: itoa(i)})
		publish(t, peer, "acks", payload)
	}
	for range received {
		recv(t, acks)
	}
	// The peer may get an order before the route has counted it, and the
	// outbound Ack route counts an echo when it reads the received event.
	eventually(t, "the routes count what they did", func() bool {
		return statsOf(t, conn, natsbridge.Outbound, "orders").Forwarded == forwarded &&
			statsOf(t, conn, natsbridge.Outbound, "acks").Echoes == received
	})

	var (
		outOrders = route("orders", natsbridge.Outbound, typeOrder)
		outAcks   = route("acks", natsbridge.Outbound, typeAck)
		inAcks    = route("acks", natsbridge.Inbound, typeAck)
	)
	s = collect(t, reader)
	s.want(t, "natsbridge.forwarded.events", map[string]int64{outOrders: forwarded, outAcks: 0})
	s.want(t, "natsbridge.buffered.events", map[string]int64{outOrders: 0, outAcks: 0})
	s.want(t, "natsbridge.missed.events", map[string]int64{outOrders: 0, outAcks: 0})
	s.want(t, "natsbridge.encode.failures", map[string]int64{outOrders: 0, outAcks: 0})
	s.want(t, "natsbridge.received.events", map[string]int64{inAcks: received})
	s.want(t, "natsbridge.decode.failures", map[string]int64{inAcks: 1})
	s.want(t, "natsbridge.dropped.events", map[string]int64{outOrders: 0, outAcks: 0, inAcks: 0})
	s.want(t, "natsbridge.echoes.skipped", map[string]int64{outOrders: 0, outAcks: received, inAcks: 0})
	s.want(t, "natsbridge.connection.state", states("connected"))

	fxbus.Emit(bus, Order{ID: "late"})
	if _, err := orders.NextMsg(wait); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late order counted", func() bool {
		return statsOf(t, conn, natsbridge.Outbound, "orders").Forwarded == forwarded+1
	})
	collect(t, reader).want(t, "natsbridge.forwarded.events", map[string]int64{outOrders: forwarded + 1, outAcks: 0})

	// Closed: the final counts and the state.
	closeConn(t, conn)
	s = collect(t, reader)
	s.want(t, "natsbridge.forwarded.events", map[string]int64{outOrders: forwarded + 1, outAcks: 0})
	s.want(t, "natsbridge.received.events", map[string]int64{inAcks: received})
	s.want(t, "natsbridge.connection.state", states("closed"))
}

// The state follows the client through an outage, and the events of the
// outage are exported as buffered or dropped, as Conn.Stats counts them.
func TestConnectionStateFollowsAnOutage(t *testing.T) {
	srv := runServer(t, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	bus := newBus(t, fxbus.WithCapacity(1024)) // the route misses none of the outage's events
	conn := newConn(t, bus, natsbridge.Config{
		URL:              srv.ClientURL(),
		ReconnectWait:    20 * time.Millisecond,
		ReconnectBufSize: 2048, // room for some of the outage's events, not all
	})
	if err := natsbridge.Forward[Order](conn, "orders"); err != nil {
		t.Fatal(err)
	}
	mp, reader := newProvider(t)
	m, err := natsmetrics.New(conn, natsmetrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	up := fxbus.Subscribe[natsbridge.ReconnectedEvent](bus)
	defer up.Close()

	collect(t, reader).want(t, "natsbridge.connection.state", states("not_started"))
	start(t, conn)
	collect(t, reader).want(t, "natsbridge.connection.state", states("connected"))

	stopServer(srv)
	stateIs(t, reader, "reconnecting")
	const n = 300
	for i := range n {
		fxbus.Emit(bus, Order{ID: itoa(i)})
	}
	eventually(t, "every outage event forwarded or dropped", func() bool {
		st := statsOf(t, conn, natsbridge.Outbound, "orders")
		return st.Forwarded+st.Dropped == n
	})
	st := statsOf(t, conn, natsbridge.Outbound, "orders")
	if st.Buffered == 0 || st.Dropped == 0 {
		t.Fatalf("outage stats %+v: want some buffered, some dropped", st)
	}
	outOrders := route("orders", natsbridge.Outbound, typeOrder)
	s := collect(t, reader)
	s.want(t, "natsbridge.forwarded.events", map[string]int64{outOrders: int64(st.Forwarded)})
	s.want(t, "natsbridge.buffered.events", map[string]int64{outOrders: int64(st.Buffered)})
	s.want(t, "natsbridge.dropped.events", map[string]int64{outOrders: int64(st.Dropped)})
	s.want(t, "natsbridge.connection.state", states("reconnecting"))

	runServer(t, port)
	recv(t, up)
	collect(t, reader).want(t, "natsbridge.connection.state", states("connected"))

	closeConn(t, conn)
	collect(t, reader).want(t, "natsbridge.connection.state", states("closed"))
}

// Each field of Stats is exported by its own instrument, for its route's
// direction only; routes whose types print alike are summed, not lost; a
// count past the int64 range stays at the maximum.
func TestEveryStatsFieldHasItsInstrument(t *testing.T) {
	stats := []natsbridge.Stats{
		{Direction: natsbridge.Outbound, Subject: "s", Type: "a.T",
			Forwarded: 1, Buffered: 2, Dropped: 3, Missed: 4, EncodeFailures: 5, Echoes: 6,
			Received: 1000, DecodeFailures: 1000}, // not outbound counters: never set by a Conn, never exported
		{Direction: natsbridge.Inbound, Subject: "s.>", Type: "a.T",
			Received: 7, DecodeFailures: 8, Dropped: 9, Echoes: 10,
			Forwarded: 1000, Buffered: 1000, Missed: 1000, EncodeFailures: 1000},
		// Another package's T, on the same route: summed with the first.
		{Direction: natsbridge.Outbound, Subject: "s", Type: "a.T", Forwarded: 100, Missed: math.MaxUint64},
	}
	mp, reader := newProvider(t)
	m, err := natsmetrics.NewFromStats(mp,
		func() []natsbridge.Stats { return stats },
		func() string { return "draining" })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	out, in := route("s", natsbridge.Outbound, "a.T"), route("s.>", natsbridge.Inbound, "a.T")
	s := collect(t, reader)
	s.want(t, "natsbridge.forwarded.events", map[string]int64{out: 101})
	s.want(t, "natsbridge.buffered.events", map[string]int64{out: 2})
	s.want(t, "natsbridge.missed.events", map[string]int64{out: math.MaxInt64})
	s.want(t, "natsbridge.encode.failures", map[string]int64{out: 5})
	s.want(t, "natsbridge.received.events", map[string]int64{in: 7})
	s.want(t, "natsbridge.decode.failures", map[string]int64{in: 8})
	s.want(t, "natsbridge.dropped.events", map[string]int64{out: 3, in: 9})
	s.want(t, "natsbridge.echoes.skipped", map[string]int64{out: 6, in: 10})
	s.want(t, "natsbridge.connection.state", states("draining"))
	if len(s) != 9 {
		t.Errorf("%d instruments reported, want 9: %v", len(s), s)
	}
}

// Every status of the NATS client is one of the states; a status the
// package does not know sets none to 1.
func TestEveryClientStatusIsAState(t *testing.T) {
	want := map[nats.Status]string{
		nats.DISCONNECTED:  "disconnected",
		nats.CONNECTED:     "connected",
		nats.CLOSED:        "closed",
		nats.RECONNECTING:  "reconnecting",
		nats.CONNECTING:    "connecting",
		nats.DRAINING_SUBS: "draining",
		nats.DRAINING_PUBS: "draining",
	}
	// The client's statuses are numbered from DISCONNECTED up; one past
	// the last known prints as unknown.
	for st := nats.DISCONNECTED; st.String() != "unknown status"; st++ {
		w, ok := want[st]
		if !ok {
			t.Errorf("client status %v has no state", st)
			continue
		}
		if got := natsmetrics.StatusState(st); got != w {
			t.Errorf("state of %v = %q, want %q", st, got, w)
		}
	}

	mp, reader := newProvider(t)
	m, err := natsmetrics.NewFromStats(mp, func() []natsbridge.Stats { return nil },
		func() string { return natsmetrics.StatusState(nats.Status(200)) })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	collect(t, reader).want(t, "natsbridge.connection.state", states(""))
}

// After Close, collections no longer read the Conn; Close is idempotent.
func TestCloseUnregistersTheInstruments(t *testing.T) {
	srv := runServer(t, -1)
	conn := newConn(t, newBus(t), natsbridge.Config{URL: srv.ClientURL()})
	if err := natsbridge.Forward[Order](conn, "orders"); err != nil {
		t.Fatal(err)
	}
	mp, reader := newProvider(t)
	m, err := natsmetrics.New(conn, natsmetrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, reader)["natsbridge.forwarded.events"]; len(got) != 1 {
		t.Fatalf("before Close: forwarded points %v, want the route's", got)
	}
	for i := range 2 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	for name, points := range collect(t, reader) {
		if len(points) != 0 {
			t.Errorf("after Close, %s reported %v", name, points)
		}
	}
}

func TestNewRefusesANilConn(t *testing.T) {
	m, err := natsmetrics.New(nil)
	if err == nil || !strings.Contains(err.Error(), "*natsbridge.Conn") || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("New(nil) = %v, %v; want an error naming the nil *natsbridge.Conn", m, err)
	}
}

func publish(t testing.TB, nc *nats.Conn, subject string, payload []byte) {
	t.Helper()
	if err := nc.Publish(subject, payload); err != nil {
		t.Fatal(err)
	}
}

// stateIs waits until a collection reports state as the current one.
func stateIs(t testing.TB, reader *sdkmetric.ManualReader, state string) {
	t.Helper()
	eventually(t, "state "+state, func() bool {
		return collect(t, reader)["natsbridge.connection.state"]["natsbridge.connection.state="+state] == 1
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// The Metrics of two Conns on one MeterProvider report under the same
// attributes, which the SDK sums, as the package documentation says: the
// routes alike are summed, and the state counts the Conns in each state.
func TestMetricsOfTwoConnsOnOneProviderAreSummed(t *testing.T) {
	mp, reader := newProvider(t)
	for _, c := range []struct {
		forwarded uint64
		state     string
	}{{3, "connected"}, {4, "reconnecting"}, {5, "connected"}} {
		m, err := natsmetrics.NewFromStats(mp, func() []natsbridge.Stats {
			return []natsbridge.Stats{{Direction: natsbridge.Outbound, Subject: "a", Type: "x.A", Forwarded: c.forwarded}}
		}, func() string { return c.state })
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
	}
	s := collect(t, reader)
	s.want(t, "natsbridge.forwarded.events", map[string]int64{route("a", natsbridge.Outbound, "x.A"): 12})
	want := states("connected")
	want["natsbridge.connection.state=connected"] = 2
	want["natsbridge.connection.state=reconnecting"] = 1
	s.want(t, "natsbridge.connection.state", want)
}
