package durable_test

import (
	"bytes"
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
	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func publishOrders(t testing.TB, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	pub, err := durable.NewPublisher[Order](js, subject)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := pub.Publish(ctxWait(t), Order{ID: fmt.Sprintf("o-%d", i), Items: i}); err != nil {
			t.Fatal(err)
		}
	}
}

// seen records what a handler got.
type seen struct {
	mu   sync.Mutex
	evs  []Order
	byID map[string]int
}

func (s *seen) add(o Order) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[string]int{}
	}
	s.evs = append(s.evs, o)
	s.byID[o.ID]++
	return s.byID[o.ID]
}

func (s *seen) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

func (s *seen) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.evs)
}

// Every stored event reaches the handler once, in stream order with one
// handler at a time, and is acknowledged; the server's lag drops to zero.
func TestConsumerHandlesAndAcknowledges(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	publishOrders(t, js, "orders.placed", 50)
	var got seen
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
		func(_ context.Context, o Order) error { got.add(o); return nil })
	eventually(t, "50 events acknowledged", func() bool { return stats(t, c).Acked == 50 })
	for i, o := range got.evs {
		if o.Items != i {
			t.Fatalf("event %d is %+v: out of order", i, o)
		}
	}
	st := stats(t, c)
	if st.Delivered != 50 || st.Redelivered != 0 || st.Pending != 0 || st.AckPending != 0 || st.Retried+st.Terminated+st.DecodeFailures != 0 {
		t.Errorf("stats %+v", st)
	}
}

// An ordinary error gives the message back, delivered again after the
// backoff; a permanent one terminates it: never delivered again, counted.
func TestConsumerRetriesErrorsAndTerminatesPermanentOnes(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	publishOrders(t, js, "orders.placed", 3)
	var got seen
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Backoff: []time.Duration{50 * time.Millisecond}},
		func(_ context.Context, o Order) error {
			n := got.add(o)
			switch {
			case o.ID == "o-1" && n == 1:
				return errors.New("database busy")
			case o.ID == "o-2":
				return durable.Permanent(errors.New("no such customer"))
			}
			return nil
		})
	eventually(t, "o-1 handled again", func() bool { return got.count("o-1") == 2 })
	eventually(t, "settled", func() bool { s := stats(t, c); return s.Acked == 2 && s.Terminated == 1 })
	time.Sleep(200 * time.Millisecond) // four backoffs: a terminated message would be back
	st := stats(t, c)
	if got.count("o-2") != 1 || got.count("o-0") != 1 || st.Retried != 1 || st.Redelivered != 1 || st.Delivered != 4 || st.AckPending != 0 {
		t.Errorf("o-2 handled %d times, o-0 %d; stats %+v", got.count("o-2"), got.count("o-0"), st)
	}
}

// A message that cannot be decoded, or is of another type, is terminated
// and counted, and the consumer goes on with the next.
func TestConsumerTerminatesWhatItCannotDecode(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	ctx := ctxWait(t)
	if _, err := js.Publish(ctx, "orders.placed", []byte(`{"ID":"x","Items":"many"}`)); err != nil {
		t.Fatal(err)
	}
	other, err := durable.NewPublisher[Note](js, "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Publish(ctx, Note{Text: "not an order"}); err != nil {
		t.Fatal(err)
	}
	// A plain client's message without the type header is decoded by the
	// codec alone.
	if _, err := js.Publish(ctx, "orders.placed", []byte(`{"ID":"plain","Items":1}`)); err != nil {
		t.Fatal(err)
	}
	var got seen
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Backoff: []time.Duration{20 * time.Millisecond}},
		func(_ context.Context, o Order) error { got.add(o); return nil })
	eventually(t, "the good one acknowledged", func() bool { return stats(t, c).Acked == 1 })
	time.Sleep(100 * time.Millisecond)
	st := stats(t, c)
	if st.DecodeFailures != 2 || st.Delivered != 3 || st.Redelivered != 0 || st.AckPending != 0 || got.len() != 1 || got.count("plain") != 1 {
		t.Errorf("handled %+v; stats %+v: want 2 decode failures, terminated", got.evs, st)
	}
}

// OrderV2 is Order's next schema.
type OrderV2 Order

func (OrderV2) SchemaVersion() int { return 2 }

