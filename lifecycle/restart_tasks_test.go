package lifecycle_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// A new run starts its tasks only once the previous run's have returned:
// a task's name is unique among the live tasks, across runs too. A Start
// whose budget ends first fails naming the task still running.
func TestRestartWaitsForThePreviousRunsTasks(t *testing.T) {
	var live, maxLive atomic.Int32
	started := make(chan struct{}, 2)
	release, releaseNow := releaser(t)
	rt := newRuntime(t, newBus(t),
		lifecycle.WithConfig(lifecycle.Config{TaskTimeout: 50 * time.Millisecond}),
		lifecycle.WithTasks(lifecycle.Task{Name: "worker", Run: func(ctx context.Context) error {
			n := live.Add(1)
			defer live.Add(-1)
			for m := maxLive.Load(); n > m && !maxLive.CompareAndSwap(m, n); m = maxLive.Load() {
			}
			started <- struct{}{}
			<-ctx.Done()
			<-release // slow to notice the cancellation
			return nil
		}}))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, started, "run 1's task")
	if err := rt.Stop(ctx); err == nil || !strings.Contains(err.Error(), `"worker"`) {
		t.Fatalf("run 1's Stop = %v, want the straggler named", err)
	}

	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	err := rt.Start(short)
	if err == nil || !strings.Contains(err.Error(), `"worker"`) || !strings.Contains(err.Error(), "have not returned") {
		t.Fatalf("Start while run 1's task still runs = %v, want an error naming it", err)
	}
	if s := rt.State(); s != lifecycle.StateStopped {
		t.Fatalf("state %v after the refused start, want stopped", s)
	}

	releaseNow() // run 1's task returns
	if err := rt.Start(ctx); err != nil {
		t.Fatalf("Start once run 1's task returned: %v", err)
	}
	waitFor(t, started, "run 2's task")
	if err := rt.Stop(ctx); err != nil {
		t.Fatalf("run 2's Stop: %v", err)
	}
	if n := maxLive.Load(); n != 1 {
		t.Fatalf("task %q ran %d times at once across runs, want 1", "worker", n)
	}
}

// A task belongs to the run that started it. When it outlives that run's
// stop budget and returns only as the application starts again, the new
// run waits for it, but the bus is already the new run's (fxbus.Module
// reopens it before any other OnStart hook): the old task's report must not
// reach the new run's subscribers, which count the new run's events only.
// The new run's own task still reports its stop.
func TestTaskOfAnEndedRunReportsNothingToTheNextRun(t *testing.T) {
	var instances atomic.Int32
	started := make(chan int32, 2)
	release, releaseNow := releaser(t)
	var bus *fxbus.Bus
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		fx.Supply(lifecycle.Config{TaskTimeout: 50 * time.Millisecond}),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{Name: "worker", Run: func(ctx context.Context) error {
				n := instances.Add(1)
				started <- n
				<-ctx.Done()
				if n == 1 {
					<-release // run 1's instance is slow to notice its cancellation
				}
				return nil
			}}
		}),
		fx.Populate(&bus))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	stopLater(t, app)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	if err := app.Start(ctx); err != nil {
		t.Fatalf("run 1: app.Start: %v", err)
	}
	waitFor(t, started, "run 1's task")
	if err := app.Stop(ctx); err == nil || !strings.Contains(err.Error(), `"worker"`) {
		t.Fatalf("run 1: app.Stop = %v, want the straggler named", err)
	}

	// When run 2 begins, the bus is open again: subscribe as the new run's
	// components do, then let run 1's task return while run 2 starts.
	var run2 *fxbus.Subscription[lifecycle.TaskStoppedEvent]
	if !runhooks.Of(bus).OnRunAgain(func() {
		run2 = fxbus.Subscribe[lifecycle.TaskStoppedEvent](bus)
		releaseNow()
	}) {
		t.Fatal("OnRunAgain refused on fxbus.Module's bus")
	}
	if err := app.Start(ctx); err != nil {
		t.Fatalf("run 2: app.Start: %v", err)
	}
	defer run2.Close()
	if n := waitFor(t, started, "run 2's task"); n != 2 {
		t.Fatalf("run 2 started instance %d of the task, want 2", n)
	}
	if evs := ftDrain(t, run2); len(evs) != 0 {
		t.Errorf("run 2's subscriber got %+v during run 2, want no TaskStoppedEvent: run 1's task reported to run 2", evs)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("run 2: app.Stop: %v", err)
	}
	if evs := ftDrain(t, run2); len(evs) != 1 || evs[0].Name != "worker" || evs[0].Err != nil {
		t.Errorf("run 2's subscriber got %+v at run 2's stop, want run 2's one TaskStoppedEvent of worker", evs)
	}
}
