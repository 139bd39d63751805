package fxbus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
)

type restartEvent struct{}

// lateWakeups is how many times a test wakes a stale watcher. Each wake
// with both of its select cases ready picks one at random: a watcher that
// acts on the current run does so, on average, every second wake.
const lateWakeups = 64

// runChannels returns the up and ended channels of the relay's current run.
func runChannels(r *relay) (up, ended chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up, r.ended
}

// restartApp builds an application with Module, a Listen handler of
// restartEvent, and the hooks given; it returns the bus and its relay.
func restartApp(t *testing.T, opts ...fx.Option) (*fx.App, *Bus, *relay) {
	t.Helper()
	var bus *Bus
	var r *relay
	opts = append([]fx.Option{
		fx.NopLogger, Module, fx.Populate(&bus, &r),
		Handle(func(context.Context, restartEvent) error { return nil }),
	}, opts...)
	app := fx.New(opts...)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	return app, bus, r
}

// requireRunOpen fails unless the current run is up with its bus open:
// an emit reaches the Listen handler's subscription.
func requireRunOpen(t *testing.T, bus *Bus, r *relay, after string) {
	t.Helper()
	r.mu.Lock()
	phase := r.phase
	r.mu.Unlock()
	if phase != runUp {
		t.Errorf("%s: the second run is in phase %d, want %d (up)", after, phase, runUp)
	}
	if n := Emit(bus, restartEvent{}); n != 1 {
		t.Errorf("%s: an emit in the second run reached %d subscribers, want 1: its bus was closed", after, n)
	}
	if bus.shutdownAnnounced() {
		t.Errorf("%s: the second run's shutdown was announced, though nothing stopped it", after)
	}
}

