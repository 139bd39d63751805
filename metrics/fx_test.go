package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/metrics"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestModuleWithoutRuntimeObservesTheBus(t *testing.T) {
	mp, reader := newProvider(t)
	var bus *fxbus.Bus
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		metrics.Module,
		fx.Provide(func() metric.MeterProvider { return mp }),
		fx.Populate(&bus),
	)
	app.RequireStart()
	defer app.RequireStop()

	s := fxbus.Subscribe[evA](bus)
	defer s.Close()
	fxbus.Emit(bus, evA{1})
	snap := collect(t, reader)
	typeA := "fxbus.event.type=" + typeName[evA](bus)
	snap.want(t, "fxbus.emitted.events", map[string]float64{typeA: 1})
	snap.want(t, "fxbus.subscription.count", map[string]float64{typeA: 1})
	for name := range snap {
		if strings.HasPrefix(name, "fxruntime.") {
			t.Errorf("without a runtime, %s was reported", name)
		}
	}
}

func TestModuleUsesTheGlobalMeterProviderWhenTheGraphHasNone(t *testing.T) {
	mp, reader := newProvider(t)
	otel.SetMeterProvider(mp)
	defer otel.SetMeterProvider(noop.NewMeterProvider())

	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		metrics.Module,
	)
	app.RequireStart()
	collect(t, reader).want(t, "fxruntime.state", map[string]float64{
		"fxruntime.state=booting": 0, "fxruntime.state=running": 1, "fxruntime.state=reloading": 0,
		"fxruntime.state=shutting_down": 0, "fxruntime.state=stopped": 0,
	})
	app.RequireStop()
}

// An application started again counts on: the handler of the runtime's
// events subscribes anew for each run, and records each event once.
func TestModuleCountsEveryRunOfAnApplicationStartedAgain(t *testing.T) {
	mp, reader := newProvider(t)
	// The events as a handler of the test's own sees them, to tell what a
	// failure lost.
	var mu sync.Mutex
	var seen []string
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		metrics.Module,
		fx.Provide(func() metric.MeterProvider { return mp }),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{Name: "worker", Run: func(ctx context.Context) error {
				<-ctx.Done()
				return nil
			}}
		}),
		fxbus.Handle(func(_ context.Context, ev lifecycle.Event) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%T", ev))
			return nil
		}),
	)
	for run := range 2 {
		app.RequireStart()
		app.RequireStop() // the handlers have handled every event when it returns
		mu.Lock()
		seen = append(seen, fmt.Sprintf("(end of run %d)", run+1))
		mu.Unlock()
	}
	s := collect(t, reader)
	s.want(t, "fxruntime.task.starts", map[string]float64{"fxruntime.task.name=worker": 2})
	s.want(t, "fxruntime.drain.duration", map[string]float64{
		"fxruntime.drain.outcome=drained,fxruntime.drain.step=gate":  2,
		"fxruntime.drain.outcome=drained,fxruntime.drain.step=tasks": 2,
	})
	if t.Failed() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("events seen by another handler of lifecycle.Event: %v", seen)
	}
}

// A MeterProvider given to the graph as its concrete type is not the
// metric.MeterProvider the module asks for: the module says it uses the
// global one.
func TestModuleLogsItsFallbackToTheGlobalMeterProvider(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	mp, _ := newProvider(t)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(zap.New(core)),
		fxbus.Module,
		metrics.Module,
		fx.Supply(mp), // *sdkmetric.MeterProvider, not metric.MeterProvider
	)
	app.RequireStart().RequireStop()
	if n := logs.FilterMessageSnippet("using the global one").Len(); n != 1 {
		t.Fatalf("%d entries about the global MeterProvider, want 1: %v", n, logs.All())
	}
}
