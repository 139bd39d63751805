package lifecycle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// InitiateShutdown may be called from any goroutine, and that goroutine
// may be descheduled after it has begun the shutdown of the current run and
// before that shutdown is announced, while the application stops and
// starts again. What it does then belongs to the run it began the
// shutdown of: the new run keeps its gate open and its token live, is not
// asked to stop, and sees no ShutdownInitiatedEvent of the old run.
func TestInitiateShutdownOfARunNeverShutsDownTheNextRun(t *testing.T) {
	var rt *Runtime
	var bus *fxbus.Bus
	app := fx.New(fx.NopLogger, fxbus.Module, Module, With(WithoutSignals()), fx.Populate(&rt, &bus))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	var pause sync.Once // only the call of run 1 pauses
	rt.testHookShutdownBegun = func(reason string) {
		if reason == "run 1 fails" {
			pause.Do(func() {
				close(paused)
				<-resume
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	began := make(chan bool, 1)
	go func() { began <- rt.InitiateShutdown("run 1 fails", errors.New("boom"), 3) }()
	<-paused
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(ctx) }() // run 1 stops, its shutdown begun
	var sub *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	select {
	case err := <-stopped: // run 1 ended: start run 2, then let the call go on
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		sub = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus)
		close(resume)
	case <-time.After(200 * time.Millisecond): // the stop waits for the call
		close(resume)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		sub = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus)
	}
	defer sub.Close()
	if !<-began {
		t.Error("InitiateShutdown returned false, want true: it began run 1's shutdown")
	}

	if s := rt.State(); s != StateRunning {
		t.Errorf("run 2 is %v, want %v (cause %v)", s, StateRunning, rt.Cause())
	}
	if rt.Gate().Closed() {
		t.Error("run 2's gate is closed")
	}
	if err := rt.Context().Err(); err != nil {
		t.Errorf("run 2's token is done: %v", context.Cause(rt.Context()))
	}
	if ev, err := sub.TryRecv(); err == nil {
		t.Errorf("run 2's bus got %+v, want no ShutdownInitiatedEvent", ev)
	}
	if err := app.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// A call of InitiateShutdown that finds its run's shutdown begun already
// makes sure the gate is closed and the token cancelled. It may be
// descheduled first, while the application stops and starts again: the
// gate it closes then must not be the new run's, which admits work as
// long as its own shutdown has not begun.
func TestLateInitiateShutdownOfARunThatIsShuttingDownLeavesTheNextRunsGateOpen(t *testing.T) {
	var rt *Runtime
	app := fx.New(fx.NopLogger, fxbus.Module, Module, With(WithoutSignals()), fx.Populate(&rt))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	var pause sync.Once // only the late call of run 1 pauses
	rt.testHookShutdownJoined = func(reason string) {
		if reason == "run 1, again" {
			pause.Do(func() {
				close(paused)
				<-resume
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !rt.InitiateShutdown("run 1 fails", errors.New("boom"), 3) {
		t.Fatal("the first InitiateShutdown of run 1 did not begin its shutdown")
	}
	late := make(chan bool, 1)
	go func() { late <- rt.InitiateShutdown("run 1, again", nil, 4) }()
	<-paused
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(ctx) }()
	select {
	case err := <-stopped: // run 1 ended: start run 2, then let the call go on
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		close(resume)
	case <-time.After(200 * time.Millisecond): // the stop waits for the call
		close(resume)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if <-late {
		t.Error("the late InitiateShutdown returned true: run 1's shutdown had begun")
	}

	if s := rt.State(); s != StateRunning {
		t.Errorf("run 2 is %v, want %v (cause %v)", s, StateRunning, rt.Cause())
	}
	if rt.Gate().Closed() {
		t.Error("run 2's gate is closed, its shutdown not begun: the late call of run 1 closed it")
	}
	if p, err := rt.Gate().Enter(); err != nil {
		t.Errorf("run 2's gate refuses work: %v", err)
	} else {
		p.Release()
	}
	if err := app.Stop(ctx); err != nil {
		t.Error(err)
	}
}
