package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/goleak"
)

// stopProbe is an event type that nobody emits: a recorder of it waits
// for the bus to close.
type stopProbe struct{}

// When a stop passes its deadline, the bus closes and every parked
// reader wakes with ErrClosed.
func TestStopDeadlineClosesBus(t *testing.T) {
	release, releaseNow := releaser(t)
	var probe *fxbustest.Recorder[stopProbe]
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		fx.StopTimeout(200*time.Millisecond),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("stuck", lifecycle.Normal, lifecycle.Hooks{
				Stop: func(context.Context) error { <-release; return nil }, // overruns the deadline
			})
		}),
		// Its goroutine is a reader parked until the bus closes, as the
		// demo's timeline is.
		fxbustest.Provide[stopProbe](t), fx.Populate(&probe),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx.New: %v", err)
	}
	stopLater(t, app)
	sctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(sctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}

	stopCtx, stopCancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer stopCancel()
	if err := app.Stop(stopCtx); err == nil {
		t.Error("app.Stop returned nil, though a provider's Stop overran the deadline")
	}
	probe.WaitClosed(t, 2*time.Second)
	releaseNow()
	goleak.VerifyNone(t)
}

func nop[E any](context.Context, E) error { return nil }

// Handlers see the runtime's last events: a handler runs until the bus
// closes, after every other OnStop hook.
func TestHandlersSeeTheRuntimesLastEvents(t *testing.T) {
	var (
		providerStopped *fxbustest.Handler[lifecycle.ProviderStoppedEvent]
		gateDrained     *fxbustest.Handler[lifecycle.GateDrainedEvent]
		drainCompleted  *fxbustest.Handler[lifecycle.DrainCompletedEvent]
		stopped         *fxbustest.Handler[lifecycle.StoppedEvent]
	)
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{
				Stop: func(context.Context) error { return nil },
			})
		}),
		fxbustest.Handle(nop[lifecycle.ProviderStoppedEvent]),
		fxbustest.Handle(nop[lifecycle.GateDrainedEvent]),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			drainCompleted = fxbustest.Listen(lc, b, nop[lifecycle.DrainCompletedEvent])
			stopped = fxbustest.Listen(lc, b, nop[lifecycle.StoppedEvent])
		}),
		fx.Populate(&providerStopped, &gateDrained),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx.New: %v", err)
	}
	stopLater(t, app)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Errorf("app.Stop: %v", err)
	}
	// Counted once app.Stop has returned: every handler has run by then.
	for event, runs := range map[string]uint64{
		"ProviderStopped{db}": providerStopped.Handled(),
		"GateDrained":         gateDrained.Handled(),
		"DrainCompleted":      drainCompleted.Handled(),
		"Stopped":             stopped.Handled(),
	} {
		if runs != 1 {
			t.Errorf("handler of %s ran %d times by the time app.Stop returned, want 1", event, runs)
		}
	}
}
