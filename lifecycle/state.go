package lifecycle

import (
	"context"
	"fmt"
)

// State is the runtime's readiness, what a health or readiness probe
// reports. A run moves through the states in order, except that Running
// and Reloading alternate, and a failed boot goes from Booting to Stopped;
// a new run (Start after a stop) goes from Stopped to Booting.
type State int32

// The states of a runtime.
const (
	// StateBooting: built, or booting its providers.
	StateBooting State = iota
	// StateRunning: booted, tasks started, serving.
	StateRunning
	// StateReloading: running, with a reload in progress.
	StateReloading
	// StateShuttingDown: shutdown has begun; new work is refused.
	StateShuttingDown
	// StateStopped: stop has finished, or boot failed.
	StateStopped
)

// String returns the state's name in lower case: "running".
func (s State) String() string {
	switch s {
	case StateBooting:
		return "booting"
	case StateRunning:
		return "running"
	case StateReloading:
		return "reloading"
	case StateShuttingDown:
		return "shutting down"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("state(%d)", int32(s))
}

// State returns the runtime's current state. It is safe to call from any
// goroutine and costs one atomic load.
func (r *Runtime) State() State { return State(r.state.Load()) }

// Ready reports whether the runtime is running (or reloading): what a
// readiness probe should answer.
func (r *Runtime) Ready() bool {
	s := r.State()
	return s == StateRunning || s == StateReloading
}

// WaitRunning blocks until the current run is running and returns nil; or
// returns an error matching [ErrShutdown] if its shutdown begins first, or
// ctx.Err() if ctx is done first.
func (r *Runtime) WaitRunning(ctx context.Context) error {
	ru := r.current()
	for {
		if r.IsShuttingDown() {
			return wrap("wait for running", ErrShutdown)
		}
		if r.Ready() {
			return nil
		}
		select {
		case <-ru.running:
		case <-ru.ctx.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
