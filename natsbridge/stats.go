package natsbridge

import "sync/atomic"

// Direction says which way a route carries events.
type Direction uint8

const (
	// Outbound routes forward local events to a subject ([Forward]).
	Outbound Direction = iota + 1
	// Inbound routes emit a subject's messages on the local bus ([Receive]).
	Inbound
)

// String returns "outbound" or "inbound".
func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	default:
		return "unknown"
	}
}

// Stats are the counters of one route, for logs and metrics; see
// [Conn.Stats]. Each counter only grows.
//
// On an outbound route, every event emitted on the bus while the route was
// live ends in exactly one of Forwarded, Dropped, EncodeFailures, Echoes or
// Missed (events still waiting in the route's subscription are in none
// yet). Forwarded means the NATS client accepted the message: core NATS
// delivers it at most once, and says nothing when it does not (see the
// package documentation, "Delivery").
//
// On an inbound route, every message the client got for the route ends in
// exactly one of Received, DecodeFailures, Echoes or Dropped (discarded by
// the client because the route fell behind), once the route has handled
// what the client holds for it. After [Conn.Close] has returned nil, the
// counters are final, whenever they are read. Under [Module], the
// counters of a route go on across the runs of an application started
// again: they count every run since the *Conn was built. A Close cut short by its
// context discards what the client still holds, which is counted nowhere;
// Close's error says about how many messages that is. The message a route
// is handling at that moment is counted: in Received if the route emitted
// it before the run ended, in Dropped if not.
type Stats struct {
	Direction Direction
	Subject   string
	// Type is the event type's name, as reflect.Type.String prints it.
	Type string

	// Forwarded (outbound) counts events published: handed to the client
	// while connected, or held in its reconnect buffer while reconnecting.
	Forwarded uint64
	// Buffered (outbound) counts the Forwarded events that went to the
	// reconnect buffer. They are sent when the client reconnects and lost
	// if the connection is closed first. The client is asked right after
	// the publish, so an event published at the very moment the
	// connection breaks may be counted either way.
	Buffered uint64
	// Dropped counts, outbound, events the client refused: the reconnect
	// buffer ([Config.ReconnectBufSize]) was full, the connection was
	// closed or draining, or the message was larger than the server
	// accepts; inbound, messages the client discarded because the route
	// could not keep up (a NATS slow consumer), and messages the route was
	// still handling when their run ended (a Close cut short by its
	// context), which are not emitted: a later run's subscribers must not
	// get them.
	Dropped uint64
	// Missed (outbound) counts local events the route never saw because
	// it fell more than the bus capacity behind (fxbus.LaggedError).
	Missed uint64
	// EncodeFailures (outbound) counts events the codec could not encode.
	EncodeFailures uint64

	// Received (inbound) counts messages decoded and emitted on the bus.
	Received uint64
	// DecodeFailures (inbound) counts messages the codec rejected; each
	// is logged with the subject and the error, then skipped.
	DecodeFailures uint64
	// Echoes counts, inbound, messages published by this Conn or by
	// another Conn on the same bus, skipped; outbound, events that a Conn
	// on the bus received from NATS, read by the route and not sent back. A received event the route fell too
	// far behind to read is in Missed instead; none is ever sent back.
	Echoes uint64
}

// counters are the live counters of a route, updated with atomics by the
// route's goroutine and the client's callbacks, read by Conn.Stats.
type counters struct {
	forwarded, buffered, dropped, missed, encodeFailures atomic.Uint64
	received, decodeFailures, echoes                     atomic.Uint64
}

func (c *counters) snapshot(d Direction, subject, typ string) Stats {
	return Stats{
		Direction:      d,
		Subject:        subject,
		Type:           typ,
		Forwarded:      c.forwarded.Load(),
		Buffered:       c.buffered.Load(),
		Dropped:        c.dropped.Load(),
		Missed:         c.missed.Load(),
		EncodeFailures: c.encodeFailures.Load(),
		Received:       c.received.Load(),
		DecodeFailures: c.decodeFailures.Load(),
		Echoes:         c.echoes.Load(),
	}
}
