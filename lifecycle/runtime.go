package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"github.com/claviron/fxruntime/internal/runhooks"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/deflog"
	"go.uber.org/zap"
)

// Runtime runs an application's providers and supervised tasks from boot
// to shutdown and announces each phase on a bus. Build it with [New], or
// let [Module] build one per Fx application.
//
// A runtime runs in runs: Start begins one, Stop ends it, and Start may
// be called again once it has stopped, as Fx does when an application is
// started again: the new run has a new shutdown token ([Runtime.Context]),
// boots the providers again and starts the registered tasks again.
//
// Every method is safe for concurrent use, except that Start and Stop are
// called one after the other, as Fx does. The zero value is not usable.
type Runtime struct {
	// Set by New (readyLater by Module, before Start), never changed.
	bus        *fxbus.Bus // may be nil: no events
	log        *zap.Logger
	cfg        Config // defaults applied
	clock      Clock
	signals    <-chan os.Signal // injected source; nil means os/signal
	noSignals  bool
	forceExit  func(code int)
	stopper    func(code int) // asks the host to stop; nil without Fx
	readyLater bool           // the bus says when the app is up: see becomeReady
	gate       *Gate
	sd         *sdNotifier // systemd's notification socket; nil without one
	// testHookTaskLeft, if set (by a test, before Start), is called
	// between a task's leaving the run's names and its TaskStoppedEvent.
	testHookTaskLeft func(name string)
	// testHookShutdownBegun, if set (by a test, before Start), is called
	// by the call of shutdownRun that begins a run's shutdown, right after
	// it has recorded it, before its announcement.
	testHookShutdownBegun func(reason string)
	// testHookShutdownJoined, if set (by a test, before Start), is called
	// by a call of shutdownRun that finds the run's shutdown begun
	// already, before it makes sure the gate is closed and the token
	// cancelled.
	testHookShutdownJoined func(reason string)

	// state mirrors phase (and the current run's shutdown) as a public
	// State; written under mu by setPhase, read lock-free.
	state atomic.Int32

	mu        sync.Mutex // guards the fields below, and run's fields marked so
	phase     phase
	run       *run        // the current run; never nil
	providers []*provider // in boot order (plan.providers); set before the first Start
	plan      *plan       // the order of the providers and why; set before the first Start
	defs      []Task      // tasks every run starts: registered before the first Start
}

// phase is where the runtime is. The transitions, all under Runtime.mu
// through setPhase:
//
//	idle -> booting            Start (first run)
//	stopped -> booting         Start (a new run)
//	booting -> booted          the providers booted
//	booting -> stopped         the boot failed and was rolled back
//	booted -> running          the application is up (becomeReady)
//	running <-> reloading      a reload run
//	idle|booting|booted|running|reloading -> shuttingDown
//	                           shutdown began (beginShutdown)
//	any but stopped -> stopping   Stop, or the end of a run Fx abandoned
//	stopping -> stopped
//
// A shutdown that begins while booting leaves the boot to finish; the
// runtime then stays shutting down until Stop.
type phase int

const (
	phaseIdle phase = iota
	phaseBooting
	phaseBooted
	phaseRunning
	phaseReloading
	phaseShuttingDown
	phaseStopping
	phaseStopped
)

// setPhase moves to p and publishes the matching State. Callers hold mu.
func (r *Runtime) setPhase(p phase) {
	r.phase = p
	var s State
	switch p {
	case phaseIdle, phaseBooting, phaseBooted:
		s = StateBooting
	case phaseRunning:
		s = StateRunning
	case phaseReloading:
		s = StateReloading
	case phaseShuttingDown, phaseStopping:
		s = StateShuttingDown
	case phaseStopped:
		s = StateStopped
	}
	if r.run.shutdown != nil && s < StateShuttingDown {
		s = StateShuttingDown
	}
	r.state.Store(int32(s))
	r.sdPhase(p)
}

