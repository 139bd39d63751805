package fxbus

// ShutdownInitiated is the bus's built-in event: the process has begun to
// shut down. It is emitted once per shutdown, by [Bus.AnnounceShutdown]:
// [Module] calls it before the first OnStop hook runs, and the lifecycle
// package calls it when shutdown is requested with a cause. Subscribing to
// it is the push form of polling a "shutting down" flag.
type ShutdownInitiated struct {
	// Reason says why, for people: "signal: terminated",
	// "fx: application stopping", "task \"indexer\" failed".
	Reason string
	// Cause is the error behind the shutdown, if there is one.
	Cause error
	// ExitCode is the exit code requested for the process; 0 if none.
	ExitCode int
}

// AnnounceShutdown emits ev on b unless a shutdown was already announced,
// and reports whether it did. Within one run of an Fx app (from start to
// stop) only the first call emits, so the module's stop-time announcement
// and an earlier one with a cause never make two events. A bus used without
// Fx announces once in its life.
func (b *Bus) AnnounceShutdown(ev ShutdownInitiated) bool {
	if !b.announced.CompareAndSwap(false, true) {
		return false
	}
	Emit(b, ev)
	return true
}

// ShutdownAnnounced reports whether a shutdown has been announced in the
// current run.
func (b *Bus) ShutdownAnnounced() bool { return b.announced.Load() }
