package metrics

import (
	"errors"
	"math"

	"github.com/claviron/fxruntime/fxbus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// attrEventType names the event type of a bus instrument's data point.
const attrEventType = "fxbus.event.type"

// busInstruments are read from [fxbus.Bus.Stats] at collection time: the
// emit path only increments the bus's own counters, whether or not metrics
// are wired.
type busInstruments struct {
	emitted       metric.Int64ObservableCounter
	dropped       metric.Int64ObservableCounter
	missed        metric.Int64ObservableCounter
	subscriptions metric.Int64ObservableUpDownCounter
}

func newBusInstruments(m metric.Meter) (busInstruments, error) {
	var bi busInstruments
	var errs [4]error
	bi.emitted, errs[0] = m.Int64ObservableCounter("fxbus.emitted.events",
		metric.WithUnit("{event}"),
		metric.WithDescription("Events written to the bus: emits of a type that found at least one live subscriber."))
	bi.dropped, errs[1] = m.Int64ObservableCounter("fxbus.dropped.events",
		metric.WithUnit("{event}"),
		metric.WithDescription("Emits of a subscribed-to type that found no live subscriber."))
	bi.missed, errs[2] = m.Int64ObservableCounter("fxbus.missed.events",
		metric.WithUnit("{event}"),
		metric.WithDescription("Events that lagging subscribers lost, summed over the subscribers of the type."))
	bi.subscriptions, errs[3] = m.Int64ObservableUpDownCounter("fxbus.subscription.count",
		metric.WithUnit("{subscription}"),
		metric.WithDescription("Live subscriptions to the event type."))
	return bi, errors.Join(errs[:]...)
}

func (bi *busInstruments) instruments() []metric.Observable {
	return []metric.Observable{bi.emitted, bi.dropped, bi.missed, bi.subscriptions}
}

// observe reports the counters of every event type that has a ring.
func (bi *busInstruments) observe(o metric.Observer, bus *fxbus.Bus) {
	for _, s := range mergeStats(bus.Stats()) {
		attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String(attrEventType, eventType(s))))
		o.ObserveInt64(bi.emitted, clamp(s.Emitted), attrs)
		o.ObserveInt64(bi.dropped, clamp(s.Dropped), attrs)
		o.ObserveInt64(bi.missed, clamp(s.Missed), attrs)
		o.ObserveInt64(bi.subscriptions, int64(s.Subscribers), attrs)
	}
}

// eventType is the value of the fxbus.event.type attribute for s: its
// qualified Type, which tells apart types of the same name from different
// packages.
func eventType(s fxbus.Stats) string { return s.Type }

// mergeStats returns stats with the counters of the types that [eventType]
// names alike summed into one entry: a callback must observe each attribute
// set once per instrument, and a sum is the true count for that name, where
// keeping one of them would hide the others' events.
func mergeStats(stats []fxbus.Stats) []fxbus.Stats {
	out := make([]fxbus.Stats, 0, len(stats))
	index := make(map[string]int, len(stats))
	for _, s := range stats {
		name := eventType(s)
		i, seen := index[name]
		if !seen {
			index[name] = len(out)
			out = append(out, s)
			continue
		}
		out[i].Emitted += s.Emitted
		out[i].Dropped += s.Dropped
		out[i].Missed += s.Missed
		out[i].Subscribers += s.Subscribers
	}
	return out
}

// clamp converts a count to the int64 that the Int64 instruments take;
// a count past math.MaxInt64 (centuries of emits) stays at the maximum.
func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
