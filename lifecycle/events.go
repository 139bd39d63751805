package lifecycle

import (
	"os"
	"time"
)

// The events below are emitted on the runtime's bus with fxbus.Emit, one
// per phase, each alongside a log entry. They are plain values: subscribe
// to the ones you need with fxbus.Subscribe or fxbus.Listen.
//
// The shutdown itself is announced with fxbus.ShutdownInitiated, once per
// shutdown, shared with fxbus.Module.

// ProviderBooted is emitted for each provider once it has booted: its
// Boot hook, if it has one, returned nil.
type ProviderBooted struct {
	Name     string
	Priority Priority
	Duration time.Duration
}

// ProviderStopped is emitted for each booted provider when it has been
// stopped (its Stop hook, if it has one, returned), at shutdown or in the
// rollback of a failed boot.
type ProviderStopped struct {
	Name     string
	Duration time.Duration
	// Err is the stop's failure, a [*ProviderError]; nil if it stopped.
	Err error
}

// Booted is emitted when every provider has booted and the supervised
// tasks were started.
type Booted struct {
	// Duration is the time the runtime's start took.
	Duration time.Duration
	// Providers are the provider names in boot order.
	Providers []string
}

// Ready is emitted when the runtime enters [StateRunning]: right after
// [Booted] without Fx, and under [Module] once every OnStart hook of the
// application has returned.
type Ready struct{}

// ReloadStarted is emitted when a reload run begins.
type ReloadStarted struct {
	// Trigger says what asked for it: "signal: hangup", "Reload".
	Trigger string
}

// ReloadCompleted is emitted when a reload run ends.
type ReloadCompleted struct {
	Duration time.Duration
	// Applied is false when validation failed and nothing was reloaded.
	Applied bool
	// Errors has one entry per failing provider; empty on success.
	Errors []*ProviderError
}

// TaskStarted is emitted each time a task's function is called.
type TaskStarted struct {
	Name    string
	Attempt int
}

// TaskFailed is emitted when a task returns an error or panics before
// shutdown. Policy says what happens next.
type TaskFailed struct {
	Name    string
	Attempt int
	Policy  Policy
	Err     error
}

// TaskRestarting is emitted before a restarting task's backoff delay.
type TaskRestarting struct {
	Name string
	// Attempt is the number of the run about to start.
	Attempt int
	// Delay is the backoff before it.
	Delay time.Duration
	// Failures is the number of failures within the budget window.
	Failures int
}

// TaskStopped is emitted when a task's goroutine ends for good.
type TaskStopped struct {
	Name string
	// Err is the last run's error; nil if it returned nil or returned after
	// the runtime cancelled it.
	Err error
}

// DrainCompleted is emitted when the runtime has finished waiting for its
// tasks on stop. Stragglers lists those still running.
type DrainCompleted struct {
	Duration   time.Duration
	Stragglers []Straggler
}

// GateDrained is emitted when the runtime's gate emptied on stop.
type GateDrained struct {
	Waited time.Duration
}

// GateForced is emitted when the runtime stopped waiting for its gate with
// work still in flight.
type GateForced struct {
	Waited time.Duration
	Left   int
}

// SignalReceived is emitted for every signal the runtime handles.
type SignalReceived struct {
	Signal os.Signal
}

// ShutdownForced is emitted when a second interrupt or termination signal
// arrives during shutdown, just before the runtime forces the exit.
type ShutdownForced struct {
	Signal   os.Signal
	ExitCode int
}

// Stopped is emitted at the end of the runtime's stop, and when a failed
// boot has been rolled back (then Err is the boot's error).
type Stopped struct {
	Duration time.Duration
	// Err is what Stop returns.
	Err error
}
