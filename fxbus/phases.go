package fxbus

import (
	"context"
	"sync"
	"sync/atomic"
)

// ShutdownInitiatedEvent is the bus's built-in event: the process has begun to
// shut down. It is emitted once per shutdown, by announceShutdown:
// [Module] calls it before the first OnStop hook runs (and when the
// application's start fails), and the lifecycle package calls it when
// shutdown is requested with a cause. Subscribing to it is the push form of
// polling a "shutting down" flag.
type ShutdownInitiatedEvent struct {
	// Reason says why, for people: "signal: terminated",
	// "fx: application stopping", "task \"indexer\" failed".
	Reason string
	// Cause is the error behind the shutdown, if there is one.
	Cause error
	// ExitCode is the exit code requested for the process; 0 if none.
	ExitCode int
}

// phases holds what the bus knows of the application's run: whether a
// shutdown was announced, and the callbacks of packages that build on the
// bus's Fx integration.
type phases struct {
	// announced is set by the first AnnounceShutdown of a run; Module
	// clears it when a new run begins after a stop.
	announced atomic.Bool
	// managed is set when Module built the bus: OnAppStarted and OnRunEnd
	// callbacks will be called.
	managed atomic.Bool

	mu sync.Mutex // guards the fields below
	// done is closed by the AnnounceShutdown call that emitted, once its
	// onShutdown callbacks have returned; a new run gets a new channel.
	done       chan struct{}
	up         bool // every OnStart hook of the current run has returned
	onShutdown []shutdownCallback
	onStarted  []func()
	onRunEnd   []func(startFailed bool)
	onRunAgain []func()
	listeners  []runListener // registered by Listen on a managed bus
	nextID     uint64        // identifies OnShutdown registrations, for removal
}

type shutdownCallback struct {
	id uint64
	f  func(ShutdownInitiatedEvent)
}

// announceShutdown emits ev on b unless a shutdown was already announced,
// and reports whether it did. Within one run of an Fx app (from start to
// stop) only the first call emits, so the module's stop-time announcement
// and an earlier one with a cause never make two events; an announcement
// made while the application is being built belongs to its first run. A
// bus used without Fx announces once in its life.
//
// The call that emits then runs the onShutdown callbacks, in the
// order they were registered, before it returns.
func (b *Bus) announceShutdown(ev ShutdownInitiatedEvent) bool {
	b.phases.mu.Lock()
	if b.phases.announced.Load() {
		b.phases.mu.Unlock()
		return false
	}
	b.phases.announced.Store(true)
	if b.phases.done == nil {
		b.phases.done = make(chan struct{})
	}
	cbs := b.phases.onShutdown // never mutated in place: see OnShutdown
	done := b.phases.done
	b.phases.mu.Unlock()
	Emit(b, ev)
	for _, cb := range cbs {
		cb.f(ev)
	}
	close(done)
	return true
}

// waitAnnounced waits until the announcement of the current run, made by
// another goroutine, has been emitted and its OnShutdown callbacks have
// returned, or until ctx is done. Module's OnStop hooks call it, so that no
// OnStop hook runs before a concurrent announcement is complete. It must
// not be called from an OnShutdown callback: that would wait for itself.
func (b *Bus) waitAnnounced(ctx context.Context) {
	b.phases.mu.Lock()
	done := b.phases.done
	b.phases.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// newRun begins a run of the application. After a run that ended (the
// bus was closed by the previous stop), the bus is opened again with no
// ring and no subscription of the old run, every Listen handler gets a
// new subscription, the OnRunAgain callbacks run, and the next stop
// announces again. Before the first
// run, an announcement made while the application was built is kept.
func (b *Bus) newRun(afterStop bool) {
	if afterStop {
		b.reopen()
		b.phases.mu.Lock()
		b.phases.announced.Store(false)
		b.phases.done = nil
		ls := b.phases.listeners
		b.phases.mu.Unlock()
		for _, l := range ls {
			l.resubscribe()
		}
		b.phases.mu.Lock()
		fns := b.phases.onRunAgain
		b.phases.mu.Unlock()
		for _, f := range fns {
			f()
		}
	}
	b.phases.mu.Lock()
	b.phases.up = false
	b.phases.mu.Unlock()
}

// reopen opens a closed bus again with an empty registry: the rings of
// the old run stay closed with their subscriptions.
func (b *Bus) reopen() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = false
	b.topics.Store(nil)
}

// shutdownAnnounced reports whether a shutdown has been announced in the
// current run.
func (b *Bus) shutdownAnnounced() bool { return b.phases.announced.Load() }

