package lifecycle

import (
	"context"

	"github.com/claviron/fxruntime/internal/runhooks"
	"go.uber.org/zap"
)

// InitiateShutdown begins the current run's shutdown and reports whether
// this call did; later calls, from any goroutine, change nothing and
// return false, and so do calls once the run has stopped. reason is for
// people ("disk full"), cause is the error behind it (may be nil),
// exitCode the exit code asked for the process (0 for success). The first
// reason, cause and exit code win, whatever the phase: a shutdown
// initiated while the application is built or starting makes the start
// fail with it.
//
// In order, the first call: moves the runtime to [StateShuttingDown] and
// closes its [Gate]; emits fxbus.ShutdownInitiatedEvent on the bus, unless
// this run's stop was already announced (fxbus.Module announces at the
// first OnStop hook; there is one event per shutdown); cancels
// [Runtime.Context] with a [*ShutdownError] as its cause; and, under Fx,
// asks the application to stop with fx.Shutdowner and fx.ExitCode. It
// does not wait for the stop. With a [Config.ShutdownDelay], a runtime
// that was ready leaves its gate open and its token live: [Runtime.Stop]
// closes and cancels them once the delay is over.
func (r *Runtime) InitiateShutdown(reason string, cause error, exitCode int) bool {
	return r.beginShutdown(reason, cause, exitCode, true)
}

// beginShutdown is InitiateShutdown for the current run; askHost is false
// when the host is already stopping (fx's own stop, seen from a hook or
// the bus).
func (r *Runtime) beginShutdown(reason string, cause error, exitCode int, askHost bool) bool {
	return r.shutdownRun(r.current(), reason, cause, exitCode, askHost)
}

// shutdownRun begins run ru's shutdown, unless it began already or ru has
// stopped or is no longer the current run. Either way, when it returns,
// the shutdown token of a run whose shutdown began is cancelled and the
// gate closed, unless a shutdown delay keeps them open (see delay.go):
// fxbus.Module calls it (through the bus) before the first OnStop hook
// runs, so every hook sees them, even while another goroutine is still
// announcing the same shutdown.
func (r *Runtime) shutdownRun(ru *run, reason string, cause error, exitCode int, askHost bool) bool {
	r.mu.Lock()
	if r.run != ru || r.phase == phaseStopped {
		r.mu.Unlock()
		return false
	}
	if se := ru.shutdown; se != nil {
		delaying := !ru.delay.ended // a shutdown delay keeps them open
		if !delaying {
			// Closed under mu, while ru is the current run: the gate is
			// shared by the runs, and the next run reopens it under mu.
			// This call does not hold the run open (settled is for the
			// call that began the shutdown), so once mu is released the
			// next run may have begun. The token is ru's own.
			r.gate.Close()
		}
		r.mu.Unlock()
		if r.testHookShutdownJoined != nil {
			r.testHookShutdownJoined(reason)
		}
		if !delaying {
			ru.cancel(se)
		}
		return false
	}
	se := &ShutdownError{Reason: reason, Err: cause, ExitCode: exitCode}
	ru.shutdown = se
	delayed := r.startDelay(ru)
	switch r.phase {
	case phaseIdle, phaseBooting, phaseBooted, phaseRunning, phaseReloading:
		// A boot in progress finishes; Stop ends the run.
		r.setPhase(phaseShuttingDown)
	}
	r.mu.Unlock()
	if r.testHookShutdownBegun != nil {
		r.testHookShutdownBegun(reason)
	}

	// Announce, then cancel: whoever waits for the token (Run) knows the
	// shutdown's event was emitted. The bus's callback cancels the token
	// during the announcement already (the branch above), so no OnStop
	// hook runs with it live, unless a shutdown delay keeps it so.
	if !delayed {
		r.gate.Close()
	}
	if r.bus != nil {
		runhooks.Of(r.bus).AnnounceShutdown(reason, cause, exitCode)
	}
	if !delayed {
		ru.cancel(se)
	}
	r.log.Info("shutdown initiated",
		zap.String("reason", reason), zap.Error(cause), zap.Int("exit_code", exitCode))
	if delayed {
		r.log.Info("shutdown delay: work is still admitted", zap.Duration("delay", r.cfg.ShutdownDelay))
	}
	close(ru.begun)
	if askHost && r.stopper != nil {
		r.stopper(exitCode)
	}
	close(ru.settled)
	return true
}

// awaitSettled waits, before run ru ends, until the call that began its
// shutdown, if one did, has done all it does: otherwise a goroutine
// descheduled between recording the shutdown and announcing it would
// close the next run's gate and announce on its bus. That call blocks on
// nothing but the bus's OnShutdown callbacks, which must be quick.
func (r *Runtime) awaitSettled(ru *run) {
	r.mu.Lock()
	begun := ru.shutdown != nil
	r.mu.Unlock()
	if begun {
		<-ru.settled
	}
}

// IsShuttingDown reports whether shutdown has begun (or the runtime has
// stopped). Safe from any goroutine; one atomic load.
func (r *Runtime) IsShuttingDown() bool { return r.State() >= StateShuttingDown }

// current returns the current run.
func (r *Runtime) current() *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.run
}

// Context returns the current run's shutdown token: a context that lives
// from the start of the run (from New, for the first) until shutdown
// begins, or with [Config.ShutdownDelay] until the delay ends, then is
// cancelled with a [*ShutdownError] as its cause.
// Supervised tasks run on it; derive long-lived work from it, never from
// an OnStart context. A new run (Start after a stop) has a new token.
func (r *Runtime) Context() context.Context { return r.current().ctx }

// Done is Context().Done().
func (r *Runtime) Done() <-chan struct{} { return r.current().ctx.Done() }

// begun returns a channel closed once the current run's shutdown has
// begun and been announced: at once when the token is cancelled, before
// the token when a shutdown delay keeps it live.
func (r *Runtime) begun() <-chan struct{} { return r.current().begun }

// Cause returns why the current run shut down, a [*ShutdownError], or
// nil while it has not begun to.
func (r *Runtime) Cause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run.shutdown == nil {
		return nil
	}
	return r.run.shutdown
}

// ExitCode returns the exit code requested with the current run's
// shutdown; 0 before shutdown or when none was requested.
func (r *Runtime) ExitCode() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run.shutdown == nil {
		return 0
	}
	return r.run.shutdown.ExitCode
}
