package natsmetrics

import (
	"context"
	"errors"
	"sync"

	"github.com/claviron/fxruntime/natsbridge"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the instruments: the name of
// the Meter they are created with.
const ScopeName = "github.com/claviron/fxruntime/natsbridge/natsmetrics"

// Metrics is the set of instruments of one [natsbridge.Conn]. Build it with
// [New], or let [Module] build one per Fx application. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg metric.Registration

	closeOnce sync.Once
	closeErr  error
}

// New creates the instruments of conn with the MeterProvider given with
// [WithMeterProvider], or else the global one. Every value is read from
// [natsbridge.Conn.Stats] and the client's status when the MeterProvider
// collects, so New may be called at any time in the Conn's life: the
// counters count from the Conn's start, not from New, and routes declared
// later are reported from the next collection.
//
// New fails on a nil conn, and when the MeterProvider refuses an
// instrument.
func New(conn *natsbridge.Conn, opts ...Option) (*Metrics, error) {
	if conn == nil {
		return nil, errors.New("natsmetrics: New needs the *natsbridge.Conn to observe, got nil")
	}
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return build(o.provider, conn.Stats, func() string { return stateOf(conn.NATS()) })
}

// build creates the instruments and registers the callback that reads
// them from stats and state.
func build(mp metric.MeterProvider, stats func() []natsbridge.Stats, state func() string) (*Metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	in, err := newInstruments(meter)
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		in.observe(o, stats(), state())
		return nil
	}, in.observables()...)
	if err != nil {
		return nil, err
	}
	return &Metrics{reg: reg}, nil
}

// Close unregisters the instruments: later collections no longer read the
// Conn. Close is idempotent; it returns the MeterProvider's error, if
// unregistering failed. It does not close the Conn.
func (m *Metrics) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.reg.Unregister() })
	return m.closeErr
}
