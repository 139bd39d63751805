package natsmetrics

import (
	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"
)

// Module creates the instruments of the application's *natsbridge.Conn
// (the one natsbridge.Module provides), with the metric.MeterProvider found
// in the graph or else the global one:
//
//	fx.New(
//		fxbus.Module,
//		natsbridge.Module,
//		natsmetrics.Module,
//		fx.Supply(natsbridge.Config{URL: url}),
//		fx.Provide(fx.Annotate(newMeterProvider, fx.As(new(metric.MeterProvider)))),
//	)
//
// It logs, with the bus's logger, when it falls back to the global one: an
// *sdkmetric.MeterProvider provided as such is not a metric.MeterProvider to
// Fx.
//
// The instruments stay registered after the application stops, so that the
// last collection (a final scrape, the export at the MeterProvider's
// shutdown) sees the closed connection and the final counts; give the
// application a MeterProvider of its own, shut down with it, rather than
// the global one if it builds many applications (tests do).
var Module fx.Option = fx.Module("fxruntime.natsmetrics",
	fx.Invoke(register),
)

type params struct {
	fx.In

	Conn          *natsbridge.Conn
	Bus           *fxbus.Bus           `optional:"true"` // for its logger
	MeterProvider metric.MeterProvider `optional:"true"`
}

func register(p params) error {
	if p.MeterProvider == nil && p.Bus != nil {
		p.Bus.Logger().Info("natsmetrics: no metric.MeterProvider in the Fx graph, using the global one " +
			"(provide yours with fx.As(new(metric.MeterProvider)))")
	}
	_, err := build(p.MeterProvider, p.Conn.Stats, func() string { return stateOf(p.Conn.NATS()) })
	return err
}