// A stop watches its context on a goroutine of its own, which may first
// run after the stop has ended and its context was cancelled (fxtest and
// most callers cancel it once app.Stop returns): by then the application
// may have started again. That watcher leaves the new run alone: its bus
// stays open and its shutdown unannounced until its own stop.
func TestRunStartedAgainIsNotEndedByThePreviousStopsWatcher(t *testing.T) {
	app, bus, r := restartApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopCtx, stopCancel := context.WithCancel(context.Background())
	if err := app.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	stopCancel()
	_, ended1 := runChannels(r)

	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The first run's watcher, scheduled only now: its run has ended
	// and its stop context is done.
	for range lateWakeups {
		r.watchStop(stopCtx, ended1)
	}
	requireRunOpen(t, bus, r, "after the first stop's watcher woke")
	if err := app.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// The same for the watcher of a start that failed: once that run has
// ended and the application has started again, the watcher neither fails
// nor ends the new run.
func TestRunStartedAgainIsNotEndedByAFailedStartsWatcher(t *testing.T) {
	fail := true
	app, bus, r := restartApp(t, fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.StartHook(func() error {
			if fail {
				return errors.New("first start fails")
			}
			return nil
		}))
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	startCtx, startCancel := context.WithCancel(context.Background())
	if err := app.Start(startCtx); err == nil {
		t.Fatal("the first start succeeded, want its hook's error")
	}
	startCancel()
	up1, ended1 := runChannels(r)
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	fail = false
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range lateWakeups {
		r.watchStart(startCtx, up1, ended1)
	}
	requireRunOpen(t, bus, r, "after the failed start's watcher woke")
	if err := app.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// hookRecorder is an fx.Lifecycle that keeps the hooks appended to it, so
// that a test runs them itself, in any order and at any time.
type hookRecorder struct{ hooks []fx.Hook }

func (h *hookRecorder) Append(hook fx.Hook) { h.hooks = append(h.hooks, hook) }

// abandonedStart is a relay, driven the way Fx drives it, after a first
// run whose start Fx gave up on (its start context ended) while that run's
// first OnStart hook still ran. first and second are the decorated hooks;
// the first call of first returns only on returnStale, with its result on
// staleDone; second is the hook given. upCalls gets a value each time
// the application comes up (OnAppStarted), from before the first run on.
type abandonedStart struct {
	bus           *Bus
	r             *relay
	first, second func(context.Context) error
	staleDone     chan error
	returnStale   func()
	upCalls       chan struct{}
}

func newAbandonedStart(t *testing.T, second func(context.Context) error) *abandonedStart {
	t.Helper()
	bus, err := New()
	if err != nil {
		t.Fatal(err)
	}
	bus.phases.managed.Store(true)
	r := newRelay()
	r.set(bus)
	inner := &hookRecorder{}
	lc := &announcingLifecycle{lc: inner, relay: r, bus: bus}

	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	lc.Append(fx.Hook{OnStart: func(context.Context) error {
		calls++ // the tests run the hooks one at a time
		if calls == 1 {
			close(entered)
			<-release // the first run's start gives up on it
		}
		return nil
	}})
	lc.Append(fx.Hook{OnStart: second})
	a := &abandonedStart{
		bus: bus, r: r,
		first: inner.hooks[0].OnStart, second: inner.hooks[1].OnStart,
		staleDone: make(chan error, 1), returnStale: func() { close(release) },
		upCalls: make(chan struct{}, 4),
	}
	bus.onAppStarted(func() { a.upCalls <- struct{}{} })

	// Run 1: the first hook is still running when the start context ends;
	// Fx returns and the start watcher ends the run.
	start1, cancel1 := context.WithCancel(context.Background())
	if err := r.begin(start1); err != nil {
		t.Fatal(err)
	}
	_, ended1 := runChannels(r)
	go func() { a.staleDone <- a.first(start1) }()
	<-entered
	cancel1()
	<-ended1
	if err := r.end(context.Background()); err != nil { // app.Stop
		t.Fatal(err)
	}
	return a
}

// An OnStart hook that Fx gave up on (its start context ended first) may
// return long after, once the application has started again: Fx's start
// does not wait for it. It does not count as one of the new run's hooks,
// so the new run is up when, and only when, its own last OnStart hook has
// returned.
func TestOnStartHookOfAnAbandonedStartDoesNotCountInTheNextRun(t *testing.T) {
	a := newAbandonedStart(t, func(context.Context) error { return nil })
	r, first, second := a.r, a.first, a.second

	// Run 2: its first hook returns; then the first run's hook returns;
	// then run 2's last hook returns.
	start2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if err := r.begin(start2); err != nil {
		t.Fatal(err)
	}
	if err := first(start2); err != nil {
		t.Fatal(err)
	}
	a.returnStale()
	if err := <-a.staleDone; err != nil {
		t.Fatal(err)
	}
	if err := second(start2); err != nil {
		t.Fatal(err)
	}

	up2, _ := runChannels(r)
	select {
	case <-up2:
	default:
		r.mu.Lock()
		phase, started, starters := r.phase, r.started, r.starters
		r.mu.Unlock()
		t.Fatalf("every OnStart hook of run 2 returned, but run 2 is not up: phase %d, %d of %d hooks counted as started",
			phase, started, starters)
	}
	if n := len(a.upCalls); n != 1 {
		t.Errorf("OnAppStarted ran %d times, want once (run 2; run 1 never came up)", n)
	}
	if err := r.end(context.Background()); err != nil {
		t.Error(err)
	}
}

// An OnStart hook that Fx gave up on may return while the next run's start
// runs another hook. If that hook then outlasts the start context, the
// error names it: the late return of the earlier run's hook does not erase
// which hook the current run is waiting for.
func TestStartTimeoutNamesTheHookOfItsOwnRunAfterALateHookOfAnEarlierRun(t *testing.T) {
	blocking, unblock := make(chan struct{}), make(chan struct{})
	a := newAbandonedStart(t, func(context.Context) error {
		close(blocking)
		<-unblock // outlasts run 2's start
		return nil
	})
	bus, r, first, second := a.bus, a.r, a.first, a.second

	// Run 2: its first hook returns, its second blocks; meanwhile the
	// first run's hook returns; then run 2's start context ends.
	start2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if err := r.begin(start2); err != nil {
		t.Fatal(err)
	}
	sub := Subscribe[ShutdownInitiatedEvent](bus) // the bus is run 2's
	defer sub.Close()
	_, ended2 := runChannels(r)
	if err := first(start2); err != nil {
		t.Fatal(err)
	}
	secondDone := make(chan error, 1)
	go func() { secondDone <- second(start2) }()
	<-blocking
	a.returnStale()
	if err := <-a.staleDone; err != nil {
		t.Fatal(err)
	}
	cancel2()
	<-ended2
	close(unblock)
	<-secondDone

	ev, err := sub.TryRecv()
	if err != nil {
		t.Fatalf("run 2's failed start announced no ShutdownInitiatedEvent: %v", err)
	}
	if ev.Cause == nil || !strings.Contains(ev.Cause.Error(), "did not return in time") {
		t.Errorf("run 2's start failed with %v, want an error naming the OnStart hook that did not return in time", ev.Cause)
	}
	if err := r.end(context.Background()); err != nil {
		t.Error(err)
	}
}

// Fx's start checks its context before each OnStart hook, then calls it:
// a check made just before the context ends lets the hook begin after it
// has, and its goroutine, descheduled there, may call it once the start
// was abandoned, the application stopped and its next run begun. Such a
// hook, called with the ended start context of its own run, neither fails
// nor counts toward the run then current.
func TestOnStartHookCalledAfterItsStartWasAbandonedLeavesTheNextRunsStartAlone(t *testing.T) {
	bus, err := New()
	if err != nil {
		t.Fatal(err)
	}
	bus.phases.managed.Store(true)
	r := newRelay()
	r.set(bus)
	inner := &hookRecorder{}
	lc := &announcingLifecycle{lc: inner, relay: r, bus: bus}
	lc.Append(fx.Hook{OnStart: func(context.Context) error { return nil }})
	lc.Append(fx.Hook{OnStart: func(ctx context.Context) error { return ctx.Err() }})
	first, second := inner.hooks[0].OnStart, inner.hooks[1].OnStart

	// Run 1: its first hook returns; its start context ends before Fx
	// calls the second, and the start watcher ends the run; app.Stop.
	start1, cancel1 := context.WithCancel(context.Background())
	if err := r.begin(start1); err != nil {
		t.Fatal(err)
	}
	_, ended1 := runChannels(r)
	if err := first(start1); err != nil {
		t.Fatal(err)
	}
	cancel1()
	<-ended1
	if err := r.end(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Run 2 starts; its first hook returns; then run 1's start calls its
	// second hook, late; then run 2's second hook returns.
	start2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if err := r.begin(start2); err != nil {
		t.Fatal(err)
	}
	sub := Subscribe[ShutdownInitiatedEvent](bus) // the bus is run 2's
	defer sub.Close()
	up2, _ := runChannels(r)
	if err := first(start2); err != nil {
		t.Fatal(err)
	}
	if err := second(start1); !errors.Is(err, context.Canceled) {
		t.Fatalf("run 1's late second hook returned %v, want its own context's error", err)
	}
	if err := second(start2); err != nil {
		t.Fatal(err)
	}

	if ev, err := sub.TryRecv(); err == nil {
		t.Errorf("run 2's start was announced failed: %+v (cause %v)", ev, ev.Cause)
	}
	select {
	case <-up2:
	default:
		r.mu.Lock()
		phase, started, starters := r.phase, r.started, r.starters
		r.mu.Unlock()
		t.Errorf("every OnStart hook of run 2 returned nil, but run 2 is not up: phase %d, %d of %d hooks counted as started",
			phase, started, starters)
	}
	if err := r.end(context.Background()); err != nil {
		t.Error(err)
	}
}