// onShutdown registers f to run synchronously, on the goroutine that
// announces a shutdown, right after [ShutdownInitiatedEvent] is emitted and
// before announceShutdown returns. Under [Module] that is before the
// first OnStop hook of the application runs. It is meant for packages that
// build on the bus (the lifecycle package cancels its shutdown token
// there): f must be quick and must not block. The returned function
// removes f; it is idempotent. A nil f registers nothing.
func (b *Bus) onShutdown(f func(ShutdownInitiatedEvent)) (remove func()) {
	if f == nil {
		return func() {}
	}
	b.phases.mu.Lock()
	defer b.phases.mu.Unlock()
	b.phases.nextID++
	id := b.phases.nextID
	// Copy on write, so that AnnounceShutdown can run a snapshot unlocked.
	cbs := make([]shutdownCallback, 0, len(b.phases.onShutdown)+1)
	cbs = append(cbs, b.phases.onShutdown...)
	b.phases.onShutdown = append(cbs, shutdownCallback{id: id, f: f})
	return func() {
		b.phases.mu.Lock()
		defer b.phases.mu.Unlock()
		kept := make([]shutdownCallback, 0, len(b.phases.onShutdown))
		for _, cb := range b.phases.onShutdown {
			if cb.id != id {
				kept = append(kept, cb)
			}
		}
		b.phases.onShutdown = kept
	}
}

// onAppStarted registers f to run synchronously when every OnStart hook
// of the Fx application has returned without error: the moment the
// application is up, which no single OnStart hook can know. It runs once
// per run of the application. It reports whether f will be called: only a
// bus built by [Module] knows the application's hooks; for any other bus
// it returns false and drops f.
//
// Registered once the application is already up, f runs at once.
func (b *Bus) onAppStarted(f func()) bool {
	if !b.phases.managed.Load() {
		return false
	}
	if f == nil {
		return true
	}
	b.phases.mu.Lock()
	b.phases.onStarted = append(b.phases.onStarted, f)
	up := b.phases.up
	b.phases.mu.Unlock()
	if up {
		f()
	}
	return true
}

// onRunEnd registers f to run synchronously when a run of the Fx
// application ends, just before the bus closes: after the last OnStop
// hook, or, when Fx gives up on hooks it will never run (a start that
// failed after its context was done, a stop past its deadline), as soon
// as that is known. startFailed says that the run's start failed. A
// package whose OnStop hook Fx may have skipped finishes its work there
// (the lifecycle package rolls its runtime back); f must return within a
// bounded time. It reports whether f will be called: only a bus built by
// [Module] knows the application's hooks; for any other bus it returns
// false and drops f.
func (b *Bus) onRunEnd(f func(startFailed bool)) bool {
	if !b.phases.managed.Load() {
		return false
	}
	if f != nil {
		b.phases.mu.Lock()
		defer b.phases.mu.Unlock()
		b.phases.onRunEnd = append(b.phases.onRunEnd, f)
	}
	return true
}

// onRunAgain registers f to run synchronously when the Fx application
// begins a run after a run that ended, once the bus is open again and
// before any OnStart hook of the application other than the bus's own: a
// package subscribes there again what the previous run's close ended, and
// so misses nothing the new run emits. f must be quick and must not block.
// It reports whether f will be called: only a bus built by [Module] knows
// the application's runs; for any other bus it returns false and drops f.
func (b *Bus) onRunAgain(f func()) bool {
	if !b.phases.managed.Load() {
		return false
	}
	if f != nil {
		b.phases.mu.Lock()
		defer b.phases.mu.Unlock()
		b.phases.onRunAgain = append(b.phases.onRunAgain, f)
	}
	return true
}

// runEnded runs the OnRunEnd callbacks.
func (b *Bus) runEnded(startFailed bool) {
	b.phases.mu.Lock()
	fns := b.phases.onRunEnd
	b.phases.mu.Unlock()
	for _, f := range fns {
		f(startFailed)
	}
}

// appStarted runs the OnAppStarted callbacks.
func (b *Bus) appStarted() {
	b.phases.mu.Lock()
	fns := b.phases.onStarted
	b.phases.up = true
	b.phases.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// addListener registers a Listen handler that runs until the bus closes.
func (b *Bus) addListener(l runListener) {
	b.phases.mu.Lock()
	defer b.phases.mu.Unlock()
	b.phases.listeners = append(b.phases.listeners, l)
}

// runListeners returns the handlers registered with addListener.
func (b *Bus) runListeners() []runListener {
	b.phases.mu.Lock()
	defer b.phases.mu.Unlock()
	return b.phases.listeners
}
