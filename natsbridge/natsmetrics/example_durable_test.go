package natsmetrics_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/claviron/fxruntime/natsbridge/natsmetrics"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The instruments of a durable consumer: three orders handled and
// acknowledged, none left on the server.
func ExampleNewConsumer() {
	dir, err := os.MkdirTemp("", "natsmetrics-example")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
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
	for i := range 3 {
		if _, err := pub.Publish(ctx, OrderPlaced{ID: i}); err != nil {
			panic(err)
		}
	}
	handled := make(chan struct{}, 3)
	cons, err := durable.Consume(ctx, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "shipping"},
		func(context.Context, OrderPlaced) error { handled <- struct{}{}; return nil })
	if err != nil {
		panic(err)
	}
	for range 3 {
		<-handled
	}
	if err := cons.Stop(ctx); err != nil { // the acknowledgments are on the server
		panic(err)
	}

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	if _, err := natsmetrics.NewConsumer(cons, natsmetrics.WithMeterProvider(mp)); err != nil {
		panic(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "natsbridge.durable.acked.messages", "natsbridge.durable.pending.messages", "natsbridge.durable.ack_pending.messages":
			p := m.Data.(metricdata.Sum[int64]).DataPoints[0]
			c, _ := p.Attributes.Value("natsbridge.durable.consumer")
			fmt.Printf("%s{consumer=%s} %d\n", m.Name, c.AsString(), p.Value)
		}
	}
	// Output:
	// natsbridge.durable.acked.messages{consumer=shipping} 3
	// natsbridge.durable.pending.messages{consumer=shipping} 0
	// natsbridge.durable.ack_pending.messages{consumer=shipping} 0
}
