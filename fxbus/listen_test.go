package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
)

type tick struct{ n int }

// recorder is a handler that records what it saw and can be told to fail.
type recorder struct {
	mu       sync.Mutex
	got      []int
	shutdown int
	seen     chan int
}

func newRecorder() *recorder { return &recorder{seen: make(chan int, 1024)} }

func (r *recorder) onTick(_ context.Context, ev tick) error {
	r.mu.Lock()
	r.got = append(r.got, ev.n)
	r.mu.Unlock()
	defer func() { r.seen <- ev.n }()
	switch ev.n {
	case -1:
		return errors.New("tick refused")
	case -2:
		panic("tick exploded")
	}
	return nil
}

func (r *recorder) onShutdown(context.Context, fxbus.ShutdownInitiatedEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shutdown++
	return nil
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	select {
	case got := <-r.seen:
		if got != n {
			t.Fatalf("handler saw %d, want %d", got, n)
		}
	case <-time.After(waitLimit):
		t.Fatalf("handler did not see %d", n)
	}
}

func TestListen(t *testing.T) {
	logs := newObserved(t)
	rec := newRecorder()
	var bus *fxbus.Bus
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		fx.Supply(logs.logger),
		fx.Populate(&bus),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			fxbus.Listen(lc, b, rec.onTick)
			// Emitted before start: not missed, since Listen subscribed
			// at construction.
			fxbus.Emit(b, tick{n: 1})
		}),
		fxbus.Handle(rec.onShutdown),
	)
	app.RequireStart()
	rec.wait(t, 1)
	fxbus.Emit(bus, tick{n: -1}) // error: logged, handler goes on
	rec.wait(t, -1)
	fxbus.Emit(bus, tick{n: -2}) // panic: logged with stack, handler goes on
	rec.wait(t, -2)
	fxbus.Emit(bus, tick{n: 2})
	rec.wait(t, 2)
	for i := 3; i < 10; i++ { // buffered at stop: all handled before OnStop returns
		fxbus.Emit(bus, tick{n: i})
	}
	app.RequireStop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []int{1, -1, -2, 2, 3, 4, 5, 6, 7, 8, 9}
	if len(rec.got) != len(want) {
		t.Fatalf("handler saw %v, want %v", rec.got, want)
	}
	for i := range want {
		if rec.got[i] != want[i] {
			t.Fatalf("handler saw %v, want %v", rec.got, want)
		}
	}
	if rec.shutdown != 1 {
		t.Fatalf("ShutdownInitiatedEvent handled %d times, want 1", rec.shutdown)
	}
	failed := logs.entries("handler failed")
	if len(failed) != 1 || !strings.Contains(failed[0].ContextMap()["error"].(string), "tick refused") {
		t.Fatalf("handler error log: %+v", failed)
	}
	if h := failed[0].ContextMap()["handler"].(string); !strings.Contains(h, "onTick") {
		t.Errorf("log names handler %q, want onTick", h)
	}
	panicked := logs.entries("handler panicked")
	if len(panicked) != 1 {
		t.Fatalf("panic logs: %d, want 1", len(panicked))
	}
	if stack := panicked[0].ContextMap()["stack"].(string); !strings.Contains(stack, "onTick") {
		t.Errorf("panic log has no stack naming the handler: %q", stack)
	}
}

