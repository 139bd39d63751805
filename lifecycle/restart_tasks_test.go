package lifecycle_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
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
