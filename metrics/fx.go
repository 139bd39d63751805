package metrics

import (
	"context"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"
)

// Module creates the instruments of the application's *fxbus.Bus and, when
// the graph has one, of its *lifecycle.Runtime, with the
// metric.MeterProvider found in the graph or else the global one:
//
//	fx.New(
//		fxbus.Module,
//		lifecycle.Module,
//		metrics.Module,
//		fx.Provide(fx.Annotate(newMeterProvider, fx.As(new(metric.MeterProvider)))),
//	)
//
// It logs, with the bus's logger, when it falls back to the global one: an
// *sdkmetric.MeterProvider provided as such is not a metric.MeterProvider
// to Fx.
//
// The runtime's events are recorded by a handler run with [fxbus.Listen],
// which sees every event of a run, the last ones of the stop included.
// The instruments stay registered after the application stops, so that the
// last collection (a final scrape, the export at the MeterProvider's
// shutdown) sees the stopped runtime and the bus's final counts; give the
// application a MeterProvider of its own, shut down with it, rather than the
// global one if it builds many applications (tests do).
//
// A push exporter sends at the MeterProvider's shutdown what was recorded
// by then: events that the handler records after that hook ran (the stop's
// drain, if the provider stops first) are not exported.
var Module fx.Option = fx.Module("fxruntime.metrics",
	fx.Invoke(register),
)

type params struct {
	fx.In

	Lifecycle     fx.Lifecycle
	Bus           *fxbus.Bus
	Runtime       *lifecycle.Runtime   `optional:"true"`
	MeterProvider metric.MeterProvider `optional:"true"`
}

func register(p params) error {
	if p.MeterProvider == nil {
		// A provider given to the graph as its concrete type (an
		// *sdkmetric.MeterProvider) is not a metric.MeterProvider to Fx:
		// say which one is used.
		p.Bus.Logger().Info("metrics: no metric.MeterProvider in the Fx graph, using the global one " +
			"(provide yours with fx.As(new(metric.MeterProvider)))")
	}
	m, err := build(p.MeterProvider, p.Bus, p.Runtime)
	if err != nil {
		return err
	}
	if m.rt != nil {
		fxbus.Listen(p.Lifecycle, p.Bus, func(ctx context.Context, ev lifecycle.Event) error {
			m.rt.record(ctx, ev)
			return nil
		})
	}
	return nil
}
