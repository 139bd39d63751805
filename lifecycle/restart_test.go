package lifecycle_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// An application started, stopped and started again runs afresh each
// time, as under plain Fx.
func TestAppRestartsAsUnderPlainFx(t *testing.T) {
	t.Run("start, stop, start, stop: a fresh run each time", func(t *testing.T) {
		var boots, stops, runs atomic.Int32
		taskRan := make(chan struct{}, 2)
		var rt *lifecycle.Runtime
		var bus *fxbus.Bus
		app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("counted", lifecycle.Normal, lifecycle.Hooks{
					Boot: func(context.Context) error { boots.Add(1); return nil },
					Stop: func(context.Context) error { stops.Add(1); return nil },
				})
			}),
			lifecycle.AsTask(func() lifecycle.Task {
				return lifecycle.Task{Name: "counted", Run: func(ctx context.Context) error {
					runs.Add(1)
					taskRan <- struct{}{}
					<-ctx.Done()
					return nil
				}}
			}),
			fx.Populate(&rt, &bus))
		if err := app.Err(); err != nil {
			t.Fatalf("fx.New: %v", err)
		}
		stopLater(t, app)

		var firstToken context.Context
		for run := 1; run <= 2; run++ {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := app.Start(ctx); err != nil {
				t.Fatalf("run %d: app.Start: %v", run, err)
			}
			events := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus)
			waitFor(t, taskRan, fmt.Sprintf("run %d's task", run))
			token := rt.Context()
			if err := token.Err(); err != nil {
				t.Fatalf("run %d: the runtime's token is already done: %v", run, context.Cause(token))
			}
			if run == 2 && token == firstToken {
				t.Fatal("run 2 has run 1's token")
			}
			firstToken = token
			if err := app.Stop(ctx); err != nil {
				t.Fatalf("run %d: app.Stop: %v", run, err)
			}
			if token.Err() == nil {
				t.Errorf("run %d: token not cancelled by app.Stop", run)
			}
			if evs := ftDrain(t, events); len(evs) != 1 {
				t.Errorf("run %d: %d ShutdownInitiatedEvent events, want 1: %+v", run, len(evs), evs)
			}
			events.Close()
		}
		if b, s, r := boots.Load(), stops.Load(), runs.Load(); b != 2 || s != 2 || r != 2 {
			t.Fatalf("over two runs: %d boots, %d stops, %d task runs; want 2 of each", b, s, r)
		}
	})

	t.Run("ten restarts with exit codes through fx.Shutdowner", func(t *testing.T) {
		var sd fx.Shutdowner
		app := fx.New(quiet(), fxbus.Module, lifecycle.Module, fx.Populate(&sd))
		if err := app.Err(); err != nil {
			t.Fatalf("fx.New: %v", err)
		}
		stopLater(t, app)
		for i := range 10 {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := app.Start(ctx); err != nil {
				t.Fatalf("start %d: %v", i, err)
			}
			// From the second run on, Fx's Shutdown reports the Wait
			// channel of an earlier run as blocked, in plain Fx as well;
			// Fx's own restart test ignores that error, and so does this
			// one: the exit code below is what matters.
			_ = sd.Shutdown(fx.ExitCode(i))
			select {
			case sig := <-app.Wait():
				if sig.ExitCode != i {
					t.Fatalf("run %d: exit code %d, want %d", i, sig.ExitCode, i)
				}
			case <-time.After(wait):
				t.Fatalf("run %d: no shutdown signal within %v", i, wait)
			}
			if err := app.Stop(ctx); err != nil {
				t.Fatalf("stop %d: %v", i, err)
			}
		}
	})
}