// run is one run of the runtime: from Start (or New, for the first) to
// the end of Stop.
type run struct {
	ctx      context.Context // the shutdown token
	cancel   context.CancelCauseFunc
	running  chan struct{} // closed, under mu, when the run first runs
	started  chan struct{} // closed when Start has returned (or never runs)
	finished chan struct{} // closed, under mu, when the run has stopped
	ended    chan struct{} // closed, under mu, when fxbus.Module has ended the app's run (runEnded)
	reload   reloader
	bg       sync.WaitGroup // counts the reload loop
	sig      signalLoop
	// stopSignals counts the interrupt and termination signals the run
	// received; only the signal goroutine adds to it. forceAt is the
	// count that forces the exit (0 means 2), used by the signal
	// goroutine only.
	stopSignals atomic.Int32
	forceAt     int32
	begun       chan struct{} // closed once the shutdown has begun and been announced
	// settled is closed by the call of shutdownRun that began the run's
	// shutdown once it has done all it does (gate, announcement, token,
	// host). The run does not end before: that call may come from any
	// goroutine, and what it does belongs to this run, not the next.
	settled chan struct{}
	// reports gates the events of the run's tasks; endRun ends it
	// before the run's StoppedEvent. A task that outlives the stop
	// budget may return once the bus is already the next run's
	// (fxbus.Module reopens it before the next Start waits for the
	// task), and its events belong to this run, not the next.
	reports runhooks.Gate

	// Guarded by Runtime.mu.
	shutdown *ShutdownError   // nil until shutdown begins
	delay    delayState       // the shutdown delay
	booted   []*provider      // booted providers, in boot order
	tasks    map[string]*task // by name, until the task has stopped
	// supervised are the tasks whose goroutine has started and not yet
	// returned: a task leaves tasks before it reports that it stopped,
	// and the drain waits for the report as well.
	supervised map[*task]struct{}
	spawned    bool    // tasks start at once rather than wait for Start
	pending    []*task // registered before Start
	startedAt  time.Time
}

func newRun() *run {
	ru := &run{
		running:    make(chan struct{}),
		started:    make(chan struct{}),
		finished:   make(chan struct{}),
		ended:      make(chan struct{}),
		begun:      make(chan struct{}),
		settled:    make(chan struct{}),
		tasks:      make(map[string]*task),
		supervised: make(map[*task]struct{}),
		delay:      delayState{cut: make(chan struct{})},
	}
	ru.ctx, ru.cancel = context.WithCancelCause(context.Background())
	ru.reload.init()
	return ru
}

// New returns a runtime that emits its events on bus (nil for none). It
// fails, naming the value at fault, on an invalid option, a nil or
// duplicate provider or task, an invalid task, or an ordering edge that
// names no provider or closes a cycle ([*CycleError]).
func New(bus *fxbus.Bus, opts ...Option) (*Runtime, error) {
	var o options
	for _, opt := range opts {
		if isNil(opt) {
			o.errs = append(o.errs, errors.New("lifecycle: New: nil Option"))
			continue
		}
		opt.apply(&o)
	}
	o.check()
	if err := o.cfg.validate(); err != nil {
		o.errs = append(o.errs, err)
	}
	plan, err := o.newPlan()
	if err != nil {
		o.errs = append(o.errs, err)
	}
	for _, t := range o.tasks {
		if err := t.validate(); err != nil {
			o.errs = append(o.errs, err)
		}
	}
	if len(o.errs) > 0 {
		return nil, errors.Join(o.errs...)
	}

	r := &Runtime{
		bus:       bus,
		log:       o.log,
		cfg:       o.cfg.withDefaults(),
		clock:     o.clock,
		signals:   o.signals,
		noSignals: o.noSignals,
		forceExit: o.forceExit,
		stopper:   o.stopper,
		providers: wrapProviders(plan.providers),
		plan:      plan,
		gate:      new(Gate),
		run:       newRun(),
	}
	if r.log == nil {
		r.log = o.graphLog
	}
	if r.log == nil && bus != nil {
		r.log = bus.Logger()
	}
	if r.log == nil { // never silent: warnings and errors on stderr
		r.log = deflog.Stderr()
	}
	r.log = r.log.Named("lifecycle")
	r.sd = newSDNotifier(r.log)
	if o.runForceExit != nil {
		r.forceExit = o.runForceExit
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.forceExit == nil {
		r.forceExit = os.Exit
	}
	if err := errors.Join(r.bindProviders(o.providers), r.addDefs(o.tasks)); err != nil {
		r.run.cancel(nil)
		return nil, err
	}
	return r, nil
}

// register adds providers and tasks to a runtime that has not started:
// Module collects its value groups after the runtime is built, so that
// their constructors may depend on the runtime and its gate. It fails, as
// New does, on a nil, unnamed or duplicate provider, an invalid task or
// an ordering edge that names no provider or closes a cycle.
func (r *Runtime) register(ps []Provider, ts []Task, deps *dependencies) error {
	r.mu.Lock()
	idle := r.phase == phaseIdle
	r.mu.Unlock()
	if !idle {
		return errors.New("lifecycle: providers and tasks must be registered before Start")
	}
	plan, err := r.plan.with(ps, deps)
	if err != nil {
		return err
	}
	if err := r.bindProviders(ps); err != nil {
		return err
	}
	if err := r.addDefs(ts); err != nil {
		return err
	}
	r.mu.Lock()
	r.providers, r.plan = wrapProviders(plan.providers), plan
	r.mu.Unlock()
	return nil
}

// Gate returns the runtime's gate for in-flight work. It refuses new work
// once shutdown begins and is drained on stop; a new run opens it again.
func (r *Runtime) Gate() *Gate { return r.gate }

// Providers returns the provider names in boot order.
func (r *Runtime) Providers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, len(r.providers))
	for i, p := range r.providers {
		names[i] = p.Name()
	}
	return names
}

