package lifecycle

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// The shutdown delay ([Config.ShutdownDelay]) is the first step of the
// stop sequence of a runtime that was ready when its shutdown began:
// readiness is false from the start of the shutdown, but the gate keeps
// admitting work and the shutdown token stays live until the delay ends,
// so that requests a load balancer still routes here (it learns of the
// shutdown from the readiness probe, after a while) are served. Then the
// gate closes, the token is cancelled, and the drain begins.
//
// The delay runs from the start of the shutdown. Main waits for it before
// app.Stop, so that no component stops while work is still admitted (Fx
// runs the OnStop hooks of components built after the runtime, those no
// provider or task needs, before the runtime's); the runtime's
// Stop waits for what is left of it otherwise. It is cut short by a second SIGINT or SIGTERM (a third one
// then forces the exit), and by the stop budget: it takes at most half of
// the time left before Stop's deadline, so that the drain keeps the rest.

// delayState is a run's shutdown delay. Its fields are guarded by
// Runtime.mu.
type delayState struct {
	on    bool          // the run was ready when shutdown began: it waits
	from  time.Time     // when shutdown began
	cut   chan struct{} // closed by a second signal: the delay ends at once
	ended bool          // the delay is over (or was never on): no more cuts
}

// startDelay records, under Runtime.mu, that the shutdown of ru begins
// now, and reports whether it waits for the delay before closing the gate
// and cancelling the token: only a ready runtime (running or reloading)
// does, since only then may traffic be routed to it.
func (r *Runtime) startDelay(ru *run) bool {
	ru.delay.from = time.Now()
	ru.delay.on = r.cfg.ShutdownDelay > 0 && (r.phase == phaseRunning || r.phase == phaseReloading)
	ru.delay.ended = !ru.delay.on
	return ru.delay.on
}

// cutDelay ends the delay of ru at once and reports whether one was in
// progress.
func (r *Runtime) cutDelay(ru *run) bool {
	r.mu.Lock()
	if ru.delay.ended {
		r.mu.Unlock()
		return false
	}
	// Logged under mu, before the delay is marked over: a Stop that finds
	// it over goes on after this entry, whose place in the log is before
	// the drain's. The path runs once per run, at a second signal.
	r.log.Info("shutdown delay cut short by a second signal", zap.Duration("delay", time.Since(ru.delay.from)))
	ru.delay.ended = true
	close(ru.delay.cut)
	r.mu.Unlock()
	return true
}

// waitDelay waits for what is left of ru's shutdown delay, within half of
// the time left before ctx's deadline, unless a second signal cuts it or
// it is over already (Main waits for it before app.Stop, the runtime's
// Stop again).
func (r *Runtime) waitDelay(ctx context.Context, ru *run) {
	r.mu.Lock()
	d := ru.delay
	r.mu.Unlock()
	if !d.on || d.ended {
		return
	}
	end := d.from.Add(r.cfg.ShutdownDelay)
	now := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		if limit := now.Add(dl.Sub(now) / 2); end.After(limit) {
			r.log.Warn("shutdown delay cut to half of the stop budget: make it shorter than half of the stop timeout",
				zap.Duration("delay", r.cfg.ShutdownDelay), zap.Duration("left", limit.Sub(now)))
			end = limit
		}
	}
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case <-t.C:
		r.log.Info("shutdown delay over", zap.Duration("delay", time.Since(d.from)))
	case <-d.cut: // logged by cutDelay
	case <-ctx.Done():
	}
	r.mu.Lock()
	ru.delay.ended = true
	r.mu.Unlock()
}

// endDelay closes the gate and cancels ru's token, if the delay had kept
// them open; idempotent.
func (r *Runtime) endDelay(ru *run) {
	r.mu.Lock()
	se := ru.shutdown
	ru.delay.ended = true
	r.mu.Unlock()
	r.gate.Close()
	if se != nil {
		ru.cancel(se)
	}
}
