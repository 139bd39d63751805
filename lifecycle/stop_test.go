package lifecycle_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/goleak"
)

// stopProbe is an event type that nobody emits: a reader of it waits for
// the bus to close.
type stopProbe struct{}

// Issue 10, scenario 2.
func TestStopDeadlineClosesBus(t *testing.T) {
	release, releaseNow := releaser(t)
	var sub *fxbus.Subscription[stopProbe]
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		fx.StopTimeout(200*time.Millisecond),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("stuck", lifecycle.Normal, lifecycle.Hooks{
				Stop: func(context.Context) error { <-release; return nil }, // overruns the deadline
			})
		}),
		fx.Invoke(func(b *fxbus.Bus) { sub = fxbus.Subscribe[stopProbe](b) }),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx.New: %v", err)
	}
	t.Cleanup(sub.Close)
	stopLater(t, app)
	sctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(sctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}

	// A reader parked until the bus closes, as the demo's timeline is.
	rctx, rcancel := context.WithCancel(context.Background())
	t.Cleanup(rcancel)
	woke := make(chan error, 1)
	go func() {
		_, err := sub.Recv(rctx)
		woke <- err
	}()

	stopCtx, stopCancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer stopCancel()
	err := app.Stop(stopCtx)
	if err == nil {
		t.Error("app.Stop returned nil, though a provider's Stop overran the deadline")
	}
	select {
	case err := <-woke:
		if !errors.Is(err, fxbus.ErrClosed) {
			t.Fatalf("the parked reader woke with %v, want fxbus.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("a reader still parked in Recv 2s after app.Stop returned (%v): the bus was not closed", err)
	}
	releaseNow()
	goleak.VerifyNone(t)
}

// Issue 10, scenario 3.
func TestHandlersSeeTheRuntimesLastEvents(t *testing.T) {
	var providerStopped, gateDrained, drainCompleted, stopped atomic.Int32
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{
				Stop: func(context.Context) error { return nil },
			})
		}),
		fxbus.Handle(func(_ context.Context, ev lifecycle.ProviderStoppedEvent) error {
			if ev.Name == "db" {
				providerStopped.Add(1)
			}
			return nil
		}),
		fxbus.Handle(func(context.Context, lifecycle.GateDrainedEvent) error {
			gateDrained.Add(1)
			return nil
		}),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			fxbus.Listen(lc, b, func(context.Context, lifecycle.DrainCompletedEvent) error {
				drainCompleted.Add(1)
				return nil
			})
			fxbus.Listen(lc, b, func(context.Context, lifecycle.StoppedEvent) error {
				stopped.Add(1)
				return nil
			})
		}),
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
	for _, h := range []struct {
		event string
		runs  int32
	}{
		{"ProviderStopped{db}", providerStopped.Load()},
		{"GateDrained", gateDrained.Load()},
		{"DrainCompleted", drainCompleted.Load()},
		{"Stopped", stopped.Load()},
	} {
		if h.runs != 1 {
			t.Errorf("handler of %s ran %d times by the time app.Stop returned, want 1", h.event, h.runs)
		}
	}
}
