package lifecycle

import (
	"os"
	"time"
)

// Event is the closed set of the runtime's events: every type of this
// package whose name ends in Event implements it, and no other type can.
// The runtime emits each event on its bus twice: as its own type, for
// those who want one kind, and as an Event, so that one subscription or
// handler sees every phase in the order the runtime went through them:
//
//	fxbus.Handle(func(ctx context.Context, ev lifecycle.Event) error {
//		switch ev := ev.(type) {
//		case lifecycle.TaskFailedEvent:
//			failures.Add(1)
//		case lifecycle.StoppedEvent:
//			log.Printf("stopped: %v", ev.Err)
//		}
//		return nil
//	})
//
// The events are plain values, each emitted alongside a log entry. The
// shutdown itself is announced with fxbus.ShutdownInitiatedEvent, once per
// shutdown, shared with fxbus.Module.
type Event interface {
	lifecycleEvent()
}

// ProviderBootedEvent is emitted for each provider once it has booted: its
// Boot hook, if it has one, returned nil.
type ProviderBootedEvent struct {
	Name     string
	Priority Priority
	Duration time.Duration
}

// ProviderStoppedEvent is emitted for each booted provider when it has been
// stopped (its Stop hook, if it has one, returned), at shutdown or in the
// rollback of a failed boot.
type ProviderStoppedEvent struct {
	Name     string
	Duration time.Duration
	// Err is the stop's failure, a [*ProviderError]; nil if it stopped.
	Err error
}

// BootedEvent is emitted when every provider has booted and the supervised
// tasks were started.
type BootedEvent struct {
	// Duration is the time the runtime's start took.
	Duration time.Duration
	// Providers are the provider names in boot order.
	Providers []string
}

// ReadyEvent is emitted when the runtime enters [StateRunning]: right after
// [BootedEvent] without Fx, and under [Module] once every OnStart hook of the
// application has returned.
type ReadyEvent struct{}

// ReloadStartedEvent is emitted when a reload run begins.
type ReloadStartedEvent struct {
	// Trigger says what asked for it: "signal: hangup", "Reload".
	Trigger string
}

// ReloadCompletedEvent is emitted when a reload run ends.
type ReloadCompletedEvent struct {
	Duration time.Duration
	// Applied is false when validation failed and nothing was reloaded.
	Applied bool
	// Errors has one entry per failing provider; empty on success.
	Errors []*ProviderError
}

// TaskStartedEvent is emitted each time a task's function is called.
type TaskStartedEvent struct {
	Name    string
	Attempt int
}

// TaskFailedEvent is emitted when a task returns an error or panics before
// shutdown. Policy says what happens next.
type TaskFailedEvent struct {
	Name    string
	Attempt int
	Policy  Policy
	Err     error
}

// TaskRestartingEvent is emitted before a restarting task's backoff delay.
type TaskRestartingEvent struct {
	Name string
	// Attempt is the number of the run about to start.
	Attempt int
	// Delay is the backoff before it.
	Delay time.Duration
	// Failures is the number of failures within the budget window.
	Failures int
}

// TaskStoppedEvent is emitted when a task's goroutine ends for good. A
// task that returns after its run has ended (a straggler the drain gave up
// on) emits none: no event of a run's tasks comes after its [StoppedEvent],
// since the bus may then be a later run's.
type TaskStoppedEvent struct {
	Name string
	// Err is the last run's error; nil if it returned nil or returned after
	// the runtime cancelled it.
	Err error
}

// DrainCompletedEvent is emitted when the runtime has finished waiting for its
// tasks on stop. Stragglers lists those still running.
type DrainCompletedEvent struct {
	Duration   time.Duration
	Stragglers []Straggler
}

// GateDrainedEvent is emitted when the runtime's gate emptied on stop.
type GateDrainedEvent struct {
	Waited time.Duration
}

// GateForcedEvent is emitted when the runtime stopped waiting for its gate with
// work still in flight.
type GateForcedEvent struct {
	Waited time.Duration
	Left   int
}

// SignalReceivedEvent is emitted for every signal the runtime handles.
type SignalReceivedEvent struct {
	Signal os.Signal
}

// ShutdownForcedEvent is emitted when a second interrupt or termination signal
// arrives during shutdown, just before the runtime forces the exit.
type ShutdownForcedEvent struct {
	Signal   os.Signal
	ExitCode int
}

// StoppedEvent is emitted at the end of the runtime's stop, and when a failed
// boot has been rolled back (then Err is the boot's error).
type StoppedEvent struct {
	Duration time.Duration
	// Err is what Stop returns.
	Err error
}

func (ProviderBootedEvent) lifecycleEvent()  {}
func (ProviderStoppedEvent) lifecycleEvent() {}
func (BootedEvent) lifecycleEvent()          {}
func (ReadyEvent) lifecycleEvent()           {}
func (ReloadStartedEvent) lifecycleEvent()   {}
func (ReloadCompletedEvent) lifecycleEvent() {}
func (TaskStartedEvent) lifecycleEvent()     {}
func (TaskFailedEvent) lifecycleEvent()      {}
func (TaskRestartingEvent) lifecycleEvent()  {}
func (TaskStoppedEvent) lifecycleEvent()     {}
func (DrainCompletedEvent) lifecycleEvent()  {}
func (GateDrainedEvent) lifecycleEvent()     {}
func (GateForcedEvent) lifecycleEvent()      {}
func (SignalReceivedEvent) lifecycleEvent()  {}
func (ShutdownForcedEvent) lifecycleEvent()  {}
func (StoppedEvent) lifecycleEvent()         {}
