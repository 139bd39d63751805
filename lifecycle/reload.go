package lifecycle

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// reloader coalesces reload requests: at most one run is in progress and
// at most one is pending; every request made while a run is pending
// shares that run's result.
type reloader struct {
	kick chan struct{} // capacity 1: the loop has a pending run to take

	mu     sync.Mutex // guards next and closed
	next   *reloadRun // the pending run; nil if none
	closed error      // set when the loop has returned: requests fail with it
}

type reloadRun struct {
	trigger string
	done    chan struct{} // closed when err is set
	err     error
}

func (rl *reloader) init() { rl.kick = make(chan struct{}, 1) }

// request joins the pending run or creates it, and wakes the loop.
func (rl *reloader) request(trigger string) *reloadRun {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.closed != nil {
		run := &reloadRun{trigger: trigger, done: make(chan struct{}), err: rl.closed}
		close(run.done)
		return run
	}
	if rl.next == nil {
		rl.next = &reloadRun{trigger: trigger, done: make(chan struct{})}
	}
	select {
	case rl.kick <- struct{}{}:
	default: // already kicked
	}
	return rl.next
}

// take returns the pending run, if any, making the next request start a
// new one.
func (rl *reloader) take() *reloadRun {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	run := rl.next
	rl.next = nil
	return run
}

// close fails the pending run and every later request with err.
func (rl *reloader) close(err error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.closed = err
	if rl.next != nil {
		rl.next.err = err
		close(rl.next.done)
		rl.next = nil
	}
}

// Reload reloads the providers: it first calls Validate on every
// [Validator] in order and, if one fails, changes nothing and returns a
// [*ReloadError] with Applied false; otherwise it calls Reload on every
// [Reloader] in order, going on after failures, and returns a
// [*ReloadError] listing them, or nil.
//
// Requests coalesce: a request made while a run is in progress shares the
// next run with every other request made before that run starts, so a
// burst of requests makes at most two runs and none misses a change made
// before it. The run itself is bounded by [Config.ReloadTimeout] and
// cancelled by shutdown; ctx only bounds how long Reload waits for it.
//
// Reload fails with [ErrNotRunning] before the runtime is running and with [ErrShutdown]
// once shutdown has begun. SIGHUP calls it.
func (r *Runtime) Reload(ctx context.Context) error {
	run, err := r.requestReload("Reload")
	if err != nil {
		return err
	}
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requestReload joins or creates the current run's pending reload without
// waiting for it.
func (r *Runtime) requestReload(trigger string) (*reloadRun, error) {
	if r.IsShuttingDown() {
		return nil, wrap("reload", ErrShutdown)
	}
	if !r.Ready() {
		return nil, wrap("reload", ErrNotRunning)
	}
	return r.current().reload.request(trigger), nil
}

// reloadLoop runs the run's reload requests, one at a time, until its
// shutdown.
func (r *Runtime) reloadLoop(ru *run) {
	defer ru.bg.Done()
	for {
		select {
		case <-ru.ctx.Done():
			ru.reload.close(wrap("reload", ErrShutdown))
			return
		case <-ru.reload.kick:
			if rr := ru.reload.take(); rr != nil {
				rr.err = r.runReload(ru, rr.trigger)
				close(rr.done)
			}
		}
	}
}

// runReload validates, then reloads, every provider in order. Shutdown
// cancels it: a hook that has not returned is left running, and the stop
// waits for it before that provider's Stop.
func (r *Runtime) runReload(ru *run, trigger string) error {
	r.mu.Lock()
	if r.phase != phaseRunning || r.run != ru {
		r.mu.Unlock()
		return wrap("reload", ErrShutdown)
	}
	r.setPhase(phaseReloading)
	providers := r.providers
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.phase == phaseReloading {
			r.setPhase(phaseRunning)
		}
		r.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(ru.ctx, r.cfg.ReloadTimeout)
	defer cancel()
	begin := time.Now()
	emit(r, ReloadStartedEvent{Trigger: trigger})
	r.log.Info("reload started", zap.String("trigger", trigger))

	var errs []*ProviderError
	for _, p := range providers {
		if err := p.callHook(ctx, PhaseValidate); err != nil {
			errs = append(errs, &ProviderError{Provider: p.Name(), Phase: PhaseValidate, Err: err})
		}
	}
	applied := len(errs) == 0
	if applied {
		for _, p := range providers {
			if err := p.callHook(ctx, PhaseReload); err != nil {
				errs = append(errs, &ProviderError{Provider: p.Name(), Phase: PhaseReload, Err: err})
			}
		}
	}

	d := time.Since(begin)
	emit(r, ReloadCompletedEvent{Duration: d, Applied: applied, Errors: errs})
	if len(errs) == 0 {
		r.log.Info("reload completed", zap.Duration("duration", d))
		return nil
	}
	err := &ReloadError{Applied: applied, Errors: errs}
	r.log.Error("reload completed with errors",
		zap.Duration("duration", d), zap.Bool("applied", applied), zap.Error(err))
	return err
}
