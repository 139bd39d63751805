package fxbus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/claviron/fxruntime/internal/deflog"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

// Config is the bus configuration [Module] reads from the Fx graph, when
// one is supplied:
//
//	fx.Supply(fxbus.Config{Capacity: 256})
type Config struct {
	// Capacity is the number of events retained per type; 0 means
	// [DefaultCapacity]. See [WithCapacity] for the valid range.
	Capacity int
}

// Module provides one [*Bus] to an Fx application and ties it to the
// application's lifecycle:
//
//   - the bus is built from an optional [Config] and an optional
//     *zap.Logger found in the graph, used as it is; without one, the
//     bus's warnings and errors (a handler's failure, panic or lag) go to
//     standard error, one line each, and nothing else is logged;
//   - [ShutdownInitiatedEvent] is emitted, once per stop, before the first OnStop
//     hook of any module runs, whether the stop comes from app.Stop, a
//     signal under app.Run, or fx.Shutdowner; and once when the start
//     fails;
//   - the bus is closed after every other OnStop hook has run, so events
//     emitted while stopping still reach their subscribers, and handlers
//     run by [Listen] and [Handle] finish before the stop returns;
//   - whatever way the application's start fails (a hook's error, a
//     timeout, a panic or runtime.Goexit, which become errors), the run
//     ends on its own, even when Fx rolls nothing back: the shutdown is
//     announced once, the bus closes and the handlers end. app.Stop after
//     a failed start returns once that end is complete; call it, as
//     fxtest and app.Run do, to know when (one race needs it: a last hook
//     that returns as the start context ends, which Fx reports as a
//     failure while every hook started). At a stop deadline that makes Fx
//     skip hooks, the run ends as soon as the runtime's stop in progress
//     (bounded by its own budget) allows, and the bus closes;
//   - an application started again after a stop gets the bus open again,
//     empty: every Listen handler has a new subscription.
//
// Pass Module at the top level of fx.New, not inside another fx.Module: it
// decorates fx.Lifecycle in the scope it is given, and only hooks appended
// through that scope are covered. The application's start fails with an
// error saying so when a hook was appended outside it. See the package
// documentation, section "Shutdown", for how it works and what it costs.
var Module fx.Option = fx.Options(
	fx.Module("fxbus",
		fx.Provide(newRelay, provideBus),
	),
	fx.Decorate(decorateLifecycle),
)

// errTopLevel says what to do when hooks escape the decoration.
const errTopLevel = "pass fxbus.Module at the top level of fx.New, not inside another fx.Module"

// runPhase is where the application's current run is. Transitions, all
// under relay.mu: idle -> starting (first OnStart) -> up (last OnStart
// returned) or failed (a hook failed, or the start context ended first);
// any of those -> stopping (first OnStop); any -> ended (the bus closed);
// ended -> starting (a restart).
type runPhase int

const (
	runIdle runPhase = iota
	runStarting
	runUp
	runFailed
	runStopping
	runEnded
)

// relay connects the lifecycle decorator to the bus without making the
// decorator depend on *Bus: a decorator of fx.Lifecycle that needs a value
// whose constructor itself needs fx.Lifecycle makes dig build that value
// twice. The bus registers itself here when it is built.
//
// The watchers of a run (watchStart, watchStop) run on goroutines of their
// own and may first be scheduled after their run has ended and the
// application has started again; an OnStart hook that Fx gave up on (its
// start context ended) may return as late. So failStart, startedOne and
// finish take the run they act on, named by its ended channel, and do
// nothing to any other: each checks, under mu, that it is still the
// current run.
type relay struct {
	inner fx.Lifecycle // the undecorated root lifecycle; set by the decorator

	mu  sync.Mutex // guards every field below
	bus *Bus       // nil until the bus is built

	phase runPhase
	// starters counts the hooks with an OnStart appended before the app
	// began to start (fx runs no hook appended later); appendedAll counts
	// every hook appended through the decoration, ours included. started
	// counts the OnStart hooks that returned nil in the current run.
	starters, started, appendedAll int
	frozen                         bool          // the first run began: appends no longer count
	startFailed                    bool          // the current run's start failed
	finishing                      bool          // finish has begun for the current run
	up                             chan struct{} // closed when the current run is up
	running                        string        // the current run's OnStart hook running, for errors
	ended                          chan struct{} // closed when the current run has ended; also names the run
}

func newRelay() *relay { return &relay{} }

func (r *relay) set(b *Bus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bus = b
}