// Start begins a run: it boots the providers in order within ctx (the
// start budget), then starts the signal handling, the reload loop and the
// tasks. Without Fx it then moves the runtime to [StateRunning]; under
// [Module], once every OnStart hook of the application has returned. If a
// provider fails to boot (or does not return before ctx is done), those
// already booted are stopped in reverse order within
// [Config.RollbackTimeout], the run stops, and Start returns a
// [*ProviderError] naming the provider.
//
// Start fails if the runtime is running, and with an error matching
// [ErrShutdown] if shutdown was initiated before it (that run ends there).
// Once a run has stopped, Start begins a new one.
func (r *Runtime) Start(ctx context.Context) error {
	if err := r.waitPreviousTasks(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	again := false // a new run, after a stop
	switch r.phase {
	case phaseIdle:
	case phaseStopped:
		r.run = newRun()
		r.gate.reopen()
		again = true
		if r.bus != nil {
			runhooks.Of(r.bus).NewRun()
		}
	case phaseShuttingDown:
		if !r.run.startedAt.IsZero() {
			r.mu.Unlock()
			return errors.New("lifecycle: Start: the runtime is shutting down: wait for its stop before starting it again")
		}
		// Shutdown was initiated before the run started: it ends here.
		ru := r.run
		cause := ru.shutdown
		r.setPhase(phaseStopped)
		close(ru.started)
		close(ru.finished)
		r.mu.Unlock()
		err := wrap("Start", cause)
		emit(r, StoppedEvent{Err: err})
		return err
	default:
		s := r.State()
		r.mu.Unlock()
		return fmt.Errorf("lifecycle: Start: the runtime is %s: stop it before starting it again", s)
	}
	ru := r.run
	ru.startedAt = time.Now()
	r.sdStartLocked()
	r.setPhase(phaseBooting)
	defs := r.defs
	r.mu.Unlock()
	defer close(ru.started)
	if again { // the registered tasks run again
		for _, t := range defs {
			if err := r.addTask(ru, t); err != nil {
				r.log.Error("task not started", zap.String("task", t.Name), zap.Error(err))
			}
		}
	}

	if err := r.bootAll(ctx, ru); err != nil {
		r.log.Error("boot failed", zap.Error(err))
		r.beginShutdown("boot failed", err, ExitFailure, false)
		r.awaitSettled(ru)
		r.mu.Lock()
		r.setPhase(phaseStopped)
		close(ru.finished)
		r.mu.Unlock()
		r.sdStop()
		emit(r, StoppedEvent{Duration: time.Since(ru.startedAt), Err: err})
		return err
	}

	r.startSignals(ru)
	ru.bg.Add(1)
	go r.reloadLoop(ru)
	r.startTasks(ru)
	d := time.Since(ru.startedAt)
	names := r.Providers()
	emit(r, BootedEvent{Duration: d, Providers: names})
	r.log.Info("booted", zap.Duration("duration", d), zap.Strings("providers", names))
	r.mu.Lock()
	if r.phase == phaseBooting {
		r.setPhase(phaseBooted)
	}
	r.mu.Unlock()
	if !r.readyLater {
		r.becomeReady()
	}
	return nil
}

// waitPreviousTasks waits, within ctx, for the tasks of a stopped run
// that did not return within its stop budget: a new run starts its tasks
// again, and a task's name is unique among the live ones. It fails naming
// those still running.
func (r *Runtime) waitPreviousTasks(ctx context.Context) error {
	r.mu.Lock()
	var live []*task
	if r.phase == phaseStopped {
		for tk := range r.run.supervised {
			live = append(live, tk)
		}
	}
	r.mu.Unlock()
	var names []string
	for _, tk := range live {
		select {
		case <-tk.done:
		case <-ctx.Done():
			names = append(names, strconv.Quote(tk.Name))
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		return fmt.Errorf("lifecycle: Start: the previous run's tasks %s have not returned: a new run starts once they have: %w",
			strings.Join(names, ", "), ctx.Err())
	}
	return nil
}

// becomeReady moves a booted runtime to running and announces it, unless
// shutdown began. Under Module it runs when the app's last OnStart hook has
// returned, so that ReadyEvent means every component has started.
func (r *Runtime) becomeReady() {
	r.mu.Lock()
	if r.phase != phaseBooted {
		r.mu.Unlock()
		return
	}
	r.setPhase(phaseRunning)
	close(r.run.running)
	r.mu.Unlock()
	emit(r, ReadyEvent{})
	r.log.Info("ready")
}

// Stop ends the run, within ctx (the stop budget):
//
//  1. begin shutdown, if nothing did yet (see [Runtime.InitiateShutdown]);
//     wait for what is left of the [Config.ShutdownDelay], if one
//     applies, then close the gate and cancel the shutdown token;
//  2. wait for the gate to drain, for at most [Config.GateTimeout];
//  3. wait for the cancelled tasks, for at most [Config.TaskTimeout], and
//     report those that did not return in a [*DrainError];
//  4. wait for a reload in progress to end;
//  5. stop the booted providers in reverse order; a provider whose earlier
//     hook (a reload abandoned at its deadline) is still running is waited
//     for within ctx, and its Stop is skipped and reported if that hook
//     does not return: a provider's hooks never run at the same time;
//  6. stop listening to signals and move to [StateStopped].
//
// Failures do not stop the sequence: Stop returns them joined. A Stop of a
// stopped run, or while another Stop runs, waits for that one (within ctx)
// and returns nil. A Stop before Start ends the first run unstarted.
func (r *Runtime) Stop(ctx context.Context) error {
	ru := r.current()
	r.shutdownRun(ru, "runtime stopping", nil, 0, false)
	if !r.claimStop(ctx, ru) {
		return nil
	}
	return r.stopRun(ctx, ru)
}

// claimStop moves run ru to stopping, or reports false if it needs no
// stop: it stopped, is stopping, never started, or is no longer the
// current run (a new run began). It first waits, within ctx, for a stop
// in progress or a Start still booting.
func (r *Runtime) claimStop(ctx context.Context, ru *run) bool {
	for {
		r.mu.Lock()
		if r.run != ru {
			r.mu.Unlock()
			return false
		}
		switch r.phase {
		case phaseStopping, phaseStopped:
			r.mu.Unlock()
			select {
			case <-ru.finished:
			case <-ctx.Done():
			}
			return false
		case phaseBooting:
			r.mu.Unlock()
			select {
			case <-ru.started:
				continue // Start has ended: booted, or stopped after a failed boot
			case <-ctx.Done():
				return false
			}
		case phaseIdle:
			// Never started: the run ends without a stop sequence.
			r.setPhase(phaseStopped)
			close(ru.started)
			close(ru.finished)
			r.mu.Unlock()
			return false
		case phaseShuttingDown:
			if ru.startedAt.IsZero() { // shut down before it started
				r.setPhase(phaseStopped)
				close(ru.started)
				close(ru.finished)
				r.mu.Unlock()
				return false
			}
			select {
			case <-ru.started:
			default: // shut down while booting: let the boot end first
				r.mu.Unlock()
				select {
				case <-ru.started:
					continue
				case <-ctx.Done():
					return false
				}
			}
		}
		r.setPhase(phaseStopping)
		r.mu.Unlock()
		return true
	}
}

// stopRun is the stop sequence of Stop, for a run claimed by claimStop.
func (r *Runtime) stopRun(ctx context.Context, ru *run) error {
	begin := time.Now()
	var errs []error
	r.waitDelay(ctx, ru)
	r.endDelay(ru) // the gate closes and the tasks are cancelled
	r.drainGate(ctx)
	if err := r.drainTasks(ctx, ru); err != nil {
		errs = append(errs, err)
	}
	// The reload loop returns once the token is cancelled: a reload in
	// progress is cancelled with it, and provider hooks it abandons are
	// waited for by stopProviders.
	if err := waitGroup(ctx, &ru.bg); err != nil {
		errs = append(errs, fmt.Errorf("lifecycle: the reload loop did not end: %w", err))
	}
	r.mu.Lock()
	booted := ru.booted
	ru.booted = nil
	r.mu.Unlock()
	if err := r.stopProviders(ctx, booted); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	r.endRun(ru, StoppedEvent{Duration: time.Since(begin), Err: err})
	return err
}

// endRun ends a run that was stopping: signals off, Stopped emitted and
// logged, the runtime stopped.
func (r *Runtime) endRun(ru *run, ev StoppedEvent) {
	r.endDelay(ru) // the token is cancelled on every way to stopped
	// No task event of the run after its StoppedEvent.
	ru.reports.End()
	emit(r, ev)
	if ev.Err != nil {
		r.log.Error("stopped with errors", zap.Duration("duration", ev.Duration), zap.Error(ev.Err))
	} else {
		r.log.Info("stopped", zap.Duration("duration", ev.Duration))
	}
	ru.sig.stop() // the signal goroutine stays until here: a second signal forces exit
	r.awaitSettled(ru)
	r.mu.Lock()
	r.setPhase(phaseStopped)
	close(ru.finished)
	r.mu.Unlock()
	r.sdStop()
}

// waitGroup waits for wg, or until ctx is done.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runEnded is called by fxbus.Module when a run of the application ends,
// before the bus closes. A runtime whose OnStop hook ran has stopped
// already. One whose OnStop hook Fx skipped is finished here: after a
// failed start (Fx rolled back only part of the app, or nothing, because
// the start context was done) the run is rolled back within
// [Config.RollbackTimeout], as a failed boot is; after a stop whose
// deadline passed before the runtime's turn, the run ends at once without
// stopping the providers (their time is up) and reports the skipped stop.
func (r *Runtime) runEnded(startFailed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RollbackTimeout)
	defer cancel()
	ru := r.current() // the run that ended; a later one is not touched
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		select {
		case <-ru.ended:
		default:
			close(ru.ended)
		}
	}()
	if startFailed {
		r.shutdownRun(ru, "fx: start failed", nil, ExitFailure, false)
		if r.claimStop(ctx, ru) {
			_ = r.stopRun(ctx, ru)
		}
		return
	}
	err := errors.New("lifecycle: the runtime's stop was skipped: the application's stop deadline passed before its turn")
	r.shutdownRun(ru, "the runtime's stop was skipped", err, ExitFailure, false)
	// A Stop or a Start in progress ends within its own (expired) budget,
	// or the rollback's: claimStop waits for it.
	if r.claimStop(ctx, ru) {
		r.endRun(ru, StoppedEvent{Err: err})
	}
}

