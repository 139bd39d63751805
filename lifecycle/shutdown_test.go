package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
)

func TestInitiateShutdown(t *testing.T) {
	t.Run("cancels the token with a cause and emits one event", func(t *testing.T) {
		b := newBus(t)
		events := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		if rt.IsShuttingDown() || rt.Cause() != nil {
			t.Fatal("shutting down before InitiateShutdown")
		}

		boom := errors.New("disk full")
		if !rt.InitiateShutdown("storage", boom, 4) {
			t.Fatal("first InitiateShutdown returned false")
		}
		if rt.InitiateShutdown("again", nil, 5) {
			t.Fatal("second InitiateShutdown returned true")
		}

		waitFor(t, rt.Done(), "the shutdown token")
		cause := context.Cause(rt.Context())
		var se *lifecycle.ShutdownError
		if !errors.As(cause, &se) || se.Reason != "storage" || se.ExitCode != 4 {
			t.Fatalf("cause = %v, want the first request's", cause)
		}
		if !errors.Is(cause, lifecycle.ErrShutdown) || !errors.Is(cause, boom) {
			t.Fatalf("cause %v must match ErrShutdown and the cause", cause)
		}
		if rt.Cause() != cause || rt.ExitCode() != 4 || !rt.IsShuttingDown() {
			t.Fatalf("Cause() = %v, ExitCode() = %d", rt.Cause(), rt.ExitCode())
		}
		ev := next(t, events)
		if ev.Reason != "storage" || ev.Cause != boom || ev.ExitCode != 4 {
			t.Fatalf("event = %+v", ev)
		}
		none(t, events)
		if !rt.Gate().Closed() {
			t.Fatal("gate still open after shutdown began")
		}
	})

	t.Run("many goroutines at once: one event, one cause", func(t *testing.T) {
		b := newBus(t)
		events := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)

		const n = 64
		var wg sync.WaitGroup
		var mu sync.Mutex // guards winners
		winners := 0
		gate := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				if rt.InitiateShutdown(fmt.Sprint("caller ", i), fmt.Errorf("cause %d", i), i+1) {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		close(gate)
		wg.Wait()
		if winners != 1 {
			t.Fatalf("%d calls initiated the shutdown, want 1", winners)
		}
		ev := next(t, events)
		none(t, events)
		var se *lifecycle.ShutdownError
		if !errors.As(rt.Cause(), &se) || se.Reason != ev.Reason || se.Err != ev.Cause || se.ExitCode != ev.ExitCode {
			t.Fatalf("cause %v does not match the event %+v", rt.Cause(), ev)
		}
	})

	t.Run("without a bus", func(t *testing.T) {
		rt := newRuntime(t, nil)
		startRuntime(t, rt)
		if !rt.InitiateShutdown("no bus", nil, 0) {
			t.Fatal("InitiateShutdown returned false")
		}
		waitFor(t, rt.Done(), "the shutdown token")
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stop without a request still cancels the token", func(t *testing.T) {
		b := newBus(t)
		events := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		if rt.Context().Err() == nil || !errors.Is(rt.Cause(), lifecycle.ErrShutdown) {
			t.Fatalf("after Stop: ctx err %v, cause %v", rt.Context().Err(), rt.Cause())
		}
		if ev := next(t, events); ev.ExitCode != 0 {
			t.Fatalf("event = %+v", ev)
		}
		if rt.State() != lifecycle.StateStopped {
			t.Fatalf("state = %v, want stopped", rt.State())
		}
	})
}

func TestState(t *testing.T) {
	t.Run("moves from booting to stopped", func(t *testing.T) {
		b := newBus(t)
		ready := subscribe[lifecycle.ReadyEvent](t, b)
		rt := newRuntime(t, b)
		if got := rt.State(); got != lifecycle.StateBooting || rt.Ready() {
			t.Fatalf("new runtime: state %v", got)
		}
		waited := make(chan error, 1)
		go func() { waited <- rt.WaitRunning(context.Background()) }()
		startRuntime(t, rt)
		if err := waitFor(t, waited, "WaitRunning"); err != nil {
			t.Fatalf("WaitRunning: %v", err)
		}
		next(t, ready)
		if got := rt.State(); got != lifecycle.StateRunning || !rt.Ready() {
			t.Fatalf("started runtime: state %v", got)
		}
		rt.InitiateShutdown("test", nil, 0)
		if got := rt.State(); got != lifecycle.StateShuttingDown || rt.Ready() {
			t.Fatalf("after InitiateShutdown: state %v", got)
		}
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		if got := rt.State(); got != lifecycle.StateStopped {
			t.Fatalf("stopped runtime: state %v", got)
		}
		if err := rt.WaitRunning(context.Background()); !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("WaitRunning after stop = %v, want ErrShutdown", err)
		}
	})

	t.Run("WaitRunning ends with shutdown before running", func(t *testing.T) {
		rt := newRuntime(t, nil)
		waited := make(chan error, 1)
		go func() { waited <- rt.WaitRunning(context.Background()) }()
		rt.InitiateShutdown("early", nil, 0)
		if err := waitFor(t, waited, "WaitRunning"); !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("WaitRunning = %v, want ErrShutdown", err)
		}
		if err := rt.Start(context.Background()); !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("Start after shutdown = %v, want ErrShutdown", err)
		}
	})

	t.Run("WaitRunning honours its context", func(t *testing.T) {
		rt := newRuntime(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := rt.WaitRunning(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitRunning = %v, want context.Canceled", err)
		}
	})

	t.Run("names", func(t *testing.T) {
		tests := []struct {
			give lifecycle.State
			want string
		}{
			{lifecycle.StateBooting, "booting"},
			{lifecycle.StateRunning, "running"},
			{lifecycle.StateReloading, "reloading"},
			{lifecycle.StateShuttingDown, "shutting down"},
			{lifecycle.StateStopped, "stopped"},
			{lifecycle.State(42), "state(42)"},
		}
		for _, tt := range tests {
			if got := tt.give.String(); got != tt.want {
				t.Errorf("%d.String() = %q, want %q", int32(tt.give), got, tt.want)
			}
		}
	})
}
