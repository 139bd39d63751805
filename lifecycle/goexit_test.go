package lifecycle_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/zap/zapcore"
)

// goexitTick is handled by a goexitHandler.
type goexitTick struct{ n int }

// goexitHandler calls runtime.Goexit on event 1, as t.FailNow in a test
// helper does, and reports every other event it handles.
type goexitHandler struct{ seen chan int }

func (h *goexitHandler) handle(_ context.Context, ev goexitTick) error {
	if ev.n == 1 {
		runtime.Goexit()
	}
	h.seen <- ev.n
	return nil
}

// runtime.Goexit in a task, a provider hook or a handler is a failure
// like a panic, with the same events, policy and logging.
func TestGoexitIsTreatedLikeAPanic(t *testing.T) {
	t.Run("in a critical task: failed, stopped, shutdown", func(t *testing.T) {
		log, logs := ftLogger()
		b := newBus(t)
		failed := subscribe[lifecycle.TaskFailedEvent](t, b)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		rt := newRuntime(t, b, lifecycle.WithLogger(log))
		startRuntime(t, rt)
		if err := rt.Go("crasher", func(context.Context) error {
			runtime.Goexit()
			return nil
		}); err != nil {
			t.Fatalf("Go: %v", err)
		}
		ev := next(t, failed)
		if ev.Name != "crasher" || ev.Policy != lifecycle.Critical || ev.Err == nil || !strings.Contains(ev.Err.Error(), "Goexit") {
			t.Fatalf("TaskFailed = %+v, want task crasher, critical, an error that mentions Goexit", ev)
		}
		if ev := next(t, stopped); ev.Name != "crasher" {
			t.Fatalf("TaskStopped = %+v, want crasher", ev)
		}
		if rt.Cause() == nil {
			t.Fatal("a critical task's Goexit did not initiate shutdown")
		}
		if got := loggedWith(logs, zapcore.ErrorLevel, "crasher", "Goexit"); len(got) == 0 {
			t.Fatalf("no error log entry naming crasher and Goexit; logs:%s", allLogged(logs))
		}
	})

	t.Run("in a task: its name is free again", func(t *testing.T) {
		b := newBus(t)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		if err := rt.Go("flaky", func(context.Context) error {
			runtime.Goexit()
			return nil
		}, lifecycle.WithPolicy(lifecycle.Ignore)); err != nil {
			t.Fatalf("Go: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if ev, err := stopped.Recv(ctx); err != nil || ev.Name != "flaky" {
			t.Errorf("TaskStopped = %+v, %v; want one for flaky", ev, err)
		}
		if err := rt.Go("flaky", blockUntilDone, lifecycle.WithPolicy(lifecycle.Ignore)); err != nil {
			t.Fatalf("Go with the name of a task that called Goexit: %v", err)
		}
	})

	t.Run("in a provider's Boot: Start fails at once", func(t *testing.T) {
		app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("exiter", lifecycle.Normal, lifecycle.Hooks{
					Boot: func(context.Context) error { runtime.Goexit(); return nil },
				})
			}))
		if err := app.Err(); err != nil {
			t.Fatalf("fx.New: %v", err)
		}
		stopLater(t, app)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		begin := time.Now()
		err := app.Start(ctx)
		took := time.Since(begin)
		var perr *lifecycle.ProviderError
		if !errors.As(err, &perr) || perr.Provider != "exiter" || !strings.Contains(err.Error(), "Goexit") {
			t.Errorf("app.Start = %v, want a *ProviderError for exiter that mentions Goexit", err)
		}
		if took > 5*time.Second {
			t.Errorf("app.Start took %v with a 10s budget: it waited for a Boot that had exited", took)
		}
	})

	t.Run("in a bus handler: logged, and the next event is handled", func(t *testing.T) {
		log, logs := ftLogger()
		h := &goexitHandler{seen: make(chan int, 8)}
		var bus *fxbus.Bus
		app := fx.New(quiet(), fxbus.Module, lifecycle.Module, fx.Supply(log),
			fx.Populate(&bus),
			fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) { fxbus.Listen(lc, b, h.handle) }))
		if err := app.Err(); err != nil {
			t.Fatalf("fx.New: %v", err)
		}
		stopLater(t, app)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatalf("app.Start: %v", err)
		}
		fxbus.Emit(bus, goexitTick{n: 1})
		fxbus.Emit(bus, goexitTick{n: 2})
		select {
		case n := <-h.seen:
			if n != 2 {
				t.Errorf("handler saw %d, want 2", n)
			}
		case <-time.After(wait):
			t.Errorf("the handler did not handle the event after the one it called Goexit on, within %v", wait)
		}
		if got := loggedWith(logs, zapcore.ErrorLevel, "goexitHandler", "Goexit"); len(got) == 0 {
			t.Errorf("no error log entry naming the handler and Goexit; logs:%s", allLogged(logs))
		}
	})
}
