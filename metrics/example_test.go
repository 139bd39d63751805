package metrics_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/fx"
)

type OrderPlaced struct{ ID int }

// newMeterProvider is an SDK MeterProvider whose instruments the Prometheus
// handler of reg serves.
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

// printSeries prints the series of the exposition that start with prefix.
func printSeries(reg *prometheus.Registry, prefix string) {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, prefix) {
			fmt.Println(line)
		}
	}
}

// Module takes the MeterProvider from the graph, provided as a
// metric.MeterProvider.
func Example_module() {
	reg := prometheus.NewRegistry()
	var bus *fxbus.Bus
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		metrics.Module,
		fx.Supply(reg),
		fx.Provide(func(lc fx.Lifecycle, reg *prometheus.Registry) (metric.MeterProvider, error) {
			mp, err := newMeterProvider(reg)
			if err != nil {
				return nil, err
			}
			lc.Append(fx.StopHook(mp.Shutdown))
			return mp, nil
		}),
		fxbus.Handle(func(context.Context, OrderPlaced) error { return nil }),
		fx.Populate(&bus),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fxbus.Emit(bus, OrderPlaced{ID: 1})
	fxbus.Emit(bus, OrderPlaced{ID: 2})

	printSeries(reg, `fxbus_emitted_events_total{fxbus_event_type="github.com/claviron/fxruntime/metrics_test.OrderPlaced"}`)
	printSeries(reg, "fxruntime_state{")
	if err := app.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// fxbus_emitted_events_total{fxbus_event_type="github.com/claviron/fxruntime/metrics_test.OrderPlaced"} 2
	// fxruntime_state{fxruntime_state="booting"} 0
	// fxruntime_state{fxruntime_state="reloading"} 0
	// fxruntime_state{fxruntime_state="running"} 1
	// fxruntime_state{fxruntime_state="shutting_down"} 0
	// fxruntime_state{fxruntime_state="stopped"} 0
}

// New observes a bus, and a runtime unless it is nil, without Fx.
func ExampleNew() {
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
	m, err := metrics.New(bus, nil, metrics.WithMeterProvider(mp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	sub := fxbus.Subscribe[OrderPlaced](bus)
	fxbus.Emit(bus, OrderPlaced{ID: 1})
	sub.Close()
	fxbus.Emit(bus, OrderPlaced{ID: 2}) // nobody listens any more

	printSeries(reg, "fxbus_")
	// Output:
	// fxbus_dropped_events_total{fxbus_event_type="github.com/claviron/fxruntime/metrics_test.OrderPlaced"} 1
	// fxbus_emitted_events_total{fxbus_event_type="github.com/claviron/fxruntime/metrics_test.OrderPlaced"} 1
	// fxbus_missed_events_total{fxbus_event_type="github.com/claviron/fxruntime/metrics_test.OrderPlaced"} 0
	// fxbus_subscription_count{fxbus_event_type="github.com/claviron/fxruntime/metrics_test.OrderPlaced"} 0
}
