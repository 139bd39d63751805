package natsmetrics_test

import (
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/natsmetrics"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Module observes the Conn that natsbridge.Module provides, with the
// MeterProvider of the graph, and keeps its instruments after the stop so
// that a last collection sees the closed connection and the final counts.
func TestModuleObservesTheConnOfTheGraph(t *testing.T) {
	srv := runServer(t, -1)
	mp, reader := newProvider(t)
	var (
		bus  *fxbus.Bus
		conn *natsbridge.Conn
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL()}),
		natsbridge.BridgeOut[Order]("orders"),
		natsmetrics.Module,
		fx.Provide(func() metric.MeterProvider { return mp }),
		fx.Populate(&bus, &conn),
	)
	collect(t, reader).want(t, "natsbridge.connection.state", states("not_started"))
	app.RequireStart()
	collect(t, reader).want(t, "natsbridge.connection.state", states("connected"))

	fxbus.Emit(bus, Order{ID: "1"})
	eventually(t, "the order forwarded", func() bool {
		return statsOf(t, conn, natsbridge.Outbound, "orders").Forwarded == 1
	})
	outOrders := route("orders", natsbridge.Outbound, typeOrder)
	collect(t, reader).want(t, "natsbridge.forwarded.events", map[string]int64{outOrders: 1})

	app.RequireStop()
	s := collect(t, reader)
	s.want(t, "natsbridge.connection.state", states("closed"))
	s.want(t, "natsbridge.forwarded.events", map[string]int64{outOrders: 1})
}

// Without a metric.MeterProvider in the graph, Module uses the global one
// and says so in the bus's log.
func TestModuleUsesTheGlobalMeterProviderWhenTheGraphHasNone(t *testing.T) {
	srv := runServer(t, -1)
	mp, reader := newProvider(t)
	otel.SetMeterProvider(mp)
	defer otel.SetMeterProvider(noop.NewMeterProvider())
	core, logs := observer.New(zapcore.InfoLevel)

	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(zap.New(core)),
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL()}),
		natsmetrics.Module,
	)
	app.RequireStart()
	collect(t, reader).want(t, "natsbridge.connection.state", states("connected"))
	app.RequireStop()

	var said bool
	for _, e := range logs.All() {
		said = said || strings.Contains(e.Message, "natsmetrics: no metric.MeterProvider in the Fx graph")
	}
	if !said {
		t.Errorf("no log line says the global MeterProvider is used; logs: %v", logs.All())
	}
}