// appended counts a hook and reports whether its OnStart will be counted
// as one the app waits for.
func (r *relay) appended(hasStart bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appendedAll++ // hooks appended later still pass through the decoration
	if r.frozen {
		return false
	}
	if hasStart {
		r.starters++
	}
	return hasStart
}

// begin is the app's first OnStart: a new run begins.
func (r *relay) begin(ctx context.Context) error {
	r.mu.Lock()
	if prev := r.ended; prev != nil && r.phase != runEnded && r.finishing {
		// The previous run is still ending (its finish runs on a
		// watcher's goroutine): a new run begins once it has.
		r.mu.Unlock()
		select {
		case <-prev:
		case <-ctx.Done():
			return fmt.Errorf("fxbus: the previous run of the application is still ending: %w", ctx.Err())
		}
		r.mu.Lock()
	}
	b := r.bus
	afterStop := r.phase == runEnded
	r.phase = runStarting
	r.frozen = true
	r.started = 0
	r.startFailed, r.finishing = false, false
	r.up = make(chan struct{})
	r.ended = make(chan struct{})
	up, ended := r.up, r.ended
	starters, all := r.starters, r.appendedAll
	r.mu.Unlock()
	if b == nil {
		return nil
	}
	b.newRun(afterStop)
	if n, ok := hookCount(r.inner); ok && n > all+1 {
		err := fmt.Errorf("fxbus: %d lifecycle hooks were appended outside fxbus.Module's scope, so the bus cannot announce the shutdown before their OnStop nor know when they have started: %s",
			n-all-1, errTopLevel)
		r.failStart(ctx, ended, err)
		r.finish(context.Background(), ended, false) // Fx runs no OnStop: our hook did not start
		return err
	}
	go r.watchStart(ctx, up, ended)
	if starters == 0 {
		r.markUp()
	}
	return nil
}

// hookCount reads the number of hooks of Fx's lifecycle, to find hooks
// appended outside the decoration. It reports false if Fx's internals are
// not the ones it knows (the check is then skipped).
func hookCount(lc fx.Lifecycle) (n int, ok bool) {
	v := reflect.ValueOf(lc)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct || v.Elem().NumField() != 1 {
		return 0, false
	}
	inner := v.Elem().Field(0)
	if inner.Kind() != reflect.Pointer || inner.IsNil() || inner.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	hooks := inner.Elem().FieldByName("hooks")
	if !hooks.IsValid() || hooks.Kind() != reflect.Slice {
		return 0, false
	}
	return hooks.Len(), true
}

// startedOne records an OnStart that returned nil; after the last one, the
// application is up, unless the start context ended meanwhile (Fx then
// reports the start as failed). run is the run the hook started in: Fx
// does not wait for a hook once the start context has ended, so the hook
// may return during a later run, which it does not count toward.
func (r *relay) startedOne(ctx context.Context, run <-chan struct{}) {
	r.mu.Lock()
	if r.ended != run {
		r.mu.Unlock()
		return
	}
	r.started++
	last := r.started == r.starters && r.phase == runStarting
	r.mu.Unlock()
	if !last {
		return
	}
	if err := ctx.Err(); err != nil {
		r.failStart(ctx, run, err)
		return
	}
	r.markUp()
}

func (r *relay) markUp() {
	r.mu.Lock()
	if r.phase != runStarting {
		r.mu.Unlock()
		return
	}
	r.phase = runUp
	b, up := r.bus, r.up
	r.mu.Unlock()
	close(up)
	if b != nil {
		b.appStarted()
	}
}

// failStart records that the start of run (named by its ended channel)
// failed with err and announces the shutdown (once). Fx then rolls back,
// running the OnStop hooks of the hooks that started, unless the start
// context is done; watchStart covers that case. It does nothing once run
// is no longer the current run.
func (r *relay) failStart(ctx context.Context, run <-chan struct{}, err error) {
	r.mu.Lock()
	if r.ended != run || (r.phase != runStarting && r.phase != runUp) {
		r.mu.Unlock()
		return
	}
	r.phase = runFailed
	r.startFailed = true
	b := r.bus
	r.mu.Unlock()
	if b != nil && !b.announceShutdown(ShutdownInitiatedEvent{Reason: "fx: start failed", Cause: err, ExitCode: 1}) {
		b.waitAnnounced(ctx)
	}
}

// watchStart ends the run itself when the start context ends before the
// application is up: Fx then runs no more OnStop hooks, so the bus would
// never close.
func (r *relay) watchStart(ctx context.Context, up, ended <-chan struct{}) {
	select {
	case <-up:
		return
	case <-ended:
		return
	case <-ctx.Done():
	}
	select {
	case <-up: // up before the context ended: a successful start
		return
	default:
	}
	r.mu.Lock()
	hook := r.running
	r.mu.Unlock()
	err := ctx.Err()
	if hook != "" {
		err = fmt.Errorf("OnStart hook %s did not return in time: %w", hook, err)
	}
	r.failStart(ctx, ended, err)
	r.finish(ctx, ended, true)
}

