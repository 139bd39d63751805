package lifecycle_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/goleak"
)

// startFailTick is an event type with a handler in the failing app.
type startFailTick struct{}

// Whatever way the start fails, under plain fx.New, the run ends: the
// token is cancelled, the runtime stopped, one ShutdownInitiatedEvent,
// the bus closed, no goroutine left.
func TestFailedStartEndsEveryGoroutine(t *testing.T) {
	faults := []struct {
		name   string
		hook   func(ctx context.Context) error
		budget time.Duration // the start context given to app.Start
	}{
		{"a later OnStart hook returns an error", func(context.Context) error {
			return errors.New("disk missing")
		}, wait},
		{"a later OnStart hook calls runtime.Goexit", func(context.Context) error {
			runtime.Goexit()
			return nil
		}, wait},
		{"a later OnStart hook outlasts the start context", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, 200 * time.Millisecond},
		// Last: on a runtime that does not recover it, the panic kills the
		// test binary.
		{"a later OnStart hook panics", func(context.Context) error {
			panic("hook exploded")
		}, wait},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) { checkFailedStartEnds(t, f.hook, f.budget) })
	}
}

// checkFailedStartEnds builds a plain Fx app with a task, a bus handler,
// injected signals and, after the runtime's, an OnStart hook hook; starts
// it within budget; and checks that, once app.Start has failed and
// without app.Stop, everything the runtime and the bus started has ended.
func checkFailedStartEnds(t *testing.T, hook func(context.Context) error, budget time.Duration) {
	taskStarted, taskDone := make(chan struct{}), make(chan struct{})
	var rt *lifecycle.Runtime
	var shutdowns *fxbustest.Recorder[fxbus.ShutdownInitiatedEvent]
	var announced atomic.Int32
	app := fx.New(fx.NopLogger,
		fxbus.Module, lifecycle.Module,
		lifecycle.With(lifecycle.WithSignals(make(chanSignal))),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{Name: "worker", Run: func(ctx context.Context) error {
				close(taskStarted)
				defer close(taskDone)
				<-ctx.Done()
				return nil
			}}
		}),
		fxbus.Handle(func(context.Context, startFailTick) error { return nil }),
		fxbustest.Provide[fxbus.ShutdownInitiatedEvent](t),
		fx.Populate(&rt, &shutdowns),
		fx.Invoke(func(b *fxbus.Bus) {
			runhooks.Of(b).OnShutdown(func(string, error, int) { announced.Add(1) })
		}),
		// Depends on the runtime: its OnStart runs after the runtime's.
		fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) {
			lc.Append(fx.StartHook(hook))
		}),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx.New: %v", err)
	}
	stopLater(t, app)

	ctx, cancel := context.WithTimeout(context.Background(), budget)
	err := app.Start(ctx)
	cancel()
	if err == nil {
		t.Fatal("app.Start succeeded, want the hook's failure")
	}

	// No app.Stop: a failed Start alone must end the run, announced once,
	// and close the bus, which it does once the runtime's run has ended.
	if evs := shutdowns.WaitClosed(t, wait); len(evs) != 1 {
		t.Fatalf("%d ShutdownInitiatedEvent after the failed start (%v), want 1: %+v", len(evs), err, evs)
	}
	if s, tokenErr := rt.State(), rt.Context().Err(); s != lifecycle.StateStopped || tokenErr == nil {
		t.Fatalf("bus closed with the runtime %v, token error %v; want stopped, cancelled", s, tokenErr)
	}
	select {
	case <-taskStarted:
		select {
		case <-taskDone:
		case <-time.After(wait):
			t.Fatalf("task still running %v after its token was cancelled", wait)
		}
	default: // never started; goleak below says whether it still could
	}
	if n := announced.Load(); n != 1 {
		t.Fatalf("%d shutdown announcements, want 1", n)
	}
	goleak.VerifyNone(t)

	// app.Stop afterwards returns, and changes nothing.
	sctx, scancel := context.WithTimeout(context.Background(), wait)
	defer scancel()
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(sctx) }()
	select {
	case <-stopped:
	case <-time.After(wait + time.Second):
		t.Fatal("app.Stop after the failed start did not return")
	}
	if n := announced.Load(); n != 1 {
		t.Fatalf("app.Stop after the failed start announced again: %d announcements, want 1", n)
	}
	if s := rt.State(); s != lifecycle.StateStopped {
		t.Fatalf("state %v after app.Stop, want stopped", s)
	}
}

// When an OnStart hook that runs after the runtime's honours its context
// but outlasts StartTimeout, Fx rolls back with the expired start context
// and skips every OnStop hook; the runtime's token is cancelled all the
// same, so that its tasks end with Run.
func TestRunCancelsTasksWhenStartTimesOut(t *testing.T) {
	taskDone := make(chan struct{})
	var rt *lifecycle.Runtime
	code := lifecycle.Run(context.Background(), fx.NopLogger,
		fx.StartTimeout(200*time.Millisecond),
		lifecycle.With(lifecycle.WithSignals(make(chanSignal))),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{Name: "worker", Run: func(ctx context.Context) error {
				defer close(taskDone)
				<-ctx.Done()
				return ctx.Err()
			}}
		}),
		fx.Populate(&rt),
		// Depends on the runtime: starts after it.
		fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) {
			lc.Append(fx.StartHook(func(ctx context.Context) error {
				<-ctx.Done() // slow dependency, honours the start budget
				return ctx.Err()
			}))
		}),
	)
	if code != lifecycle.ExitFailure {
		t.Fatalf("code %d", code)
	}
	select {
	case <-taskDone:
	case <-time.After(time.Second):
		t.Errorf("task still running 1s after Run returned: token never cancelled (ctx.Err=%v)", rt.Context().Err())
		rt.InitiateShutdown("test cleanup", nil, 0) // let goleak pass
		<-taskDone
	}
}

// When a boot hangs past StartTimeout, Run returns only once the runtime
// has rolled back, stopping the providers booted before: a process that
// exits when Run returns leaves none of them running.
func TestRunReturnsAfterTheRollbackOfAFailedStart(t *testing.T) {
	const startTimeout = 100 * time.Millisecond
	log, _ := ftLogger()
	release, _ := releaser(t)
	rec := &recorder{}
	a := ftRun(t, context.Background(), make(chanSignal), log, nil,
		fx.StartTimeout(startTimeout),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("db", lifecycle.Early, lifecycle.Hooks{
				Stop: func(context.Context) error {
					// A slow close: the rollback outlasts Fx's deadline.
					t := time.NewTimer(100 * time.Millisecond)
					defer t.Stop()
					<-t.C
					rec.add("stop:db")
					return nil
				},
			})
		}),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("migrations", lifecycle.Normal, lifecycle.Hooks{
				Boot: func(context.Context) error { <-release; return nil },
			})
		}))
	if code := a.exit(t, wait); code != lifecycle.ExitFailure {
		t.Fatalf("exit code %d, want %d", code, lifecycle.ExitFailure)
	}
	if got := strings.Join(rec.get(), " "); got != "stop:db" {
		t.Fatalf("calls %q when Run returned: the rollback had not stopped db", got)
	}
}