func TestListenLag(t *testing.T) {
	logs := newObserved(t)
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	var bus *fxbus.Bus
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		fx.Supply(logs.logger, fxbus.Config{Capacity: 2}),
		fx.Populate(&bus),
		fxbus.Handle(func(_ context.Context, ev tick) error {
			once.Do(func() { close(started) })
			<-release // the first event blocks the handler
			return nil
		}),
	)
	app.RequireStart()
	fxbus.Emit(bus, tick{n: 0})
	<-started
	for i := 1; i <= 5; i++ {
		fxbus.Emit(bus, tick{n: i})
	}
	close(release)
	app.RequireStop()
	lagged := logs.entries("handler lagged behind and missed events")
	if len(lagged) != 1 {
		t.Fatalf("lag logs: %d, want 1", len(lagged))
	}
	if got := lagged[0].ContextMap()["missed"]; got != uint64(3) {
		t.Fatalf("lag log missed = %v, want 3", got)
	}

	t.Run("Handle logs a lag with its count", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		first := make(chan struct{})
		release := make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		defer unblock()
		last := make(chan struct{})
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core), fxbus.Config{Capacity: 4}), fx.Populate(&b),
			fxbus.Handle(func(_ context.Context, ev handledEvent) error {
				switch ev.N {
				case 0:
					close(first)
					<-release
				case 7:
					close(last)
				}
				return nil
			}),
		)
		app.RequireStart()
		defer app.RequireStop()
		fxbus.Emit(b, handledEvent{0})
		select {
		case <-first:
		case <-time.After(waitLimit):
			t.Fatal("handler did not get the first event")
		}
		for i := 1; i <= 7; i++ { // 7 behind with capacity 4: 3 missed
			fxbus.Emit(b, handledEvent{i})
		}
		unblock()
		select {
		case <-last:
		case <-time.After(waitLimit):
			t.Fatal("handler did not resume after the lag")
		}
		found := false
		for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
			if strings.Contains(e.Message, "3") {
				found = true
			}
			for _, v := range e.ContextMap() {
				if fmt.Sprint(v) == "3" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no warning carries the lag count 3: %+v", logs.All())
		}
	})
}

// handledEvent is the event of the Handle tests.
type handledEvent struct{ N int }

// TestHandleKeepsRunningAfterAnErrorAndAPanic checks that a Handle
// handler that fails or panics is logged at warn level and still receives
// the next event.
func TestHandleKeepsRunningAfterAnErrorAndAPanic(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	got := make(chan int, 16)
	var b *fxbus.Bus
	app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core)), fx.Populate(&b),
		fxbus.Handle(func(_ context.Context, ev handledEvent) error {
			switch ev.N {
			case 1:
				panic("handler panic")
			case 2:
				return errors.New("handler error")
			}
			got <- ev.N
			return nil
		}),
	)
	app.RequireStart()
	for i := 1; i <= 3; i++ {
		if n := fxbus.Emit(b, handledEvent{i}); n != 1 {
			t.Fatalf("Emit = %d, want 1 (Handle subscribes at construction)", n)
		}
	}
	select {
	case n := <-got:
		if n != 3 {
			t.Fatalf("handler recorded %d, want 3", n)
		}
	case <-time.After(waitLimit):
		t.Fatal("handler did not process the event after a panic and an error")
	}
	warnings := logs.Filter(func(e observer.LoggedEntry) bool { return e.Level >= zapcore.WarnLevel })
	if n := warnings.Len(); n < 2 {
		t.Errorf("handler error and panic: got %d entries at warn or above, want >= 2: %+v", n, logs.All())
	}
	app.RequireStop()
}

func TestListenStopDeadline(t *testing.T) {
	block := make(chan struct{})
	handlerDone := make(chan struct{})
	bus := newTestBus(t)
	// fx.App.Stop reports only ctx.Err() when its deadline passes, so the
	// hook's own error is checked on a bare lifecycle.
	lc := fxtest.NewLifecycle(t)
	fxbus.Listen(lc, bus, func(ctx context.Context, ev tick) error {
		defer close(handlerDone)
		<-ctx.Done() // stops only when cancelled
		<-block
		return nil
	})
	if err := lc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fxbus.Emit(bus, tick{})
	stopCtx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := lc.Stop(stopCtx)
	if err == nil || !strings.Contains(err.Error(), "did not finish within half of the time left before the stop deadline") ||
		!strings.Contains(err.Error(), "fxbus_test.tick") || !strings.Contains(err.Error(), "TestListenStopDeadline") {
		t.Fatalf("Stop = %v, want an error naming the handler and its event type", err)
	}
	close(block) // let the handler return, for goleak
	<-handlerDone
}

