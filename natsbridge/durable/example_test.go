package durable_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
)

// exampleServer starts a NATS server with JetStream on loopback, storing
// in a temporary directory; stop shuts it down and removes the directory.
func exampleServer() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "durable-example")
	if err != nil {
		panic(err)
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir})
	if err != nil {
		panic(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		panic("nats server not ready")
	}
	return s.ClientURL(), func() { s.Shutdown(); s.WaitForShutdown(); _ = os.RemoveAll(dir) }
}

// OrderPlaced carries its ID, so a publish retried with it is stored once.
type OrderPlaced struct {
	ID    string
	Total int
}

func (o OrderPlaced) EventID() string { return o.ID }

// Publish events, one of them twice, and handle each stored event once
// with a durable consumer.
func Example() {
	url, stopServer := exampleServer()
	defer stopServer()
	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := durable.EnsureStream(ctx, js, durable.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		panic(err)
	}
	pub, err := durable.NewPublisher[OrderPlaced](js, "orders.placed")
	if err != nil {
		panic(err)
	}
	for _, o := range []OrderPlaced{{"A-1", 30}, {"A-2", 12}, {"A-1", 30}} {
		ack, err := pub.Publish(ctx, o) // returns once stored
		if err != nil {
			panic(err)
		}
		fmt.Printf("published %s: stream sequence %d, duplicate %v\n", o.ID, ack.Sequence, ack.Duplicate)
	}

	handled := make(chan OrderPlaced)
	c, err := durable.Consume(ctx, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
		func(_ context.Context, o OrderPlaced) error {
			handled <- o
			return nil // acknowledged
		})
	if err != nil {
		panic(err)
	}
	for range 2 {
		o := <-handled
		fmt.Printf("billed %s: %d\n", o.ID, o.Total)
	}
	if err := c.Stop(ctx); err != nil {
		panic(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("delivered %d, acknowledged %d, pending %d\n", st.Delivered, st.Acked, st.Pending)
	// Output:
	// published A-1: stream sequence 1, duplicate false
	// published A-2: stream sequence 2, duplicate false
	// published A-1: stream sequence 1, duplicate true
	// billed A-1: 30
	// billed A-2: 12
	// delivered 2, acknowledged 2, pending 0
}

// Under Fx, an async publisher's events are flushed when the application
// stops, after the shutdown is announced and before the connection
// closes.
func ExampleProvideAsyncPublisher() {
	url, stopServer := exampleServer()
	defer stopServer()

	var pub *durable.AsyncPublisher[OrderPlaced]
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		durable.Module,
		fx.Supply(natsbridge.Config{URL: url, Name: "shop"}),
		durable.Stream(durable.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}),
		durable.ProvideAsyncPublisher("orders.placed", durable.AsyncConfig[OrderPlaced]{
			MaxPending: 64,
			OnError: func(o OrderPlaced, err *durable.PublishError) {
				fmt.Println("not stored:", o.ID, err)
			},
		}),
		fx.Populate(&pub),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	for i := range 500 {
		if err := pub.Publish(ctx, OrderPlaced{ID: fmt.Sprintf("B-%d", i), Total: i}); err != nil {
			panic(err)
		}
	}
	if err := app.Stop(ctx); err != nil { // waits for every acknowledgment
		panic(err)
	}
	st := pub.Stats()
	fmt.Printf("published %d, stored %d, failed %d\n", st.Published, st.Stored, st.Failed)
	err := pub.Publish(ctx, OrderPlaced{ID: "B-late"})
	fmt.Println("after the stop:", errors.Is(err, durable.ErrStopped))
	// Output:
	// published 500, stored 500, failed 0
	// after the stop: true
}
