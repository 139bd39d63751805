package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
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
	return buildRuntime(t, b, append([]lifecycle.Option{lifecycle.WithoutSignals()}, opts...))
}

// newSignalRuntime is newRuntime reading signals from sigs.
func newSignalRuntime(t *testing.T, b *fxbus.Bus, sigs <-chan os.Signal, opts ...lifecycle.Option) *lifecycle.Runtime {
	t.Helper()
	return buildRuntime(t, b, append([]lifecycle.Option{lifecycle.WithSignals(sigs)}, opts...))
}

func buildRuntime(t *testing.T, b *fxbus.Bus, opts []lifecycle.Option) *lifecycle.Runtime {
	t.Helper()
	rt, err := lifecycle.New(b, opts...)
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

// eventually polls cond until it holds, and fails the test after wait
// with what and, from seen, what was observed last. It is for states
// that no event announces; wait on a channel where there is one.
func eventually(t *testing.T, what string, cond func() bool, seen func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not %s; seen: %s", wait, what, seen())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// notPanicking runs f and fails the test, rather than crashing the test
// binary, if f panics.
func notPanicking(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// entryText is a log entry's message and fields, for substring checks.
func entryText(e observer.LoggedEntry) string {
	var sb strings.Builder
	sb.WriteString(e.Message)
	for k, v := range e.ContextMap() {
		fmt.Fprintf(&sb, " %s=%v", k, v)
	}
	return sb.String()
}

// debugLogger returns a logger that records every entry, debug included.
func debugLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// loggedWith returns the entries at level min or above whose message or
// fields contain every one of subs.
func loggedWith(logs *observer.ObservedLogs, min zapcore.Level, subs ...string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.All() {
		if e.Level < min {
			continue
		}
		text := entryText(e)
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(text, s)
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// allLogged returns every entry of logs as text, one per line, for
// failure messages.
func allLogged(logs *observer.ObservedLogs) string {
	var sb strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&sb, "\n  %v %s", e.Level, entryText(e))
	}
	return sb.String()
}

// stopLater stops app when the test ends, within wait, so that a test that
// fails half way leaves no application running for the next one.
func stopLater(t *testing.T, app *fx.App) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = app.Stop(ctx)
	})
}

// releaser returns a channel for user code to block on and a function
// that closes it, once; the channel is also closed when the test ends, so
// that nothing blocked on it outlives the test.
func releaser(t *testing.T) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return ch, release
}