// A message of a newer schema than the consumer's is given back, not
// terminated: a process that knows the version gets it.
func TestConsumerGivesBackNewerSchemas(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	// The same Go type name is needed: publish V2 with Order's type header.
	msg := &nats.Msg{Subject: "orders.placed", Data: []byte(`{"ID":"v2","Items":1}`), Header: nats.Header{}}
	msg.Header.Set(durable.HeaderType, "github.com/claviron/fxruntime/natsbridge/durable_test.Order")
	msg.Header.Set(durable.HeaderSchema, "2")
	if _, err := js.PublishMsg(ctxWait(t), msg); err != nil {
		t.Fatal(err)
	}
	var got seen
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Backoff: []time.Duration{30 * time.Millisecond}},
		func(_ context.Context, o Order) error { got.add(o); return nil })
	eventually(t, "given back twice", func() bool { return stats(t, c).NewerSchema >= 2 })
	st := stats(t, c)
	if got.len() != 0 || st.DecodeFailures != 0 || st.Terminated != 0 {
		t.Fatalf("handled %v, stats %+v", got.evs, st)
	}
	// Still the server's to deliver, not terminated.
	if err := c.Stop(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctxWait(t), "ORDERS", "billing")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctxWait(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending+int(info.NumPending) != 1 || info.AckFloor.Stream != 0 {
		t.Errorf("consumer %+v: want the message outstanding", info)
	}
}

// A handler that runs longer than AckWait keeps its message in progress:
// it is not delivered again under it.
func TestConsumerKeepsLongHandlersInProgress(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	publishOrders(t, js, "orders.placed", 1)
	var got seen
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "slow", AckWait: 300 * time.Millisecond, Concurrency: 2},
		func(ctx context.Context, o Order) error {
			got.add(o)
			time.Sleep(time.Second) // more than three AckWaits
			return nil
		})
	eventually(t, "acknowledged", func() bool { return stats(t, c).Acked == 1 })
	if n := got.count("o-0"); n != 1 {
		t.Errorf("handled %d times, want once", n)
	}
	if st := stats(t, c); st.Redelivered != 0 || st.Delivered != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Stop lets the running handler finish and acknowledges it, gives what
