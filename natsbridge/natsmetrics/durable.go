package natsmetrics

import (
	"context"
	"errors"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The attributes of a durable consumer's data points.
const (
	attrStream   = "natsbridge.durable.stream"
	attrConsumer = "natsbridge.durable.consumer"
)

// Consumer is what [NewConsumer] reads: a *durable.Consumer[E] of any
// event type E.
type Consumer interface {
	Stats(ctx context.Context) (durable.Stats, error)
}

// lagTimeout bounds the question to the server for a consumer's lag at
// each collection, so that an unreachable server does not hold the
// collection of every other instrument.
const lagTimeout = 2 * time.Second

// NewConsumer creates the instruments of the durable consumer c, with the
// MeterProvider given with [WithMeterProvider], or else the global one.
// Every value is read from [durable.Consumer.Stats] when the MeterProvider
// collects: the counters from the consumer's own, and the lag (pending and
// ack pending) from the server, asked within the collection's context and
// at most 2s. When the server does not answer, the counters are still
// reported, the lag is not, and the collection reports the error. Before
// the consumer has started, and once its connection is closed, there is
// no lag to report: the counters are, and no error.
//
// Call NewConsumer once per consumer (on one MeterProvider, two calls for
// one consumer would report its data points twice), at any time: under
// Fx, right after durable.Listen. [Metrics.Close] unregisters.
func NewConsumer(c Consumer, opts ...Option) (*Metrics, error) {
	if c == nil {
		return nil, errors.New("natsmetrics: NewConsumer needs the durable consumer to observe, got nil")
	}
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	mp := o.provider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	in, err := newConsumerInstruments(meter)
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, lagTimeout)
		defer cancel()
		s, err := c.Stats(ctx)
		lag := err == nil
		if errors.Is(err, durable.ErrNotStarted) || errors.Is(err, nats.ErrConnectionClosed) {
			err = nil
		}
		in.observe(o, s, lag)
		return err
	}, in.observables()...)
	if err != nil {
		return nil, err
	}
	return &Metrics{reg: reg}, nil
}

// consumerInstruments are observable, like the Conn's: the consumer's
// path only increments its own atomic counters.
type consumerInstruments struct {
	delivered, redelivered, acked, retried  metric.Int64ObservableCounter
	terminated, decodeFailures, newerSchema metric.Int64ObservableCounter
	returned                                metric.Int64ObservableCounter
	pending, ackPending                     metric.Int64ObservableUpDownCounter
}

func newConsumerInstruments(m metric.Meter) (*consumerInstruments, error) {
	in := &consumerInstruments{}
	counter := func(name, unit, desc string) (metric.Int64ObservableCounter, error) {
		return m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	}
	var errs [10]error
	in.delivered, errs[0] = counter("natsbridge.durable.delivered.messages", "{message}",
		"Messages received from the server, each redelivery again.")
	in.redelivered, errs[1] = counter("natsbridge.durable.redelivered.messages", "{message}",
		"Deliveries of messages delivered before (after a handler's error, a crash, a timeout or a stop).")
	in.acked, errs[2] = counter("natsbridge.durable.acked.messages", "{message}",
		"Messages whose handler returned nil, acknowledged.")
	in.retried, errs[3] = counter("natsbridge.durable.retried.messages", "{message}",
		"Handler errors after which the message was given back for redelivery after the backoff.")
	in.terminated, errs[4] = counter("natsbridge.durable.terminated.messages", "{message}",
		"Messages never to be delivered again: a permanent handler error, or a failure on the last delivery.")
	in.decodeFailures, errs[5] = counter("natsbridge.durable.decode.failures", "{failure}",
		"Messages terminated because they were of another type or could not be decoded.")
	in.newerSchema, errs[6] = counter("natsbridge.durable.newer_schema.messages", "{message}",
		"Deliveries given back because their schema version was newer than the consumer's.")
	in.returned, errs[7] = counter("natsbridge.durable.returned.messages", "{message}",
		"Messages fetched but not handled when the consumer stopped, given back for redelivery.")
	in.pending, errs[8] = m.Int64ObservableUpDownCounter("natsbridge.durable.pending.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("The server's count of messages not yet delivered to the consumer: its lag."))
	in.ackPending, errs[9] = m.Int64ObservableUpDownCounter("natsbridge.durable.ack_pending.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("Messages delivered and not yet acknowledged, over every process sharing the consumer."))
	return in, errors.Join(errs[:]...)
}

func (in *consumerInstruments) observables() []metric.Observable {
	return []metric.Observable{
		in.delivered, in.redelivered, in.acked, in.retried, in.terminated,
		in.decodeFailures, in.newerSchema, in.returned, in.pending, in.ackPending,
	}
}

// observe reports the counters of s, and its lag if the server gave it.
func (in *consumerInstruments) observe(o metric.Observer, s durable.Stats, lag bool) {
	attrs := metric.WithAttributeSet(attribute.NewSet(
		attribute.String(attrStream, s.Stream),
		attribute.String(attrConsumer, s.Consumer),
		attribute.String(attrEventType, s.Type),
	))
	o.ObserveInt64(in.delivered, clamp(s.Delivered), attrs)
	o.ObserveInt64(in.redelivered, clamp(s.Redelivered), attrs)
	o.ObserveInt64(in.acked, clamp(s.Acked), attrs)
	o.ObserveInt64(in.retried, clamp(s.Retried), attrs)
	o.ObserveInt64(in.terminated, clamp(s.Terminated), attrs)
	o.ObserveInt64(in.decodeFailures, clamp(s.DecodeFailures), attrs)
	o.ObserveInt64(in.newerSchema, clamp(s.NewerSchema), attrs)
	o.ObserveInt64(in.returned, clamp(s.Returned), attrs)
	if lag {
		o.ObserveInt64(in.pending, clamp(s.Pending), attrs)
		o.ObserveInt64(in.ackPending, clamp(s.AckPending), attrs)
	}
}
