package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
)

// TestErrorsSayEachThingOnce: an error of the package names the package
// once and does not repeat what the error it wraps says.
func TestErrorsSayEachThingOnce(t *testing.T) {
	ctx := context.Background()
	quiet := lifecycle.WithLogger(zap.NewNop())
	newRT := func(t *testing.T, opts ...lifecycle.Option) *lifecycle.Runtime {
		t.Helper()
		rt, err := lifecycle.New(nil, append([]lifecycle.Option{quiet, lifecycle.WithoutSignals()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	stop := func(t *testing.T, rt *lifecycle.Runtime) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, prodWait)
		defer cancel()
		_ = rt.Stop(sctx)
	}
	waitDone := func(t *testing.T, rt *lifecycle.Runtime) {
		t.Helper()
		select {
		case <-rt.Done():
		case <-time.After(prodWait):
			t.Fatal("no shutdown")
		}
	}
	check := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil {
			t.Fatalf("nil error, want %q", want)
		}
		if got := err.Error(); got != want {
			t.Errorf("error\n%q\nwant\n%q", got, want)
		}
	}

	t.Run("critical task", func(t *testing.T) {
		rt := newRT(t, lifecycle.WithTasks(lifecycle.Task{Name: "indexer", Run: func(context.Context) error {
			return errors.New("index corrupt")
		}}))
		if err := rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitDone(t, rt)
		stop(t, rt)
		check(t, rt.Cause(), `lifecycle: shutdown: task "indexer" failed (attempt 1): index corrupt`)
		var te *lifecycle.TaskError
		if !errors.As(rt.Cause(), &te) {
			t.Fatal("the cause does not wrap the *TaskError")
		}
		check(t, te, `lifecycle: task "indexer" failed (attempt 1): index corrupt`)
	})

	t.Run("restart budget", func(t *testing.T) {
		rt := newRT(t, lifecycle.WithTasks(lifecycle.Task{
			Name:    "flaky",
			Policy:  lifecycle.Restart,
			Restart: lifecycle.RestartPolicy{Initial: time.Millisecond, Budget: 1, Window: time.Hour},
			Run:     func(context.Context) error { return errors.New("timeout") },
		}))
		if err := rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitDone(t, rt)
		stop(t, rt)
		check(t, rt.Cause(), `lifecycle: shutdown: task "flaky" exhausted its restart budget: 2 failures within 1h0m0s, the last (attempt 2): timeout`)
	})

	t.Run("boot", func(t *testing.T) {
		rt := newRT(t, lifecycle.WithProviders(lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{
			Boot: func(context.Context) error { return errors.New("connection refused") },
		})))
		check(t, rt.Start(ctx), `lifecycle: provider "db": boot: connection refused`)
		check(t, rt.Cause(), `lifecycle: shutdown: boot failed: provider "db": boot: connection refused`)
	})

	t.Run("refusals after shutdown", func(t *testing.T) {
		rt := newRT(t)
		if err := rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
		rt.InitiateShutdown("disk full", nil, 4)
		check(t, rt.Reload(ctx), "lifecycle: reload: shutting down")
		check(t, rt.Go("x", func(context.Context) error { return nil }), `lifecycle: task "x": shutting down`)
		check(t, rt.WaitRunning(ctx), "lifecycle: wait for running: shutting down")
		stop(t, rt)
	})

	t.Run("start after shutdown", func(t *testing.T) {
		rt := newRT(t)
		rt.InitiateShutdown("disk full", nil, 4)
		err := rt.Start(ctx)
		check(t, err, "lifecycle: Start: shutdown: disk full")
		if !errors.Is(err, lifecycle.ErrShutdown) {
			t.Error("the error does not match ErrShutdown")
		}
	})

	t.Run("duplicate task", func(t *testing.T) {
		rt := newRT(t)
		block := func(ctx context.Context) error { <-ctx.Done(); return nil }
		if err := rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Go("x", block); err != nil {
			t.Fatal(err)
		}
		err := rt.Go("x", block)
		check(t, err, `lifecycle: task "x": duplicate name`)
		if !errors.Is(err, lifecycle.ErrDuplicateName) {
			t.Error("the error does not match ErrDuplicateName")
		}
		stop(t, rt)
	})

	t.Run("reload", func(t *testing.T) {
		rt := newRT(t, lifecycle.WithProviders(lifecycle.NewProvider("cache", lifecycle.Normal, lifecycle.Hooks{
			Reload: func(context.Context) error { return errors.New("bad file") },
		})))
		if err := rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
		check(t, rt.Reload(ctx), `lifecycle: reload failed: provider "cache": reload: bad file`)
		stop(t, rt)
	})

	t.Run("no message names the package twice", func(t *testing.T) {
		for _, err := range []error{
			&lifecycle.ShutdownError{Reason: "x", Err: &lifecycle.TaskError{Task: "t", Attempt: 1, Err: lifecycle.ErrShutdown}},
			&lifecycle.BudgetError{Task: "t", Failures: 3, Window: time.Minute, Last: &lifecycle.TaskError{Task: "t", Attempt: 3, Err: errors.New("e")}},
			&lifecycle.ProviderError{Provider: "p", Phase: lifecycle.PhaseStop, Err: lifecycle.ErrGateClosed},
		} {
			if n := strings.Count(err.Error(), "lifecycle: "); n != 1 {
				t.Errorf("%q names the package %d times", err.Error(), n)
			}
		}
	})
}
