package fxbus

import (
	"github.com/claviron/fxruntime/internal/runhooks"
	"go.uber.org/fx"
)

// The packages built on the bus reach its run hooks through
// internal/runhooks, so that *Bus shows users only what they need.
func init() {
	runhooks.Register(func(bus any) runhooks.Bus {
		b, _ := bus.(*Bus)
		if b == nil {
			return nil
		}
		return hooks{b}
	})
}

// hooks is a bus seen as runhooks.Bus.
type hooks struct{ b *Bus }

func (h hooks) AnnounceShutdown(reason string, cause error, exitCode int) bool {
	return h.b.announceShutdown(ShutdownInitiatedEvent{Reason: reason, Cause: cause, ExitCode: exitCode})
}

func (h hooks) ShutdownAnnounced() bool { return h.b.shutdownAnnounced() }

func (h hooks) OnShutdown(f func(reason string, cause error, exitCode int)) (remove func()) {
	if f == nil {
		return func() {}
	}
	return h.b.onShutdown(func(ev ShutdownInitiatedEvent) { f(ev.Reason, ev.Cause, ev.ExitCode) })
}

func (h hooks) OnAppStarted(f func()) bool { return h.b.onAppStarted(f) }

func (h hooks) OnRunEnd(f func(startFailed bool)) bool { return h.b.onRunEnd(f) }

func (h hooks) OnRunAgain(f func()) bool { return h.b.onRunAgain(f) }

func (h hooks) Managed() bool { return h.b.phases.managed.Load() }

func (h hooks) NewRun() {
	if h.b.phases.managed.Load() {
		return
	}
	h.b.phases.mu.Lock()
	defer h.b.phases.mu.Unlock()
	h.b.phases.announced.Store(false)
	h.b.phases.done = nil
}

func (h hooks) Covers(lc fx.Lifecycle) bool {
	al, ok := lc.(*announcingLifecycle)
	return ok && al.bus == h.b
}