// wait waits, within ctx, until the current run has stopped and, under
// fxbus.Module, the application's run has ended (the shutdown announced,
// the runtime finished).
func (r *Runtime) wait(ctx context.Context) {
	r.mu.Lock()
	ru := r.run
	r.mu.Unlock()
	select {
	case <-ru.finished:
	case <-ctx.Done():
	}
	if r.readyLater { // managed by fxbus.Module, which calls runEnded
		select {
		case <-ru.ended:
		case <-ctx.Done():
		}
	}
}

// budget returns a context for one step of Stop: at most limit, or when
// limit is zero, frac of the time left before ctx's deadline.
func budget(ctx context.Context, limit time.Duration, frac float64) (context.Context, context.CancelFunc) {
	if limit == 0 {
		left := DefaultStopTimeout
		if dl, ok := ctx.Deadline(); ok {
			left = time.Until(dl)
		}
		limit = time.Duration(float64(left) * frac)
	}
	return context.WithTimeout(ctx, limit)
}

// bootAll boots the providers in plan order, rolling back on failure.
// Each gets a ProviderBooted event, whether or not it has a Boot hook.
func (r *Runtime) bootAll(ctx context.Context, ru *run) error {
	r.logPlan()
	r.mu.Lock()
	providers := r.providers
	r.mu.Unlock()
	for _, p := range providers {
		begin := time.Now()
		if err := p.callHook(ctx, PhaseBoot); err != nil {
			perr := &ProviderError{Provider: p.Name(), Phase: PhaseBoot, Err: err}
			r.mu.Lock()
			booted := ru.booted
			ru.booted = nil
			r.mu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RollbackTimeout)
			defer cancel()
			if rerr := r.stopProviders(rctx, booted); rerr != nil {
				return errors.Join(perr, wrap("rollback", rerr))
			}
			return perr
		}
		d := time.Since(begin)
		r.markBooted(ru, p)
		emit(r, ProviderBootedEvent{Name: p.Name(), Priority: priorityOf(p.Provider), Duration: d})
		r.log.Info("provider booted",
			zap.String("provider", p.Name()), zap.Stringer("priority", priorityOf(p.Provider)), zap.Duration("duration", d))
	}
	return nil
}