// was fetched and not handled back, and another consumer on the same
// durable gets all the rest (messages the server was sending as the
// client stopped come back after AckWait).
func TestConsumerStopFinishesInFlightAndGivesBackTheRest(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	publishOrders(t, js, "orders.placed", 20)
	cfg := durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", AckWait: 2 * time.Second}
	started, release := make(chan struct{}), make(chan struct{})
	var first seen
	c, err := durable.Consume(ctxWait(t), js, cfg, func(ctx context.Context, o Order) error {
		first.add(o)
		if o.ID == "o-0" {
			close(started)
			<-release
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	eventually(t, "more fetched than handled", func() bool { return stats(t, c).Delivered > 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(ctxWait(t)) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	st, _ := c.Stats(ctxWait(t))
	if st.Acked != 1 || st.Returned != st.Delivered-1 || first.len() != 1 {
		t.Fatalf("after stop: handled %d, stats %+v; want o-0 acknowledged, the rest returned", first.len(), st)
	}
	var second seen
	c2 := consume(t, js, cfg, func(_ context.Context, o Order) error { second.add(o); return nil })
	eventually(t, "the other 19 handled", func() bool { return stats(t, c2).Acked == 19 })
	if second.count("o-0") != 0 {
		t.Errorf("o-0, acknowledged at stop, was delivered again")
	}
}

// Stop with a context without a deadline (app.Stop(context.Background())
// under Fx) still confirms the acknowledgments, within AckWait, rather
// than fail because the client's flush insists on a deadline.
func TestConsumerStopWithoutDeadlineConfirmsAcknowledgments(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	publishOrders(t, js, "orders.placed", 3)
	c, err := durable.Consume(ctxWait(t), js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
		func(context.Context, Order) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "3 acknowledged", func() bool { return stats(t, c).Acked == 3 })
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("stop without a deadline: %v", err)
	}
}

// A consumer declared with another configuration than the existing one
// is an error naming the field.
func TestConsumerMismatchNamesTheField(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	h := func(context.Context, Order) error { return nil }
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", AckWait: time.Second}, h)
	_ = c
	_, err := durable.Consume(ctxWait(t), js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", AckWait: 2 * time.Second}, h)
	var me *durable.MismatchError
	if !errors.As(err, &me) || me.Field != "AckWait" {
		t.Errorf("error %v, want a MismatchError naming AckWait", err)
	}
	if _, err := durable.Consume(ctxWait(t), js, durable.ConsumerConfig{Stream: "ORDERS"}, h); err == nil || !strings.Contains(err.Error(), "Durable") {
		t.Errorf("no durable name: %v", err)
	}
}

// Events handled are emitted on the bus after their acknowledgment.
func TestConsumerEmitsHandledEventsOnTheBus(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	sub := fxbus.Subscribe[Order](bus)
	defer sub.Close()
	publishOrders(t, js, "orders.placed", 2)
	consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Bus: bus},
		func(_ context.Context, o Order) error {
			if o.ID == "o-0" {
				return durable.Permanent(errors.New("refused"))
			}
			return nil
		})
	ev, err := sub.Recv(ctxWait(t))
	if err != nil || ev.ID != "o-1" {
		t.Fatalf("bus got %+v, %v; want only o-1, whose handler succeeded", ev, err)
	}
}

// A consumer whose pull request the server does not hold (lost on the
// way, or one the client counted as asked but never sent) asks again once
// the server's heartbeats for it are missing: the stored messages are
// handled within a few seconds, not after the request's 30s expiry.
func TestConsumerAsksAgainWhenTheServerHoldsNoPullRequest(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	publishOrders(t, js, "orders.placed", 5)
	d := &pullDropper{left: 1}
	var got seen
	c := consume(t, connectJS(t, srv.ClientURL(), nats.SetCustomDialer(d)), durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
		func(_ context.Context, o Order) error { got.add(o); return nil })
	eventually(t, "the first pull request dropped", func() bool { return d.count() == 1 })
	eventually(t, "5 events handled after the first pull request was lost", func() bool { return got.len() == 5 })
	if st := stats(t, c); st.Acked != 5 || st.Pending != 0 {
		t.Errorf("stats %+v; want 5 acknowledged, none pending", st)
	}
}

// pullDropper is a nats.CustomDialer whose connections leave out of what
// the client writes the first `left` pull requests of a JetStream
// consumer: the client counts them as asked, the server never sees them.
type pullDropper struct {
	mu      sync.Mutex // guards left and dropped
	left    int
	dropped int
}

func (d *pullDropper) Dial(network, address string) (net.Conn, error) {
	c, err := net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &pullDroppingConn{Conn: c, d: d}, nil
}

func (d *pullDropper) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

type pullDroppingConn struct {
	net.Conn
	d *pullDropper
}

var pullOp = []byte("PUB $JS.API.CONSUMER.MSG.NEXT.")

// Write drops a whole PUB of a pull request (its line, payload and CRLF)
// found in p; the client writes each protocol operation whole.
func (c *pullDroppingConn) Write(p []byte) (int, error) {
	out := p
	c.d.mu.Lock()
	if i := bytes.Index(p, pullOp); c.d.left > 0 && i >= 0 && (i == 0 || p[i-1] == '\n') {
		if n := pubLen(p[i:]); n > 0 {
			out = append(append([]byte{}, p[:i]...), p[i+n:]...)
			c.d.left--
			c.d.dropped++
		}
	}
	c.d.mu.Unlock()
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// pubLen is the length of the PUB operation at the start of b, 0 if b
// does not hold all of it.
func pubLen(b []byte) int {
	line, _, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok {
		return 0
	}
	f := bytes.Fields(line)
	size, err := strconv.Atoi(string(f[len(f)-1]))
	if err != nil || len(line)+2+size+2 > len(b) {
		return 0
	}
	return len(line) + 2 + size + 2
}

// A consumer working through a backlog asks the server for more as it
// goes: it never sits idle, with messages waiting on the server and none
// requested, until the client's missed-heartbeat timer (30 s) notices.
// MaxAckPending 1 makes every message a pull request of its own, so that
// the many requests give the client's request bookkeeping many chances to
// go wrong; the test fails at the first 3 s without progress.
func TestConsumerKeepsPullingThroughABacklog(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	const n = 5000
	pub, err := durable.NewAsyncPublisher[Note](js.Conn(), "orders.note", durable.AsyncConfig[Note]{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := pub.Publish(ctxWait(t), Note{Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "notes", MaxAckPending: 1},
		func(context.Context, Note) error { handled.Add(1); return nil })
	const stall = 3 * time.Second
	last, lastAt := int64(0), time.Now()
	for handled.Load() < n {
		time.Sleep(10 * time.Millisecond)
		if h := handled.Load(); h != last {
			last, lastAt = h, time.Now()
			continue
		}
		if time.Since(lastAt) > stall {
			t.Fatalf("no event handled for %v after %d of %d; stats %+v", stall, last, n, stats(t, c))
		}
	}
	eventually(t, "every event acknowledged", func() bool { return stats(t, c).Acked == n })
}
