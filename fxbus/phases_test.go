package fxbus_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
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
					if !runhooks.Of(bus).OnAppStarted(func() { tr.add("app started") }) {
						t.Error("OnAppStarted = false on the module's bus")
					}
					runhooks.Of(bus).OnShutdown(func(reason string, _ error, _ int) {
						ev := fxbus.ShutdownInitiatedEvent{Reason: reason}
						tr.add("shutdown: " + ev.Reason)
					})
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
		fx.Invoke(func(bus *fxbus.Bus) { runhooks.Of(bus).OnAppStarted(func() { close(started) }) }))
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
			runhooks.Of(bus).OnAppStarted(func() { called = true })
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
	if runhooks.Of(b).OnAppStarted(func() {}) {
		t.Fatal("OnAppStarted = true on a bus built by New")
	}
	var got []string
	runhooks.Of(b).OnShutdown(nil) // ignored
	runhooks.Of(b).OnShutdown(func(reason string, _ error, _ int) { got = append(got, reason) })
	if runhooks.Of(b).ShutdownAnnounced() {
		t.Fatal("announced before any announcement")
	}
	removed := false
	remove := runhooks.Of(b).OnShutdown(func(string, error, int) { removed = true })
	remove()
	remove() // idempotent
	runhooks.Of(b).AnnounceShutdown("one", nil, 0)
	runhooks.Of(b).AnnounceShutdown("two", nil, 0)
	if !runhooks.Of(b).ShutdownAnnounced() || len(got) != 1 || got[0] != "one" {
		t.Fatalf("OnShutdown saw %q, want [one]", got)
	}
	if removed {
		t.Fatal("a removed OnShutdown callback ran")
	}
}

// TestStopWaitsForConcurrentAnnouncement: a shutdown announced by another
// goroutine (lifecycle's InitiateShutdown from a failing task) may still be
// running its OnShutdown callbacks when Fx begins to stop; no OnStop hook
// may run before they have returned.
func TestStopWaitsForConcurrentAnnouncement(t *testing.T) {
	var bus *fxbus.Bus
	var cbDone atomic.Bool
	entered := make(chan struct{})
	release := make(chan struct{})
	var sawIncomplete atomic.Bool
	app := fx.New(fx.NopLogger, fxbus.Module,
		fx.Populate(&bus),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			runhooks.Of(b).OnShutdown(func(string, error, int) {
				close(entered)
				<-release // a callback that is merely slow (e.g. a NATS publish)
				cbDone.Store(true)
			})
			lc.Append(fx.StopHook(func() {
				if !cbDone.Load() {
					sawIncomplete.Store(true)
				}
			}))
		}),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A concurrent shutdown source (lifecycle.InitiateShutdown, a task failure).
	winner := make(chan struct{})
	go func() { runhooks.Of(bus).AnnounceShutdown("task failed", nil, 0); close(winner) }()
	<-entered
	// Meanwhile, a signal makes Fx stop the app.
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(context.Background()) }()
	// Give a wrong implementation time to run the OnStop hooks now; a
	// right one cannot fail whatever the timing.
	time.Sleep(50 * time.Millisecond)
	close(release)
	<-winner
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if sawIncomplete.Load() {
		t.Fatal("an OnStop hook ran before the concurrent ShutdownInitiatedEvent announcement (its OnShutdown callbacks) had completed")
	}
}

func TestRunEndRunsOncePerStopAfterTheAnnouncement(t *testing.T) {
	var bus *fxbus.Bus
	var calls []bool // startFailed of each call
	app := fx.New(fx.NopLogger, fxbus.Module, fx.Populate(&bus),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			runhooks.Of(b).OnRunEnd(func(startFailed bool) {
				calls = append(calls, startFailed)
				if !runhooks.Of(b).ShutdownAnnounced() {
					t.Error("OnRunEnd ran before the shutdown was announced")
				}
			})
			for range 3 {
				lc.Append(fx.StopHook(func() {}))
			}
		}))
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Registered once the app is up: runs at once.
	late := false
	if !runhooks.Of(bus).OnAppStarted(func() { late = true }) || !late {
		t.Fatal("OnAppStarted registered after start did not run at once")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] {
		t.Fatalf("OnRunEnd calls (startFailed) = %v, want one call with false", calls)
	}
	if b := newTestBus(t); runhooks.Of(b).OnRunEnd(func(bool) {}) {
		t.Fatal("OnRunEnd = true on a bus built by New")
	}
}

// OnRunAgain runs at each start after a stop, not at the first, with the
// bus open again and before the application's OnStart hooks: what it
// subscribes gets every event of the new run.
func TestRunAgainRunsAtEachRestartBeforeTheOnStartHooks(t *testing.T) {
	var (
		bus   *fxbus.Bus
		order []string
		sub   *fxbus.Subscription[int]
		run   int
	)
	app := fx.New(fx.NopLogger, fxbus.Module, fx.Populate(&bus),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			if !runhooks.Of(b).OnRunAgain(func() {
				order = append(order, "again "+strconv.Itoa(run))
				sub = fxbus.Subscribe[int](b)
			}) {
				t.Error("OnRunAgain = false on a bus built by Module")
			}
			lc.Append(fx.StartHook(func() {
				order = append(order, "start "+strconv.Itoa(run))
				fxbus.Emit(b, run)
			}))
		}))
	for run = 1; run <= 3; run++ {
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if run > 1 {
			if got, err := sub.TryRecv(); err != nil || got != run {
				t.Fatalf("run %d: the subscription made by OnRunAgain got %d, %v; want the run's event", run, got, err)
			}
		}
		if err := app.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"start 1", "again 2", "start 2", "again 3", "start 3"}
	if !slices.Equal(order, want) {
		t.Fatalf("calls %q, want %q", order, want)
	}
	if b := newTestBus(t); runhooks.Of(b).OnRunAgain(func() {}) {
		t.Fatal("OnRunAgain = true on a bus built by New")
	}
}