// stopping runs at the start of every OnStop hook: the first of a stop
// announces ShutdownInitiatedEvent (unless the stop was announced already) and
// starts watching the stop's deadline.
func (r *relay) stopping(ctx context.Context) {
	r.mu.Lock()
	b, first := r.bus, r.phase != runStopping && r.phase != runEnded
	if first {
		r.phase = runStopping
	}
	ended := r.ended
	r.mu.Unlock()
	if b == nil {
		return
	}
	if !b.announceShutdown(ShutdownInitiatedEvent{Reason: "fx: application stopping"}) {
		// Announced already, perhaps by another goroutine still running
		// the OnShutdown callbacks: no OnStop hook runs before they end.
		b.waitAnnounced(ctx)
	}
	if first && ended != nil {
		go r.watchStop(ctx, ended)
	}
}

// watchStop ends the run when the stop's deadline passes first: Fx skips
// the OnStop hooks left, the bus's among them.
func (r *relay) watchStop(ctx context.Context, ended <-chan struct{}) {
	select {
	case <-ended:
	case <-ctx.Done():
		r.finish(ctx, ended, true)
	}
}

// end is the app's last OnStop: the run is over.
func (r *relay) end(ctx context.Context) error {
	r.stopping(ctx) // in case no other hook had an OnStop
	r.mu.Lock()
	run := r.ended // nil if the app never started
	r.mu.Unlock()
	return r.finish(ctx, run, false)
}

// finish ends run (named by its ended channel; nil if the app never
// started), once: the packages built on the bus finish (OnRunEnd), the bus
// closes, and the handlers of Listen drain what the bus holds for them.
// abandoned says that Fx will run no more hooks of this run (its context
// is done): the handlers are then not waited for. A run that is no longer
// the current one has ended: finish leaves the current one alone.
func (r *relay) finish(ctx context.Context, run <-chan struct{}, abandoned bool) error {
	r.mu.Lock()
	if run == nil || r.ended != run || r.finishing || r.phase == runEnded {
		// Never started, ended, or ending on another goroutine (a
		// watcher that saw a deadline): the caller, app.Stop's last
		// hook, returns only once the run has ended, within its context.
		r.mu.Unlock()
		if run != nil && !abandoned {
			select {
			case <-run:
			case <-ctx.Done():
			}
		}
		return nil
	}
	r.finishing = true
	b, startFailed, ended := r.bus, r.startFailed, r.ended
	r.mu.Unlock()

	var err error
	if b != nil {
		ev := ShutdownInitiatedEvent{Reason: "fx: application stopping"}
		if startFailed {
			ev = ShutdownInitiatedEvent{Reason: "fx: start failed", Cause: ctx.Err(), ExitCode: 1}
		}
		if !b.announceShutdown(ev) {
			// Another goroutine may still be emitting the announcement:
			// the bus must not close before it has. Its callbacks are
			// quick by contract, so this wait needs no deadline.
			b.waitAnnounced(context.Background())
		}
		b.runEnded(startFailed)
		b.Close()
		err = waitListeners(ctx, b.runListeners(), abandoned)
	}
	r.mu.Lock()
	r.phase = runEnded
	r.mu.Unlock()
	close(ended)
	return err
}

type busParams struct {
	fx.In

	Config    Config      `optional:"true"`
	Logger    *zap.Logger `optional:"true"`
	Relay     *relay
	Lifecycle fx.Lifecycle // asked for so that decorateLifecycle runs
}

func provideBus(p busParams) (*Bus, error) {
	capacity := p.Config.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	if capacity < 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("fxbus: Config.Capacity: capacity %d is out of range: want 0 (the default, %d) or 1 to %d events per type",
			capacity, DefaultCapacity, MaxCapacity)
	}
	log := p.Logger
	if log == nil { // never silent: warnings and errors on stderr
		log = deflog.Stderr()
	}
	b, err := New(WithCapacity(capacity), WithLogger(log))
	if err != nil {
		return nil, err
	}
	b.phases.managed.Store(true)
	p.Relay.set(b)
	if al, ok := p.Lifecycle.(*announcingLifecycle); ok {
		al.bus = b
	}
	return b, nil
}