// TestListenStuckHandlerLeavesTimeForOthers checks that a handler that
// never returns does not use up Fx's shared stop deadline: the OnStop hooks
// after it still run, and the bus still closes.
func TestListenStuckHandlerLeavesTimeForOthers(t *testing.T) {
	block := make(chan struct{})
	handlerDone := make(chan struct{})
	laterRan := make(chan struct{})
	var bus *fxbus.Bus
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fx.Populate(&bus),
		// Appended first, so it stops after the handler's hook.
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StopHook(func() { close(laterRan) }))
		}),
		fxbus.Handle(func(ctx context.Context, ev tick) error {
			defer close(handlerDone)
			<-block // ignores its context
			return nil
		}),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := fxbus.Subscribe[string](bus)
	fxbus.Emit(bus, tick{})
	stopCtx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = app.Stop(stopCtx) // reports the stuck handler
	select {
	case <-laterRan:
	default:
		t.Fatal("the OnStop hook after a stuck handler did not run")
	}
	if _, err := sub.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("the bus was not closed after a stuck handler: %v", err)
	}
	close(block)
	<-handlerDone
}

// echo is an event whose handler emits another echo.
type echo struct{ n int }

// stopRequest asks a handler to stop the application.
type stopRequest struct{}

// A handler delays a stop only by the work actually pending: one that
// re-emits its own type stops when the bus closes, and one that calls
// app.Stop itself is not waited for.
func TestHandlerDelaysStopOnlyByPendingWork(t *testing.T) {
	t.Run("a handler that re-emits its own event type", func(t *testing.T) {
		handled := make(chan struct{})
		var count atomic.Int64
		var bus *fxbus.Bus
		app := fx.New(fx.NopLogger, fxbus.Module, fx.StopTimeout(4*time.Second),
			fx.Populate(&bus),
			fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
				fxbus.Listen(lc, b, func(_ context.Context, ev echo) error {
					if count.Add(1) == 100 {
						close(handled)
					}
					fxbus.Emit(b, echo{n: ev.n + 1}) // for ever
					return nil
				})
			}))
		if err := app.Err(); err != nil {
			t.Fatalf("fx.New: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatalf("app.Start: %v", err)
		}
		fxbus.Emit(bus, echo{})
		select {
		case <-handled:
		case <-time.After(waitLimit):
			t.Fatalf("the handler handled %d events in %v, want 100", count.Load(), waitLimit)
		}
		stopCtx, stopCancel := context.WithTimeout(context.Background(), app.StopTimeout())
		defer stopCancel()
		begin := time.Now()
		err := app.Stop(stopCtx)
		took := time.Since(begin)
		if err != nil {
			t.Errorf("app.Stop = %v, want nil", err)
		}
		if took >= time.Second {
			t.Errorf("app.Stop took %v with a 4s deadline, want under 1s: nothing but the handler's own echoes was pending", took)
		}
	})

	t.Run("a handler that calls app.Stop", func(t *testing.T) {
		type stopResult struct {
			err  error
			took time.Duration
		}
		result := make(chan stopResult, 1)
		var bus *fxbus.Bus
		var app *fx.App
		app = fx.New(fx.NopLogger, fxbus.Module, fx.StopTimeout(4*time.Second),
			fx.Populate(&bus),
			fxbus.Handle(func(context.Context, stopRequest) error {
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				defer cancel()
				begin := time.Now()
				err := app.Stop(ctx)
				result <- stopResult{err: err, took: time.Since(begin)}
				return nil
			}))
		if err := app.Err(); err != nil {
			t.Fatalf("fx.New: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatalf("app.Start: %v", err)
		}
		fxbus.Emit(bus, stopRequest{})
		select {
		case r := <-result:
			if r.err != nil {
				t.Errorf("app.Stop from the handler = %v, want nil", r.err)
			}
			if r.took >= time.Second {
				t.Errorf("app.Stop from the handler took %v, want under 1s", r.took)
			}
		case <-time.After(2 * waitLimit):
			t.Fatalf("app.Stop called from the handler did not return within %v", 2*waitLimit)
		}

		// The test's own stop, after the handler's, is harmless.
		stopped := make(chan error, 1)
		go func() { stopped <- app.Stop(ctx) }()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("a second app.Stop = %v, want nil", err)
			}
		case <-time.After(2 * waitLimit):
			t.Fatal("a second app.Stop did not return")
		}
		if _, err := fxbus.Subscribe[int](bus).TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
			t.Fatalf("bus still open after the stop: %v", err)
		}
	})
}
