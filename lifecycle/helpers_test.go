package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
)

// wait bounds every wait in the tests: long enough for a loaded CI
// machine, short enough to fail fast when something hangs.
const wait = 5 * time.Second

func newBus(t *testing.T) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(fxbus.WithCapacity(256))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// subscribe subscribes to E on b until the test ends.
func subscribe[E any](t *testing.T, b *fxbus.Bus) *fxbus.Subscription[E] {
	t.Helper()
	s := fxbus.Subscribe[E](b)
	t.Cleanup(s.Close)
	return s
}

// next returns the next event of s, failing the test after wait.
func next[E any](t *testing.T, s *fxbus.Subscription[E]) E {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("waiting for a %T: %v", ev, err)
	}
	return ev
}

// none fails the test if s has an event waiting.
func none[E any](t *testing.T, s *fxbus.Subscription[E]) {
	t.Helper()
	if ev, err := s.TryRecv(); err == nil {
		t.Fatalf("unexpected %T: %+v", ev, ev)
	}
}

// waitFor fails the test if ch is not closed (or sent on) within wait.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// newRuntime builds a runtime without signals that is stopped when the
// test ends.
func newRuntime(t *testing.T, b *fxbus.Bus, opts ...lifecycle.Option) *lifecycle.Runtime {
	t.Helper()
	rt, err := lifecycle.New(b, append([]lifecycle.Option{lifecycle.WithoutSignals()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	return rt
}

func startRuntime(t *testing.T, rt *lifecycle.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func stopRuntime(t *testing.T, rt *lifecycle.Runtime) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return rt.Stop(ctx)
}

// fakeClock advances only when a task sleeps, and records the sleeps.
type fakeClock struct {
	mu     sync.Mutex // guards now and sleeps
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// recorder records the calls made to providers, in order.
type recorder struct {
	mu    sync.Mutex // guards calls
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// recorded returns a provider whose every hook records "phase:name".
func recorded(rec *recorder, name string, prio lifecycle.Priority) lifecycle.Provider {
	hook := func(phase string) func(context.Context) error {
		return func(context.Context) error { rec.add(phase + ":" + name); return nil }
	}
	return lifecycle.NewProvider(name, prio, lifecycle.Hooks{
		Boot: hook("boot"), Validate: hook("validate"), Reload: hook("reload"), Stop: hook("stop"),
	})
}

// chanSignal is a signal source for WithSignals.
type chanSignal = chan os.Signal

func fmtAny(v any) string { return fmt.Sprintf("%#v", v) }
