package lifecycle_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// runtime.Goexit in a user's OnStop hook (t.FailNow in a test helper) must be
// treated like a panic: the other OnStop hooks, the providers' Stop among
// them, still run.
func TestGoexitInOnStopStillStopsProviders(t *testing.T) {
	var stops, panicStops atomic.Int32
	for _, tc := range []struct {
		name string
		hook func(context.Context) error
		n    *atomic.Int32
	}{
		{"panic", func(context.Context) error { panic("boom") }, &panicStops},
		{"goexit", func(context.Context) error { runtime.Goexit(); return nil }, &stops},
	} {
		var bus *fxbus.Bus
		app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{
					Stop: func(context.Context) error { tc.n.Add(1); return nil },
				})
			}),
			fx.Populate(&bus),
			fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) { lc.Append(fx.StopHook(tc.hook)) }),
		)
		stoppedEv := fxbus.Subscribe[lifecycle.StoppedEvent](bus)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		err := app.Stop(ctx)
		cancel()
		time.Sleep(200 * time.Millisecond)
		ev, _ := stoppedEv.TryRecv()
		t.Logf("%s: app.Stop = %v; provider Stop ran %d times; StoppedEvent.Err = %v", tc.name, err, tc.n.Load(), ev.Err)
	}
	if stops.Load() != 1 {
		t.Errorf("Goexit in an OnStop hook: provider db's Stop ran %d times, want 1 (as with a panic: %d)", stops.Load(), panicStops.Load())
	}
}
