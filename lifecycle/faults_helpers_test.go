package lifecycle_test

// Helpers of the fault-injection tests (faults_test.go). Their names start
// with "ft" so that they do not clash with the package's other helpers.

import (
	"context"
	"errors"
	"fmt"
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

// ftRelease returns a channel that is closed when the test ends, before
// the cleanups registered earlier run: user code blocked on it forever
// (a hung hook, a task that ignores cancellation) returns then, so that
// goleak finds no goroutine left behind.
func ftRelease(t *testing.T) chan struct{} {
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return ch
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

// ftSince fails the test if less than min has passed since begin: a
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
