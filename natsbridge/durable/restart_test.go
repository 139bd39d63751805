package durable_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go"
)

// The server is shut down mid-stream and restarted on the same store:
// every publish during the outage returns an error (none hangs past its
// context, none reports success falsely), no event stored before is lost,
// and the events that failed, published again with the same IDs, are
// stored once each.
func TestServerRestartOnSameStore(t *testing.T) {
	dir := t.TempDir()
	srv := runJS(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	js := connectJS(t, srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	stream := ensureOrders(t, js)
	pub, err := durable.NewPublisher[Order](js, "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	var failed []int
	publish := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := pub.Publish(ctx, Order{ID: fmt.Sprintf("o-%d", i), Items: i})
		return err
	}
	for i := range n {
		switch i {
		case 100:
			stopServer(srv)
		case 110:
			srv = runJS(t, dir, port)
		}
		if err := publish(i); err != nil {
			if i < 100 {
				t.Fatalf("publish %d with the server up: %v", i, err)
			}
			failed = append(failed, i)
		}
	}
	if len(failed) < 5 {
		t.Errorf("only %d publishes failed during the outage: %v", len(failed), failed)
	}
	t.Logf("%d publishes failed during the outage", len(failed))
	for _, i := range failed {
		deadline := time.Now().Add(wait)
		for publish(i) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("publish %d again: no success within %v", i, wait)
			}
		}
	}
	eventually(t, "stream readable", func() bool {
		info, err := stream.Info(context.Background())
		return err == nil && info.State.Msgs == n
	})
	var got seen
	c := consume(t, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "audit"},
		func(_ context.Context, o Order) error { got.add(o); return nil })
	eventually(t, "every event consumed", func() bool { return stats(t, c).Acked == n })
	for i := range n {
		if got.count(fmt.Sprintf("o-%d", i)) != 1 {
			t.Errorf("o-%d handled %d times", i, got.count(fmt.Sprintf("o-%d", i)))
		}
	}
}

// A consumer keeps running while the server is shut down mid-stream and
// restarted on the same store and port: it carries on by itself, every
// event stored before and published after the restart is handled at
// least once, and the events handled twice are at most MaxAckPending (the
// most the server can have delivered and not yet seen acknowledged when
// it stopped). After the reconnection nats.go's pull iterator may ask for
// a batch twice and drop what overflows its buffer (logged by the client
// as a slow consumer); the server delivers those again after AckWait, so
// the test allows AckWait for them.
func TestConsumerAcrossServerRestartOnSameStore(t *testing.T) {
	dir := t.TempDir()
	srv := runJS(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	js := connectJS(t, srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	stream := ensureOrders(t, js)
	const before, after, maxAckPending, ackWait = 1000, 300, 50, 2 * time.Second
	publishOrders(t, js, "orders.placed", before)

	var got seen
	c := consume(t, js, durable.ConsumerConfig{
		Stream: "ORDERS", Durable: "shipping", MaxAckPending: maxAckPending, AckWait: ackWait,
	},
		func(_ context.Context, o Order) error {
			got.add(o)
			time.Sleep(time.Millisecond) // so that the restart comes mid-stream
			return nil
		})
	eventually(t, "a third of the events handled", func() bool { return got.len() >= before/3 })
	stopServer(srv)
	handledAtStop := got.len()
	time.Sleep(100 * time.Millisecond)
	runJS(t, dir, port) // stopped at the end of the test
	if handledAtStop >= before {
		t.Fatalf("all %d events handled before the server stopped: the restart was not mid-stream", handledAtStop)
	}

	pub, err := durable.NewPublisher[Order](js, "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	for i := before; i < before+after; i++ {
		deadline := time.Now().Add(wait)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err := pub.Publish(ctx, Order{ID: fmt.Sprintf("o-%d", i), Items: i})
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d after the restart: %v", i, err)
			}
		}
	}
	const total = before + after
	if n := msgCount(t, stream); n != total {
		t.Fatalf("stream holds %d events, want %d", n, total)
	}
	missing := func() []string {
		var m []string
		for i := range total {
			if id := fmt.Sprintf("o-%d", i); got.count(id) == 0 {
				m = append(m, id)
			}
		}
		return m
	}
	deadline := time.Now().Add(wait + ackWait)
	for len(missing()) > 0 {
		if time.Now().After(deadline) {
			m := missing()
			t.Fatalf("%d events never handled within %v of the restart (first %s); handled %d at the stop; stats %+v",
				len(m), wait+ackWait, m[0], handledAtStop, stats(t, c))
		}
		time.Sleep(10 * time.Millisecond)
	}
	eventually(t, "nothing left pending on the server", func() bool { // the last acknowledgments may still be on their way
		st, err := c.Stats(context.Background())
		return err == nil && st.Pending == 0 && st.AckPending == 0
	})
	dups := got.len() - total
	st := stats(t, c)
	t.Logf("server stopped after %d handled; %d handled twice; stats %+v", handledAtStop, dups, st)
	if dups > maxAckPending {
		t.Errorf("%d events handled twice, more than MaxAckPending (%d)", dups, maxAckPending)
	}
	if st.Acked < total {
		t.Errorf("%d acknowledged, want at least %d", st.Acked, total)
	}
	// Stopped here, while the restarted server runs (its cleanup comes
	// before the helper's).
	if err := c.Stop(ctxWait(t)); err != nil {
		t.Errorf("stop: %v", err)
	}
}
