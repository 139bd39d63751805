package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

// quiet are the options every Fx test app gets: no Fx log, no OS signals.
func quiet() fx.Option {
	return fx.Options(fx.NopLogger, lifecycle.With(lifecycle.WithoutSignals()))
}

// blockUntilDone is a task that runs until its context is done.
func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

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

// Helpers of the fault-injection suite (faults_test.go), some also used by
// other tests. Their names start with "ft".

// ftSlack is added to a deadline when a test checks that something ended
// within it: generous, because CI machines under -race are slow, and far
// below wait, which is how long a hang takes to be reported.
const ftSlack = 2 * time.Second

// ftLogger returns a logger that records entries from info level up.
func ftLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	return zap.New(core), logs
}

// ftLogOnce fails the test unless exactly one entry has message msg, and
// returns it.
func ftLogOnce(t *testing.T, logs *observer.ObservedLogs, msg string) observer.LoggedEntry {
	t.Helper()
	entries := logs.FilterMessage(msg).All()
	if len(entries) != 1 {
		t.Fatalf("%d log entries %q, want 1", len(entries), msg)
	}
	return entries[0]
}

// ftLogCount returns the number of entries with message msg.
func ftLogCount(logs *observer.ObservedLogs, msg string) int {
	return logs.FilterMessage(msg).Len()
}

// ftNoLog fails the test if an entry has message msg.
func ftNoLog(t *testing.T, logs *observer.ObservedLogs, msg string) {
	t.Helper()
	if n := ftLogCount(logs, msg); n != 0 {
		t.Fatalf("%d log entries %q, want none", n, msg)
	}
}

// ftField returns the field key of entry e.
func ftField(e observer.LoggedEntry, key string) any { return e.ContextMap()[key] }

// ftBus returns a bus with room for every event a test emits, closed when
// the test ends.
func ftBus(t *testing.T, log *zap.Logger) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(fxbus.WithCapacity(1024), fxbus.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// ftDrain returns every event buffered for s, without waiting. A lag
// fails the test: the counts would be wrong.
func ftDrain[E any](t *testing.T, s *fxbus.Subscription[E]) []E {
	t.Helper()
	var out []E
	for {
		ev, err := s.TryRecv()
		switch {
		case err == nil:
			out = append(out, ev)
		case errors.Is(err, fxbus.ErrEmpty), errors.Is(err, fxbus.ErrClosed):
			return out
		default:
			t.Fatalf("receiving %T: %v", ev, err)
		}
	}
}

// ftOne fails the test unless exactly one event is buffered for s, and
// returns it.
func ftOne[E any](t *testing.T, s *fxbus.Subscription[E]) E {
	t.Helper()
	evs := ftDrain(t, s)
	if len(evs) != 1 {
		var zero E
		t.Fatalf("%d %T events, want 1: %+v", len(evs), zero, evs)
	}
	return evs[0]
}

// ftApp is an application run by lifecycle.Run on its own goroutine.
type ftApp struct {
	rt    *lifecycle.Runtime
	bus   *fxbus.Bus
	code  chan int // Run's result
	begin time.Time
}

// ftRun runs lifecycle.Run with ctx, sigs as the signal source, and log as
// the logger of the bus and the runtime, on its own goroutine. setup runs
// while the application is built, before it starts: subscribe there to
// see every event. ftRun returns once the application is built.
func ftRun(t *testing.T, ctx context.Context, sigs chanSignal, log *zap.Logger, setup func(*fxbus.Bus), opts ...fx.Option) *ftApp {
	t.Helper()
	built := make(chan *ftApp, 1)
	code := make(chan int, 1)
	begin := time.Now()
	go func() {
		code <- lifecycle.Run(ctx, fx.NopLogger,
			fx.Supply(log), fx.Supply(fxbus.Config{Capacity: 1024}),
			lifecycle.With(lifecycle.WithSignals(sigs)),
			fx.Options(opts...),
			fx.Invoke(func(rt *lifecycle.Runtime, b *fxbus.Bus) {
				if setup != nil {
					setup(b)
				}
				built <- &ftApp{rt: rt, bus: b}
			}))
	}()
	select {
	case a := <-built:
		a.code, a.begin = code, begin
		return a
	case c := <-code:
		// Run may be done already (a boot that fails at once): the
		// application was built before, if it was.
		select {
		case a := <-built:
			a.code, a.begin = make(chan int, 1), begin
			a.code <- c
			return a
		default:
			t.Fatalf("Run returned %d before the application was built", c)
		}
	case <-time.After(wait):
		t.Fatal("timed out building the application")
	}
	panic("unreachable")
}

// exit waits for Run's exit code and checks that it came within limit of
// the start of Run.
func (a *ftApp) exit(t *testing.T, limit time.Duration) int {
	t.Helper()
	code := waitFor(t, a.code, "Run's exit code")
	if took := time.Since(a.begin); took > limit {
		t.Fatalf("Run took %v, want at most %v", took, limit)
	}
	return code
}

// waitRunning waits until the application runs.
func (a *ftApp) waitRunning(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.rt.WaitRunning(ctx); err != nil {
		t.Fatalf("WaitRunning: %v", err)
	}
}

var ftProbes atomic.Int64

// ftServing checks that rt serves: it is ready and not shutting down, its
// gate admits work, and a new supervised task runs to completion.
func ftServing(t *testing.T, rt *lifecycle.Runtime) {
	t.Helper()
	if !rt.Ready() || rt.IsShuttingDown() {
		t.Fatalf("not serving: state %v, cause %v", rt.State(), rt.Cause())
	}
	p, err := rt.Gate().Enter()
	if err != nil {
		t.Fatalf("gate refused work: %v", err)
	}
	p.Release()
	ran := make(chan struct{})
	name := fmt.Sprintf("ft-probe-%d", ftProbes.Add(1))
	if err := rt.Go(name, func(context.Context) error { close(ran); return nil }); err != nil {
		t.Fatalf("Go: %v", err)
	}
	waitFor(t, ran, "a probe task")
}

// ftAtLeast fails the test if less than min has passed since begin: a
// budget was not waited for.
func ftAtLeast(t *testing.T, begin time.Time, min time.Duration) {
	t.Helper()
	if took := time.Since(begin); took < min {
		t.Fatalf("took %v, want at least the %v budget", took, min)
	}
}

// ftHook returns a hook that fails in the way named by fault: "fails"
// returns err, "hangs" blocks until release, ignoring its context,
// "panics" panics with "ft: " + err's text. Each call is sent on called
// (buffered; never blocks).
func ftHook(fault string, err error, release <-chan struct{}, called chan<- struct{}) func(context.Context) error {
	return func(context.Context) error {
		select {
		case called <- struct{}{}:
		default:
		}
		switch fault {
		case "fails":
			return err
		case "hangs":
			<-release
			return nil
		case "panics":
			panic("ft: " + err.Error())
		}
		return nil
	}
}

// ftCheckFault checks that err is what ftHook's fault gives.
func ftCheckFault(t *testing.T, fault string, err, want error) {
	t.Helper()
	switch fault {
	case "fails":
		if !errors.Is(err, want) {
			t.Fatalf("error %v, want %v", err, want)
		}
	case "hangs":
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want a deadline", err)
		}
	case "panics":
		var pe *lifecycle.PanicError
		if !errors.As(err, &pe) || pe.Value != "ft: "+want.Error() {
			t.Fatalf("error %v, want a *PanicError", err)
		}
	}
}
