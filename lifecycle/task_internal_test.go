package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
)

// Stop returns only once every task of the run has reported that it
// stopped, even a task that ended on its own and has left the run's names
// but not yet emitted its TaskStoppedEvent: the drain waits for the
// report, so no task event comes after Stop (or is lost to a bus closed
// after it).
func TestStopWaitsForTheStoppedReportOfATaskThatEndedOnItsOwn(t *testing.T) {
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	stopped := fxbus.Subscribe[TaskStoppedEvent](bus)
	defer stopped.Close()

	r, err := New(bus, WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	left := make(chan struct{})
	release := make(chan struct{})
	r.testHookTaskLeft = func(name string) {
		if name != "ender" {
			return
		}
		close(left)
		// Held until Stop returns, or long enough for a drain that waits
		// for the report to see it.
		select {
		case <-release:
		case <-time.After(300 * time.Millisecond):
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Go("ender", func(context.Context) error { return errors.New("done with an error") },
		WithPolicy(Ignore)); err != nil {
		t.Fatal(err)
	}
	<-left // the task has left the run's names; its report is held
	err = r.Stop(ctx)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	ev, rerr := stopped.TryRecv()
	if rerr != nil || ev.Name != "ender" {
		t.Fatalf("when Stop returned, TaskStopped = %+v, %v; want ender's, emitted before Stop returned", ev, rerr)
	}
}
