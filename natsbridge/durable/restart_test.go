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