func (r *Runtime) markBooted(ru *run, p *provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ru.booted = append(ru.booted, p)
}

// stopProviders stops booted in reverse order, going on after failures.
// Each gets a ProviderStopped event, whether or not it has a Stop hook.
func (r *Runtime) stopProviders(ctx context.Context, booted []*provider) error {
	var errs []error
	for i := len(booted) - 1; i >= 0; i-- {
		p := booted[i]
		begin := time.Now()
		if err := p.callHook(ctx, PhaseStop); err != nil {
			perr := &ProviderError{Provider: p.Name(), Phase: PhaseStop, Err: err}
			emit(r, ProviderStoppedEvent{Name: p.Name(), Duration: time.Since(begin), Err: perr})
			r.log.Error("provider stop failed", zap.String("provider", p.Name()), zap.Error(err))
			errs = append(errs, perr)
			continue
		}
		d := time.Since(begin)
		emit(r, ProviderStoppedEvent{Name: p.Name(), Duration: d})
		r.log.Info("provider stopped", zap.String("provider", p.Name()), zap.Duration("duration", d))
	}
	return errors.Join(errs...)
}

// drainGate waits for the gate, closed by beginShutdown, to empty.
func (r *Runtime) drainGate(ctx context.Context) {
	gctx, cancel := budget(ctx, r.cfg.GateTimeout, 0.25)
	defer cancel()
	res := r.gate.Wait(gctx)
	if res.Drained {
		emit(r, GateDrainedEvent{Waited: res.Waited})
		r.log.Info("gate drained", zap.Duration("waited", res.Waited))
		return
	}
	emit(r, GateForcedEvent{Waited: res.Waited, Left: res.Left})
	r.log.Warn("gate forced", zap.Duration("waited", res.Waited), zap.Int("left", res.Left))
}

// emit emits ev on the runtime's bus as its own type and, if anyone
// listens to every event, as an Event (boxing it allocates).
func emit[E Event](r *Runtime, ev E) {
	fxbus.Emit(r.bus, ev)
	if r.bus != nil && fxbus.SubscriberCount[Event](r.bus) > 0 {
		fxbus.Emit[Event](r.bus, ev)
	}
}
