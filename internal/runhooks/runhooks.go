// Package runhooks is the plumbing between fxbus and the packages built on
// its Fx integration (lifecycle, natsbridge): the once-per-run shutdown
// announcement, and callbacks at the moments of an application's run that
// only fxbus.Module sees. Applications have no use for it, and Go's
// internal rule keeps it from them; the nested modules of this repository
// may import it.
package runhooks

import "go.uber.org/fx"

// Bus is what a bus offers to the packages built on it. Every method is
// safe for concurrent use.
type Bus interface {
	// AnnounceShutdown emits fxbus.ShutdownInitiatedEvent with these
	// fields unless the current run's shutdown was announced already, and
	// reports whether it did; the call that emits then runs the
	// OnShutdown callbacks before it returns.
	AnnounceShutdown(reason string, cause error, exitCode int) bool
	// ShutdownAnnounced reports whether the current run's shutdown was
	// announced.
	ShutdownAnnounced() bool
	// OnShutdown registers f to run synchronously on the goroutine that
	// announces a shutdown, right after the event is emitted: under
	// fxbus.Module, before the first OnStop hook of the application. f
	// must be quick and must not block. The returned function removes f.
	OnShutdown(f func(reason string, cause error, exitCode int)) (remove func())
	// OnAppStarted registers f to run when every OnStart hook of the
	// application has returned nil, once per run (at once if the
	// application is up). It reports false, and drops f, for a bus that
	// fxbus.Module did not build.
	OnAppStarted(f func()) bool
	// OnRunEnd registers f to run when a run of the application ends,
	// before the bus closes: after the last OnStop hook, or as soon as it
	// is known that Fx will run no more hooks of the run (a start that
	// failed with its context done, a stop past its deadline). f must
	// return within a bounded time. It reports false, and drops f, for a
	// bus that fxbus.Module did not build.
	OnRunEnd(f func(startFailed bool)) bool
	// OnRunAgain registers f to run when the application begins a run
	// after a run that ended (app.Start after app.Stop), once the bus is
	// open again and before any other OnStart hook of the application;
	// not for the first run. f must be quick and must not block. It
	// reports false, and drops f, for a bus that fxbus.Module did not
	// build.
	OnRunAgain(f func()) bool
	// Managed reports whether fxbus.Module built the bus.
	Managed() bool
	// NewRun tells a bus that fxbus.Module did not build that a new run
	// of the runtime begins: its next announcement emits again. (Under
	// fxbus.Module, the module follows the application's runs itself and
	// NewRun does nothing.)
	NewRun()
	// Covers reports whether hooks appended to lc are covered by the
	// bus's decoration of fx.Lifecycle: lc is the lifecycle fxbus.Module
	// gave the bus's own scope.
	Covers(lc fx.Lifecycle) bool
}

// of is set once, by fxbus's init, before any other package can call Of.
var of func(bus any) Bus

// Register is for fxbus's init only.
func Register(f func(bus any) Bus) { of = f }

// Of returns the plumbing of bus, a *fxbus.Bus, or nil for a nil bus.
func Of(bus any) Bus { return of(bus) }
