package natsmetrics

import (
	"errors"
	"math"

	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The attributes of the data points. A route's values come from the routes
// the program declares; the state's from the fixed set [states].
const (
	attrSubject   = "natsbridge.subject"
	attrDirection = "natsbridge.direction"
	attrEventType = "natsbridge.event.type"
	attrState     = "natsbridge.connection.state"
)

// The values of natsbridge.connection.state.
const (
	// The Conn has no client connection: Conn.Start was not called yet,
	// or failed, or the Conn was closed without one.
	stateNotStarted = "not_started"
	stateConnecting = "connecting"
	stateConnected  = "connected"
	stateReconnect  = "reconnecting"
	stateDisconnect = "disconnected"
	stateDraining   = "draining"
	stateClosed     = "closed"
)

// states are the values of natsbridge.connection.state, each observed at
// every collection: 1 for the current one, 0 for the others.
var states = []string{
	stateNotStarted, stateConnecting, stateConnected, stateReconnect,
	stateDisconnect, stateDraining, stateClosed,
}

// stateOf is the natsbridge.connection.state value of a client status
// (nil: not started). Draining subscriptions and draining publishes are one
// state: Conn.Close does both, one after the other.
func stateOf(nc *nats.Conn) string {
	if nc == nil {
		return stateNotStarted
	}
	return statusState(nc.Status())
}

func statusState(s nats.Status) string {
	switch s {
	case nats.CONNECTING:
		return stateConnecting
	case nats.CONNECTED:
		return stateConnected
	case nats.RECONNECTING:
		return stateReconnect
	case nats.DISCONNECTED:
		return stateDisconnect
	case nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return stateDraining
	case nats.CLOSED:
		return stateClosed
	default:
		// A status nats.go may add later: no state is 1, which a sum
		// over the states shows.
		return ""
	}
}

// instruments are observable: every value is read at collection time from
// Conn.Stats and the client's status, so the routes' hot paths only
// increment the bridge's own atomic counters, with metrics or without.
type instruments struct {
	forwarded      metric.Int64ObservableCounter
	buffered       metric.Int64ObservableCounter
	dropped        metric.Int64ObservableCounter
	missed         metric.Int64ObservableCounter
	encodeFailures metric.Int64ObservableCounter
	received       metric.Int64ObservableCounter
	decodeFailures metric.Int64ObservableCounter
	echoes         metric.Int64ObservableCounter
	state          metric.Int64ObservableUpDownCounter

	// stateSets[i] is the attribute set of states[i], built once.
	stateSets []metric.ObserveOption
}

func newInstruments(m metric.Meter) (*instruments, error) {
	in := &instruments{}
	for _, s := range states {
		in.stateSets = append(in.stateSets,
			metric.WithAttributeSet(attribute.NewSet(attribute.String(attrState, s))))
	}
	counter := func(name, unit, desc string) (metric.Int64ObservableCounter, error) {
		return m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	}
	var errs [9]error
	in.forwarded, errs[0] = counter("natsbridge.forwarded.events", "{event}",
		"Outbound: events published, handed to the NATS client or held in its reconnect buffer.")
	in.buffered, errs[1] = counter("natsbridge.buffered.events", "{event}",
		"Outbound: forwarded events that went to the reconnect buffer while the client was reconnecting.")
	in.dropped, errs[2] = counter("natsbridge.dropped.events", "{event}",
		"Outbound: events the NATS client refused. Inbound: messages the client discarded because the route fell behind.")
	in.missed, errs[3] = counter("natsbridge.missed.events", "{event}",
		"Outbound: local events the route never read because it fell more than the bus capacity behind.")
	in.encodeFailures, errs[4] = counter("natsbridge.encode.failures", "{failure}",
		"Outbound: events the route's codec could not encode.")
	in.received, errs[5] = counter("natsbridge.received.events", "{event}",
		"Inbound: messages decoded and emitted on the bus.")
	in.decodeFailures, errs[6] = counter("natsbridge.decode.failures", "{failure}",
		"Inbound: messages the route's codec rejected, logged and skipped.")
	in.echoes, errs[7] = counter("natsbridge.echoes.skipped", "{event}",
		"Inbound: messages published by a Conn of this bus, skipped. Outbound: events received from NATS, not sent back.")
	in.state, errs[8] = m.Int64ObservableUpDownCounter("natsbridge.connection.state",
		// Not "1": the Prometheus translation would name a gauge of unit
		// "1" a ratio.
		metric.WithUnit("{state}"),
		metric.WithDescription("1 for the connection's current state, 0 for the others."))
	return in, errors.Join(errs[:]...)
}

func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{
		in.forwarded, in.buffered, in.dropped, in.missed, in.encodeFailures,
		in.received, in.decodeFailures, in.echoes, in.state,
	}
}

