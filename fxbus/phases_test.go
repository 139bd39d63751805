package fxbus_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/claviron/fxruntime/fxbus"
)

// trace records the order of hooks and callbacks.
type trace struct {
	mu    sync.Mutex
	steps []string
}

func (tr *trace) add(s string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.steps = append(tr.steps, s)
}

func (tr *trace) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.steps...)
}

func equalSteps(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppPhases(t *testing.T) {
	for _, order := range []string{"components first", "fxbus first"} {
		t.Run(order, func(t *testing.T) {
			tr := &trace{}
			components := fx.Options(
				fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus) {
					if !bus.OnAppStarted(func() { tr.add("app started") }) {
						t.Error("OnAppStarted = false on the module's bus")
					}
					bus.OnShutdown(func(ev fxbus.ShutdownInitiated) { tr.add("shutdown: " + ev.Reason) })
					lc.Append(fx.Hook{
						OnStart: func(context.Context) error { tr.add("start a"); return nil },
						OnStop:  func(context.Context) error { tr.add("stop a"); return nil },
					})
				}),
				fx.Invoke(func(lc fx.Lifecycle) {
					lc.Append(fx.StartHook(func() {
						tr.add("start b")
						// Appended while starting: fx never runs it, so
						// it must not hold back "app started".
						lc.Append(fx.StartHook(func() { tr.add("never") }))
					}))
					lc.Append(fx.StopHook(func() { tr.add("stop c") }))
				}),
			)
			opts := []fx.Option{fx.NopLogger, components, fxbus.Module}
			if order == "fxbus first" {
				opts = []fx.Option{fx.NopLogger, fxbus.Module, components}
			}
			app := fxtest.New(t, opts...)
			app.RequireStart()
			tr.add("Start returned")
			app.RequireStop()
			want := []string{
				"start a", "start b", "app started", "Start returned",
				"shutdown: fx: application stopping", "stop c", "stop a",
			}
			if got := tr.get(); !equalSteps(got, want) {
				t.Fatalf("steps:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestAppStartedNoHooks(t *testing.T) {
	started := make(chan struct{})
	app := fxtest.New(t, fx.NopLogger, fxbus.Module,
		fx.Invoke(func(bus *fxbus.Bus) { bus.OnAppStarted(func() { close(started) }) }))
	app.RequireStart()
	select {
	case <-started:
	default:
		t.Fatal("OnAppStarted not called for an app with no other hook")
	}
	app.RequireStop()
}

func TestAppStartedNotOnFailure(t *testing.T) {
	called := false
	app := fx.New(fx.NopLogger, fxbus.Module,
		fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus) {
			bus.OnAppStarted(func() { called = true })
			lc.Append(fx.StartHook(func() error { return errors.New("boom") }))
		}))
	if err := app.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded")
	}
	if called {
		t.Fatal("OnAppStarted called although a hook failed")
	}
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPhasesWithoutModule(t *testing.T) {
	b := newTestBus(t)
	if b.OnAppStarted(func() {}) {
		t.Fatal("OnAppStarted = true on a bus built by New")
	}
	var got []string
	b.OnShutdown(nil) // ignored
	b.OnShutdown(func(ev fxbus.ShutdownInitiated) { got = append(got, ev.Reason) })
	if b.ShutdownAnnounced() {
		t.Fatal("announced before any announcement")
	}
	removed := false
	remove := b.OnShutdown(func(fxbus.ShutdownInitiated) { removed = true })
	remove()
	remove() // idempotent
	b.AnnounceShutdown(fxbus.ShutdownInitiated{Reason: "one"})
	b.AnnounceShutdown(fxbus.ShutdownInitiated{Reason: "two"})
	if !b.ShutdownAnnounced() || len(got) != 1 || got[0] != "one" {
		t.Fatalf("OnShutdown saw %q, want [one]", got)
	}
	if removed {
		t.Fatal("a removed OnShutdown callback ran")
	}
}