// decorateLifecycle wraps the root fx.Lifecycle so that every OnStop hook
// appended through it first announces the shutdown, and every OnStart hook
// is counted so that the bus learns when the last one has returned.
// Because dig runs it when fx.Lifecycle is first asked for, the hook it
// appends to the inner lifecycle is the application's first: it starts
// first, which begins a run, and stops last, which is where the bus closes.
func decorateLifecycle(lc fx.Lifecycle, r *relay) fx.Lifecycle {
	r.inner = lc
	lc.Append(fx.Hook{OnStart: r.begin, OnStop: r.end})
	return &announcingLifecycle{lc: lc, relay: r}
}

// announcingLifecycle is the fx.Lifecycle the application's modules see.
type announcingLifecycle struct {
	lc    fx.Lifecycle
	relay *relay
	bus   *Bus // set when the bus is built in this scope
}

// Append appends h with its OnStart guarded (a panic or runtime.Goexit
// becomes an error, and a failure fails the run) and followed by a count
// of started hooks, and its OnStop preceded by the shutdown announcement
// and guarded the same way. Fx's event log names the hook's own functions
// (see withNames), and the caller that Fx records is this method.
func (l *announcingLifecycle) Append(h fx.Hook) {
	r := l.relay
	counted := r.appended(h.OnStart != nil)
	h, hiddenStart, hiddenStop := withNames(h)
	startName, stopName := hookNames(h)
	if start := h.OnStart; start != nil {
		if hiddenStart {
			startName = fxFuncName(start)
		}
		h.OnStart = func(ctx context.Context) error {
			// The hook's run is the current one only while its start
			// context lives: a run ends before its start context only
			// once Fx has stopped calling its hooks. Fx checks the context
			// before calling a hook, but a check made just before the
			// context ends lets a hook be called after its run ended and
			// the next began; it then belongs to no run (nil), and
			// neither counts, fails a start nor names the running hook.
			r.mu.Lock()
			var run <-chan struct{}
			if ctx.Err() == nil {
				run = r.ended
				r.running = startName
			}
			r.mu.Unlock()
			r.logHidden(hiddenStart, "OnStart", startName, nil)
			err := runHook("OnStart", startName, ctx, start)
			r.mu.Lock()
			if run != nil && r.ended == run { // a hook Fx gave up on may return in a later run
				r.running = ""
			}
			r.mu.Unlock()
			r.logHidden(hiddenStart, "OnStart", startName, err)
			switch {
			case err != nil:
				r.failStart(ctx, run, err)
			case counted:
				r.startedOne(ctx, run)
			}
			return err
		}
	}
	if stop := h.OnStop; stop != nil {
		if hiddenStop {
			stopName = fxFuncName(stop)
		}
		h.OnStop = func(ctx context.Context) error {
			r.stopping(ctx)
			r.logHidden(hiddenStop, "OnStop", stopName, nil)
			err := runHook("OnStop", stopName, ctx, stop)
			r.logHidden(hiddenStop, "OnStop", stopName, err)
			return err
		}
	}
	l.lc.Append(h)
}

// logHidden logs, under its own name, the execution (err nil, before the
// call) or failure of a hook function that Fx's event log shows as the
// bus's wrapper; it does nothing for a function Fx names (hidden false).
func (r *relay) logHidden(hidden bool, what, name string, err error) {
	if !hidden {
		return
	}
	r.mu.Lock()
	b := r.bus
	r.mu.Unlock()
	if b == nil {
		return
	}
	log := b.log.Named("fxbus")
	if err != nil {
		log.Error(what+" hook failed", zap.String("hook", name), zap.Error(err))
		return
	}
	log.Debug(what+" hook executing", zap.String("hook", name))
}

// ErrGoexit is wrapped by the error that a hook or handler gets when the
// function it ran called runtime.Goexit (as t.FailNow and log.Fatal-like
// helpers do) instead of returning.
var ErrGoexit = errors.New("the function called runtime.Goexit instead of returning")

// runHook calls f on a goroutine of its own and returns its result, with
// a panic turned into an error carrying the stack and a call of
// runtime.Goexit into [ErrGoexit]: either would otherwise end Fx's own
// goroutine, which then runs no later hook.
func runHook(what, name string, ctx context.Context, f func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if v := recover(); v != nil {
				errc <- fmt.Errorf("fxbus: %s hook %s panicked: %v\n%s", what, name, v, debug.Stack())
				return
			}
			if !returned {
				errc <- fmt.Errorf("fxbus: %s hook %s: %w", what, name, ErrGoexit)
			}
		}()
		err := f(ctx)
		returned = true
		errc <- err
	}()
	return <-errc
}
