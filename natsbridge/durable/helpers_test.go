package durable_test

import (
	"context"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// wait bounds every wait of the tests.
const wait = 10 * time.Second

// Order is the test event; it carries its ID.
type Order struct {
	ID    string
	Items int
}

func (o Order) EventID() string { return o.ID }

// Note is a test event without an ID of its own.
type Note struct {
	Text string
}

// runJS starts a NATS server with JetStream on 127.0.0.1, storing in dir
// (a new temporary directory if empty), on port (-1: a random one), and
// shuts it down at the end of the test.
func runJS(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		s.Shutdown()
		t.Fatalf("nats server not ready within %v", wait)
	}
	t.Cleanup(func() { stopServer(s) })
	return s
}

func stopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// connectJS returns a JetStream client on url, closed at the end of the
// test.
func connectJS(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		nc.Close()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("connection not closed")
		}
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctxWait(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// ordersStream is the stream of the tests.
var ordersStream = durable.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: time.Minute}

func ensureOrders(t testing.TB, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	s, err := durable.EnsureStream(ctxWait(t), js, ordersStream)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msgCount(t testing.TB, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(ctxWait(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// consume starts a consumer stopped at the end of the test.
func consume[E any](t testing.TB, js jetstream.JetStream, cfg durable.ConsumerConfig, h durable.Handler[E], opts ...durable.Option[E]) *durable.Consumer[E] {
	t.Helper()
	c, err := durable.Consume(ctxWait(t), js, cfg, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

// eventually polls cond until it holds, failing the test after wait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stats[E any](t testing.TB, c *durable.Consumer[E]) durable.Stats {
	t.Helper()
	s, err := c.Stats(ctxWait(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
