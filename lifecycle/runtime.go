package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/zap"
)

// Runtime runs an application's providers and supervised tasks from boot
// to shutdown and announces each phase on a bus. Build it with [New], or
// let [Module] build one per Fx application.
//
// Every method is safe for concurrent use. A runtime runs once: Start,
// then Stop. The zero value is not usable.
type Runtime struct {
	// Set by New, never changed.
	bus       *fxbus.Bus // may be nil: no events
	log       *zap.Logger
	cfg       Config // defaults applied
	clock     Clock
	signals   <-chan os.Signal // injected source; nil means os/signal
	noSignals bool
	forceExit func(code int)
	stopper   func(code int) // asks the host to stop; nil without Fx
	// readyLater is set by Module (before Start) when the bus will tell
	// the runtime that every OnStart hook of the app has returned: Start
	// then leaves the runtime booting, and becomeReady moves it to running.
	readyLater bool
	providers  []Provider // in boot order: plan.providers
	plan       *plan      // the order of the providers and why
	gate       *Gate
	ctx        context.Context // the shutdown token
	cancel     context.CancelCauseFunc
	running    chan struct{} // closed once, under mu, when the runtime first runs
	reload     reloader
	bg         sync.WaitGroup // counts the signal and reload goroutines
	sigQuit    chan struct{}  // closed at the end of Stop: the signal goroutine returns
	sigDone    chan struct{}  // set by Start (before Stop can read it); closed by the signal goroutine
	startDone  chan struct{}  // closed when a Start that began the runtime returns
	finished   chan struct{}  // closed, with finishOnce, when the runtime has stopped for good
	finishOnce sync.Once

	// stopSignalsSeen counts the interrupt and termination signals
	// received; only the signal goroutine adds to it.
	stopSignalsSeen atomic.Int32

	// state holds a State. Written under mu, except for the
	// Running<->Reloading swaps done with CompareAndSwap; read lock-free.
	state atomic.Int32

	mu       sync.Mutex     // guards the fields below
	shutdown *ShutdownError // nil until shutdown begins
	started  bool           // Start was called
	stopped  bool           // Stop was called
	spawned  bool           // tasks start at once rather than wait for Start
	booted   []Provider     // booted providers, in boot order
	tasks    map[string]*task
	pending  []*task // registered before Start
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
	if err := o.cfg.validate(); err != nil {
		o.errs = append(o.errs, err)
	}
	plan, err := o.newPlan()
	if err != nil {
		o.errs = append(o.errs, err)
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
		noSignals: o.noSignals || o.cfg.DisableSignals,
		forceExit: o.forceExit,
		stopper:   o.stopper,
		providers: plan.providers,
		plan:      plan,
		gate:      new(Gate),
		running:   make(chan struct{}),
		sigQuit:   make(chan struct{}),
		startDone: make(chan struct{}),
		finished:  make(chan struct{}),
		tasks:     make(map[string]*task),
	}
	if r.log == nil {
		r.log = zap.NewNop()
		if bus != nil {
			r.log = bus.Logger()
		}
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.forceExit == nil {
		r.forceExit = os.Exit
	}
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	r.reload.init()
	var errs []error
	for _, t := range o.tasks {
		if err := r.addTask(t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		r.cancel(nil)
		return nil, errors.Join(errs...)
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
	started := r.started
	r.mu.Unlock()
	if started {
		return errors.New("lifecycle: providers and tasks must be registered before Start")
	}
	plan, err := r.plan.with(ps, deps)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range ts {
		if err := r.addTask(t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Written before Start, which fx runs after every invoke: no reader
	// runs concurrently.
	r.providers, r.plan = plan.providers, plan
	return nil
}

// Gate returns the runtime's gate for in-flight work. It refuses new work
// once shutdown begins and is drained on stop.
func (r *Runtime) Gate() *Gate { return r.gate }

// Providers returns the provider names in boot order.
func (r *Runtime) Providers() []string {
	names := make([]string, len(r.providers))
	for i, p := range r.providers {
		names[i] = p.Name()
	}
	return names
}

// Start boots the providers in order within ctx (the start budget), then
// starts the signal handling, the reload loop and the tasks, and moves the
// runtime to [StateRunning]. If a provider fails to boot (or does not
// return before ctx is done), those already booted are stopped in reverse
// order, the runtime stops, and Start returns a [*ProviderError] naming the
// provider. Start may be called once, and not concurrently with Stop.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.started:
		r.mu.Unlock()
		return errors.New("lifecycle: Start: runtime already started")
	case r.shutdown != nil:
		r.mu.Unlock()
		return fmt.Errorf("lifecycle: Start: %w", ErrShutdown)
	}
	r.started = true
	r.mu.Unlock()
	defer close(r.startDone)

	begin := time.Now()
	if err := r.bootAll(ctx); err != nil {
		r.log.Error("lifecycle: boot failed", zap.Error(err))
		r.beginShutdown("boot failed", err, 1, false)
		r.mu.Lock()
		r.state.Store(int32(StateStopped))
		r.stopped = true // nothing left to stop
		r.mu.Unlock()
		emit(r, Stopped{Duration: time.Since(begin), Err: err})
		r.finish()
		return err
	}

	r.startSignals()
	r.bg.Add(1)
	go r.reloadLoop()
	r.startTasks()
	d := time.Since(begin)
	names := r.Providers()
	emit(r, Booted{Duration: d, Providers: names})
	r.log.Info("lifecycle: booted", zap.Duration("duration", d), zap.Strings("providers", names))
	if !r.readyLater {
		r.becomeReady()
	}
	return nil
}

// becomeReady moves a booted runtime to running and announces it, unless
// shutdown began. Under Module it runs when the app's last OnStart hook has
// returned, so that Ready means every component has started.
func (r *Runtime) becomeReady() {
	if r.setRunning() {
		emit(r, Ready{})
		r.log.Info("lifecycle: ready")
	}
}

// Stop shuts the runtime down, within ctx (the stop budget):
//
//  1. begin shutdown, if nothing did yet (see [Runtime.InitiateShutdown]);
//  2. wait for the gate to drain, for at most [Config.GateTimeout];
//  3. wait for the cancelled tasks, for at most [Config.TaskTimeout], and
//     report those that did not return in a [*DrainError];
//  4. stop the booted providers in reverse order;
//  5. stop listening to signals and move to [StateStopped].
//
// Failures do not stop the sequence: Stop returns them joined. A second
// Stop, or a Stop without Start, only cancels the token.
func (r *Runtime) Stop(ctx context.Context) error {
	r.beginShutdown("lifecycle: runtime stopping", nil, 0, false)
	r.mu.Lock()
	if !r.started || r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	r.mu.Unlock()

	begin := time.Now()
	var errs []error
	r.drainGate(ctx)
	if err := r.drainTasks(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := r.waitBackground(ctx); err != nil {
		errs = append(errs, err)
	}
	r.mu.Lock()
	booted := r.booted
	r.booted = nil
	r.mu.Unlock()
	if err := r.stopProviders(ctx, booted); err != nil {
		errs = append(errs, err)
	}

	err := errors.Join(errs...)
	r.mu.Lock()
	r.state.Store(int32(StateStopped))
	r.mu.Unlock()
	d := time.Since(begin)
	emit(r, Stopped{Duration: d, Err: err})
	if err != nil {
		r.log.Error("lifecycle: stopped with errors", zap.Duration("duration", d), zap.Error(err))
	} else {
		r.log.Info("lifecycle: stopped", zap.Duration("duration", d))
	}
	r.stopSignals() // the signal goroutine stays until here: a second signal forces exit
	r.finish()
	return err
}

// finish marks the runtime stopped for good: see settle.
func (r *Runtime) finish() { r.finishOnce.Do(func() { close(r.finished) }) }

// settle is called by [Run] once app.Start has failed or app.Stop has
// returned. Fx stops waiting for a hook at its deadline, but the hook goes
// on: settle waits for the runtime's Start and Stop still in progress
// (Start ends with its context, plus the rollback of a failed boot within
// Config.RollbackTimeout; Stop ends with its context), so that the process
// does not exit before a failed boot is rolled back. (Before settle, Run
// returned 1 while the rollback of a boot that hung past the start budget
// had not yet stopped the providers booted before it.) If Fx skipped the
// runtime's OnStop hook altogether, settle finishes the runtime with
// stopSkipped.
func (r *Runtime) settle() {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return
	}
	<-r.startDone
	r.stopSkipped() // does nothing if Stop ran, is running, or the boot failed
	<-r.finished
}

// stopSkipped finishes a runtime whose OnStop hook Fx never ran: Fx skips
// the hooks left once the stop deadline has passed, which happens when an
// OnStop hook stopped before the runtime's (a bus handler run by
// fxbus.Listen that blocks, for one) uses up the whole deadline. Without
// this, the signal goroutine (and its os/signal registration) outlived the
// application. It waits for nothing and stops no provider, as Fx skipped
// them: it ends the signal handling, moves to StateStopped and reports the
// skipped stop with a Stopped event and an error log. A runtime whose Stop
// ran, or is running, is left alone. [Run] calls it through settle.
func (r *Runtime) stopSkipped() {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	err := errors.New("lifecycle: the runtime's stop was skipped: the application's stop deadline passed before its turn")
	// Fx may have stopped without running any OnStop hook (a start that
	// timed out rolls back with the expired start context): shutdown may
	// not have begun. Begin it, so that the token is cancelled and the
	// tasks and the reload loop end.
	r.beginShutdown("lifecycle: the application stopped without the runtime's stop", err, ExitFailure, false)
	r.mu.Lock()
	if r.stopped { // Stop began meanwhile: it finishes the runtime
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.state.Store(int32(StateStopped))
	r.mu.Unlock()
	emit(r, Stopped{Err: err})
	r.log.Error("lifecycle: stopped with errors", zap.Duration("duration", 0), zap.Error(err))
	r.stopSignals()
	r.finish()
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

// bootAll boots the providers in order, rolling back on failure.
func (r *Runtime) bootAll(ctx context.Context) error {
	r.logPlan()
	for _, p := range r.providers {
		b, ok := p.(Booter)
		if !ok {
			r.markBooted(p)
			continue
		}
		begin := time.Now()
		if err := callBounded(ctx, b.Boot); err != nil {
			perr := &ProviderError{Provider: p.Name(), Phase: PhaseBoot, Err: err}
			r.mu.Lock()
			booted := r.booted
			r.booted = nil
			r.mu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RollbackTimeout)
			defer cancel()
			if rerr := r.stopProviders(rctx, booted); rerr != nil {
				return errors.Join(perr, fmt.Errorf("lifecycle: rollback: %w", rerr))
			}
			return perr
		}
		d := time.Since(begin)
		r.markBooted(p)
		emit(r, ProviderBooted{Name: p.Name(), Priority: priorityOf(p), Duration: d})
		r.log.Info("lifecycle: provider booted",
			zap.String("provider", p.Name()), zap.Stringer("priority", priorityOf(p)), zap.Duration("duration", d))
	}
	return nil
}

func (r *Runtime) markBooted(p Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.booted = append(r.booted, p)
}

// stopProviders stops booted in reverse order, going on after failures.
func (r *Runtime) stopProviders(ctx context.Context, booted []Provider) error {
	var errs []error
	for i := len(booted) - 1; i >= 0; i-- {
		p := booted[i]
		s, ok := p.(Stopper)
		if !ok {
			continue
		}
		begin := time.Now()
		if err := callBounded(ctx, s.Stop); err != nil {
			perr := &ProviderError{Provider: p.Name(), Phase: PhaseStop, Err: err}
			emit(r, ProviderStopped{Name: p.Name(), Duration: time.Since(begin), Err: perr})
			r.log.Error("lifecycle: provider stop failed", zap.String("provider", p.Name()), zap.Error(err))
			errs = append(errs, perr)
			continue
		}
		d := time.Since(begin)
		emit(r, ProviderStopped{Name: p.Name(), Duration: d})
		r.log.Info("lifecycle: provider stopped", zap.String("provider", p.Name()), zap.Duration("duration", d))
	}
	return errors.Join(errs...)
}

// drainGate waits for the gate, closed by beginShutdown, to empty.
func (r *Runtime) drainGate(ctx context.Context) {
	gctx, cancel := budget(ctx, r.cfg.GateTimeout, 0.25)
	defer cancel()
	res := r.gate.Wait(gctx)
	if res.Drained {
		emit(r, GateDrained{Waited: res.Waited})
		r.log.Info("lifecycle: gate drained", zap.Duration("waited", res.Waited))
		return
	}
	emit(r, GateForced{Waited: res.Waited, Left: res.Left})
	r.log.Warn("lifecycle: gate forced", zap.Duration("waited", res.Waited), zap.Int("left", res.Left))
}

// waitBackground waits for the reload goroutine, which returns once the
// token is cancelled and any reload in progress ends.
func (r *Runtime) waitBackground(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		r.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// ctx may have been done on entry (after a forced exit, say).
		// With no reload running, the goroutines return at once on the
		// cancelled token: give them that moment before blaming a reload.
		select {
		case <-done:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
		return fmt.Errorf("lifecycle: reload in progress did not end before the stop deadline: %w", ctx.Err())
	}
}

// emit emits ev on the runtime's bus.
func emit[E any](r *Runtime, ev E) { fxbus.Emit(r.bus, ev) }
