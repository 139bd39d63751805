package lifecycle_test

// Regression tests for defects found in review, each failing before its fix.

import (
	"context"
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