// observe reports the counters of every route, and the state. A route
// reports the counters of its direction only: the others stay zero by
// definition and would only double the series.
func (in *instruments) observe(o metric.Observer, stats []natsbridge.Stats, state string) {
	for _, s := range mergeStats(stats) {
		attrs := metric.WithAttributeSet(attribute.NewSet(
			attribute.String(attrSubject, s.Subject),
			attribute.String(attrDirection, s.Direction.String()),
			attribute.String(attrEventType, s.Type),
		))
		o.ObserveInt64(in.dropped, clamp(s.Dropped), attrs)
		o.ObserveInt64(in.echoes, clamp(s.Echoes), attrs)
		switch s.Direction {
		case natsbridge.Outbound:
			o.ObserveInt64(in.forwarded, clamp(s.Forwarded), attrs)
			o.ObserveInt64(in.buffered, clamp(s.Buffered), attrs)
			o.ObserveInt64(in.missed, clamp(s.Missed), attrs)
			o.ObserveInt64(in.encodeFailures, clamp(s.EncodeFailures), attrs)
		case natsbridge.Inbound:
			o.ObserveInt64(in.received, clamp(s.Received), attrs)
			o.ObserveInt64(in.decodeFailures, clamp(s.DecodeFailures), attrs)
		}
	}
	for i, st := range states {
		var v int64
		if st == state {
			v = 1
		}
		o.ObserveInt64(in.state, v, in.stateSets[i])
	}
}

// routeKey is what the attributes of a route's data points hold.
type routeKey struct {
	dir          natsbridge.Direction
	subject, typ string
}

// mergeStats returns stats with the counters of the routes whose
// attributes are alike summed into one entry. Routes differ by Go type,
// but Stats.Type is reflect.Type.String, which two packages can share
// (a.Order and b.Order are both "orders.Order" when both packages are named
// orders); a callback must observe each attribute set once per instrument,
// and the sum is the true count for those attributes, where keeping one
// route would hide the other's.
func mergeStats(stats []natsbridge.Stats) []natsbridge.Stats {
	out := make([]natsbridge.Stats, 0, len(stats))
	index := make(map[routeKey]int, len(stats))
	for _, s := range stats {
		k := routeKey{s.Direction, s.Subject, s.Type}
		i, seen := index[k]
		if !seen {
			index[k] = len(out)
			out = append(out, s)
			continue
		}
		o := &out[i]
		o.Forwarded = add(o.Forwarded, s.Forwarded)
		o.Buffered = add(o.Buffered, s.Buffered)
		o.Dropped = add(o.Dropped, s.Dropped)
		o.Missed = add(o.Missed, s.Missed)
		o.EncodeFailures = add(o.EncodeFailures, s.EncodeFailures)
		o.Received = add(o.Received, s.Received)
		o.DecodeFailures = add(o.DecodeFailures, s.DecodeFailures)
		o.Echoes = add(o.Echoes, s.Echoes)
	}
	return out
}

// add returns a+b, or math.MaxUint64 if the sum does not fit: a counter
// that wrapped around would go down.
func add(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// clamp converts a count to the int64 that the Int64 instruments take; a
// count past math.MaxInt64 stays at the maximum.
func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
