package lifecycle_test

// Regression tests for defects found in review, each failing before its fix.

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// A component's OnStart that honours its ctx but outlasts StartTimeout:
// Fx's rollback runs with the expired start ctx and skips every OnStop
// hook, Run's settle -> stopSkipped never cancels the token, so the
// runtime's tasks and reload loop outlive Run.
func TestRegressionStartTimeoutCancelsToken(t *testing.T) {
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

// A double SIGINT while a component's OnStart is slow: Run is blocked in
// app.Start and does not read the forced channel; it returns ExitFailure
// after StartTimeout instead of ForceExitCode at once.
func TestRegressionForceExitDuringSlowStart(t *testing.T) {
	sigs := make(chanSignal, 2)
	entered := make(chan struct{})
	res := make(chan int, 1)
	begin := time.Now()
	var rt *lifecycle.Runtime
	go func() {
		res <- lifecycle.Run(context.Background(), fx.NopLogger,
			fx.StartTimeout(500*time.Millisecond),
			fx.Populate(&rt),
			lifecycle.With(lifecycle.WithSignals(sigs)),
			fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) {
				lc.Append(fx.StartHook(func(ctx context.Context) error {
					close(entered)
					<-ctx.Done()
					return ctx.Err()
				}))
			}))
	}()
	<-entered
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	code := <-res
	took := time.Since(begin)
	if code != lifecycle.DefaultForceExitCode || took > 400*time.Millisecond {
		t.Fatalf("Run returned %d after %v; want %d promptly", code, took, lifecycle.DefaultForceExitCode)
	}
	// Run stops the abandoned app in the background once its start ends.
	deadline := time.Now().Add(10 * time.Second)
	for rt.State() != lifecycle.StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("state %v 10 s after the forced exit, want stopped", rt.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
