package debugpage

import "time"

// Snapshot is what the page shows, as its JSON path serves it.
type Snapshot struct {
	// Time is when the snapshot was taken; Since, when the page began
	// observing the bus.
	Time  time.Time `json:"time"`
	Since time.Time `json:"since"`
	// Runtime is nil for a page without a runtime.
	Runtime *Runtime `json:"runtime,omitempty"`
	// Types are the bus's counters, one entry per event type with a ring,
	// as fxbus.Bus.Stats reports them.
	Types []TypeStats `json:"types"`
	// Tasks are the supervised tasks seen in the runtime's events, by name.
	Tasks []Task `json:"tasks"`
	// Events are the last events of each of the runtime's event types
	// (and fxbus.ShutdownInitiatedEvent), in the order the types first
	// appeared.
	Events []EventLog `json:"events"`
}

// Runtime is the state of a lifecycle.Runtime.
type Runtime struct {
	State string `json:"state"` // lifecycle.State's name: "running"
	Ready bool   `json:"ready"`
	// Cause is why the run shut down; empty while it has not begun to.
	Cause    string `json:"cause,omitempty"`
	ExitCode int    `json:"exit_code"`
	// GateInFlight is the work admitted by the runtime's gate and not done.
	GateInFlight int  `json:"gate_in_flight"`
	GateClosed   bool `json:"gate_closed"`
	// Plan is the providers in boot order.
	Plan []PlanStep `json:"plan"`
}

// PlanStep is one provider of the runtime's plan.
type PlanStep struct {
	Name     string `json:"name"`
	Priority string `json:"priority"`
	// After says why it comes after others: "db: needs *app.DB".
	After []string `json:"after,omitempty"`
}

// TypeStats are the bus's counters of one event type (fxbus.Stats).
type TypeStats struct {
	// Type names the type by the import path of each named type in it;
	// Name is its short form, as the page shows it.
	Type string `json:"type"`
	Name string `json:"name"`
	// Backlog is what the slowest live subscriber has yet to read.
	Backlog     uint64 `json:"backlog"`
	Emitted     uint64 `json:"emitted"`
	Dropped     uint64 `json:"dropped"`
	Missed      uint64 `json:"missed"`
	Subscribers int    `json:"subscribers"`
}

// Task is a supervised task as the runtime's events describe it.
type Task struct {
	Name string `json:"name"`
	// Status is "running", "failed", "restarting" (waiting out its
	// backoff) or "stopped".
	Status string `json:"status"`
	// Attempt counts the task's runs in the current run of the runtime.
	Attempt int `json:"attempt"`
	// Policy is known once the task has failed: "restart".
	Policy string `json:"policy,omitempty"`
	// Failures is the number of failures within the restart budget's
	// window, as of the last restart: the budget used.
	Failures int `json:"failures"`
	// NextDelay is the backoff before the restart, while restarting.
	NextDelay time.Duration `json:"next_delay_ns,omitempty"`
	// LastError is the last failure's message, first line only; At is
	// when the page saw it.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Changed is when the page saw the task's last event.
	Changed time.Time `json:"changed"`
}

// EventLog is the last events of one type.
type EventLog struct {
	Type string `json:"type"` // "lifecycle.TaskFailedEvent"
	// Count is how many the page has seen.
	Count  uint64        `json:"count"`
	Recent []EventRecord `json:"recent"` // oldest first
}

// EventRecord is one event: when the page saw it and its fields.
type EventRecord struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"` // "{Name:indexer Attempt:2 ...}"
}
