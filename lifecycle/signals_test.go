package lifecycle_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestSignals(t *testing.T) {
	t.Run("SIGTERM initiates shutdown at once", func(t *testing.T) {
		sigs := make(chanSignal)
		var rt *lifecycle.Runtime
		var bus *fxbus.Bus
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, fx.NopLogger,
			lifecycle.With(lifecycle.WithSignals(sigs)), fx.Populate(&rt, &bus))
		events := subscribe[fxbus.ShutdownInitiatedEvent](t, bus)
		app.RequireStart()
		done := app.Wait()
		sigs <- syscall.SIGTERM
		if ev := next(t, events); ev.Reason != "signal: terminated" || ev.ExitCode != 0 {
			t.Fatalf("ShutdownInitiatedEvent = %+v", ev)
		}
		if sig := waitFor(t, done, "fx's shutdown signal"); sig.ExitCode != 0 {
			t.Fatalf("exit code = %d", sig.ExitCode)
		}
		if !rt.IsShuttingDown() {
			t.Fatal("not shutting down")
		}
		app.RequireStop()
		none(t, events)
	})

	t.Run("a second signal during shutdown forces exit with the configured code", func(t *testing.T) {
		b := newBus(t)
		forcedEv := subscribe[lifecycle.ShutdownForcedEvent](t, b)
		sigs := make(chanSignal)
		exits := make(chan int, 2)
		stopping := make(chan struct{})
		release := make(chan struct{})
		rt := newSignalRuntime(t, b, sigs,
			lifecycle.WithForceExit(func(code int) { exits <- code }),
			lifecycle.WithConfig(lifecycle.Config{ForceExitCode: 9}),
			lifecycle.WithProviders(lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
				Stop: func(context.Context) error { close(stopping); <-release; return nil },
			})),
		)
		startRuntime(t, rt)
		sigs <- syscall.SIGINT
		waitFor(t, rt.Done(), "the shutdown")
		stopped := make(chan error, 1)
		go func() { stopped <- stopRuntime(t, rt) }()
		waitFor(t, stopping, "the provider's stop")
		sigs <- syscall.SIGINT
		if code := waitFor(t, exits, "the forced exit"); code != 9 {
			t.Fatalf("forced exit code = %d, want 9", code)
		}
		if ev := next(t, forcedEv); ev.Signal != syscall.SIGINT || ev.ExitCode != 9 {
			t.Fatalf("ShutdownForced = %+v", ev)
		}
		close(release)
		if err := waitFor(t, stopped, "Stop"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("signals are read only between start and stop", func(t *testing.T) {
		sigs := make(chanSignal, 1)
		rt := newSignalRuntime(t, nil, sigs)
		sigs <- syscall.SIGHUP
		if len(sigs) != 1 {
			t.Fatal("a signal was read before Start")
		}
		<-sigs
		startRuntime(t, rt)
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		sigs <- syscall.SIGTERM
		if len(sigs) != 1 {
			t.Fatal("a signal was read after Stop")
		}
		if !errors.Is(rt.Cause(), lifecycle.ErrShutdown) {
			t.Fatalf("cause = %v", rt.Cause())
		}
	})
}
