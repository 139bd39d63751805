package natsmetrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/natsmetrics"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

type (
	OrderPlaced  struct{ ID int }
	OrderShipped struct{ ID int }
)

// The instruments of a Conn, served to Prometheus: two orders forwarded,
// one shipment received and one payload that is not a shipment.
func Example() {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		fmt.Println("nats server not ready")
		return
	}

	reg := prometheus.NewRegistry()
	mp, err := newMeterProvider(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mp.Shutdown(context.Background())

	bus, err := fxbus.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	conn, err := natsbridge.New(bus, natsbridge.Config{URL: srv.ClientURL()})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := natsmetrics.New(conn, natsmetrics.WithMeterProvider(mp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	if err := errors.Join(
		natsbridge.Forward[OrderPlaced](conn, "orders.placed"),
		natsbridge.Receive[OrderShipped](conn, "orders.shipped"),
	); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close(ctx)

	fxbus.Emit(bus, OrderPlaced{ID: 1})
	fxbus.Emit(bus, OrderPlaced{ID: 2})
	peer, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer peer.Close()
	// A peer ships order 1, and sends a payload that is not an OrderShipped.
	if err := errors.Join(
		peer.Publish("orders.shipped", []byte(`{"ID":1}`)),
		peer.Publish("orders.shipped", []byte(`{"ID":"two"}`)),
	); err != nil {
		fmt.Println(err)
		return
	}
	waitFor(conn, func(s natsbridge.Stats) uint64 { return s.Forwarded + s.Received + s.DecodeFailures }, 4)

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	// The series that are not zero; the others are there too, at 0.
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "natsbridge_") && !strings.HasSuffix(line, " 0") {
			fmt.Println(line)
		}
	}
	// Output:
	// natsbridge_connection_state{natsbridge_connection_state="connected"} 1
	// natsbridge_decode_failures_total{natsbridge_direction="inbound",natsbridge_event_type="natsmetrics_test.OrderShipped",natsbridge_subject="orders.shipped"} 1
	// natsbridge_forwarded_events_total{natsbridge_direction="outbound",natsbridge_event_type="natsmetrics_test.OrderPlaced",natsbridge_subject="orders.placed"} 2
	// natsbridge_received_events_total{natsbridge_direction="inbound",natsbridge_event_type="natsmetrics_test.OrderShipped",natsbridge_subject="orders.shipped"} 1
}

// newMeterProvider is an SDK MeterProvider read by the Prometheus exporter,
// which registers with reg: promhttp.HandlerFor(reg, ...) serves /metrics.
func newMeterProvider(reg *prometheus.Registry) (*sdkmetric.MeterProvider, error) {
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo(), // shorter lines for the example
	)
	if err != nil {
		return nil, err
	}
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), nil
}

// waitFor waits, up to 10s, until the sum of count over the routes of c
// is n.
func waitFor(c *natsbridge.Conn, count func(natsbridge.Stats) uint64, n uint64) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var got uint64
		for _, s := range c.Stats() {
			got += count(s)
		}
		if got == n {
			return
		}
	}
}
