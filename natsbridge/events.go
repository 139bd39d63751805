package natsbridge

import "errors"

// The bridge emits DisconnectedEvent, ReconnectedEvent and ClosedEvent on the local bus as
// the NATS client loses, regains and gives up its connection. Subscribe to
// them like any event:
//
//	sub := fxbus.Subscribe[natsbridge.DisconnectedEvent](bus)
//
// They are emitted only while the run of the connection they tell of
// lasts: a Close cut short by its context may return before the client
// has run its handlers, and the bus of [Module] is then the next run's.
// An event of a run that has ended is logged instead (see the package
// documentation, "Runs").

// DisconnectedEvent is emitted when the connection to the server is lost. The
// client reconnects by itself (see [Config.MaxReconnects]); meanwhile,
// forwarded events go to the reconnect buffer until it is full, then are
// dropped and counted in [Stats.Dropped]. It is not emitted when
// [Conn.Close] ends the connection: [ClosedEvent] is.
type DisconnectedEvent struct {
	// Err is why, when the client knows; nil for a clean close by the
	// server.
	Err error
}

// ReconnectedEvent is emitted when the client is connected again. The reconnect
// buffer has been flushed and the subscriptions restored; events published
// by peers during the outage were not kept for this process.
type ReconnectedEvent struct {
	// URL is the server now connected to, without its password.
	URL string
}

// ClosedEvent is emitted once, when the connection is closed for good: by
// [Conn.Close], or because the client gave up reconnecting. Nothing is
// forwarded or received after it. When the context of Close ends before
// the drain does, it is emitted only if the client gets to it before
// Close returns.
type ClosedEvent struct {
	// Err is the last error the client saw, if any.
	Err error
}

// PeerShutdownEvent is the wire form of another process's
// fxbus.ShutdownInitiatedEvent, sent by [ForwardShutdown] and emitted on the bus
// of every process that receives it with [Receive] (or [BridgeShutdown]).
// It is a type of its own on purpose: a peer leaving is not this process
// shutting down.
type PeerShutdownEvent struct {
	// Origin is the id of the peer's [Conn]; see [Conn.Origin].
	Origin string `json:"origin"`
	// Name is the peer's connection name, [Config.Name].
	Name string `json:"name,omitempty"`
	// Reason, Cause and ExitCode are those of the peer's
	// ShutdownInitiatedEvent; Cause is the error's text.
	Reason   string `json:"reason,omitempty"`
	Cause    string `json:"cause,omitempty"`
	ExitCode int    `json:"exitCode,omitempty"`
}

// CauseError returns the peer's cause as an error, or nil if it had none.
// Only the text crossed the wire: errors.Is against the peer's sentinels
// does not hold.
func (p PeerShutdownEvent) CauseError() error {
	if p.Cause == "" {
		return nil
	}
	return errors.New(p.Cause)
}
