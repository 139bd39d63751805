package metrics

import (
	"context"
	"errors"
	"sync"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the instruments: the name of
// the Meter they are created with.
const ScopeName = "github.com/claviron/fxruntime/metrics"

// Metrics is the set of instruments of one bus and, optionally, the runtime
// that emits on it. Build it with [New], or let [Module] build one per Fx
// application. Its methods are safe for concurrent use.
type Metrics struct {
	reg metric.Registration
	rt  *runtimeInstruments // nil without a runtime

	// Set by New only, with a runtime: the subscription to the runtime's
	// events, read by the goroutine recordAll alone; stop, which Close
	// cancels with cancel to end that goroutine; done, closed when it has
	// returned.
	sub    *fxbus.Subscription[lifecycle.Event]
	stop   context.Context
	cancel context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New creates the instruments of bus and, unless rt is nil, of the runtime
// rt (which must emit its events on bus), with the MeterProvider given with
// [WithMeterProvider] or else the global one.
//
// The bus instruments and the runtime's state and in-flight work are read
// when the MeterProvider collects, never on the emit path. The other runtime
// instruments are recorded from one subscription to lifecycle.Event, made
// here: build Metrics before rt starts, so that it sees the whole run.
// A goroutine records the events until bus is closed or Close is called.
//
// New fails on a nil bus, and when the MeterProvider refuses an instrument.
func New(bus *fxbus.Bus, rt *lifecycle.Runtime, opts ...Option) (*Metrics, error) {
	if bus == nil {
		return nil, errors.New("metrics: New needs the *fxbus.Bus to observe, got nil")
	}
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	m, err := build(o.provider, bus, rt)
	if err != nil {
		return nil, err
	}
	if m.rt != nil {
		m.sub = fxbus.Subscribe[lifecycle.Event](bus)
		m.stop, m.cancel = context.WithCancel(context.Background())
		m.done = make(chan struct{})
		go m.recordAll()
	}
	return m, nil
}

// build creates the instruments and registers the callback that reads the
// observable ones.
func build(mp metric.MeterProvider, bus *fxbus.Bus, rt *lifecycle.Runtime) (*Metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	bi, err := newBusInstruments(meter)
	if err != nil {
		return nil, err
	}
	m := &Metrics{}
	observables := bi.instruments()
	if rt != nil {
		if m.rt, err = newRuntimeInstruments(meter, rt); err != nil {
			return nil, err
		}
		observables = append(observables, m.rt.instruments()...)
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		bi.observe(o, bus)
		if m.rt != nil {
			m.rt.observe(o)
		}
		return nil
	}, observables...)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// recordAll records the runtime's events until the bus closes, or until
// Close cancels stop; then it records what was already buffered and closes
// the subscription.
func (m *Metrics) recordAll() {
	defer close(m.done)
	defer m.sub.Close()
	for {
		ev, err := m.sub.Recv(m.stop)
		switch {
		case err == nil:
			m.rt.record(context.Background(), ev)
		case errors.Is(err, fxbus.ErrLagged):
			// The bus counts the lost events in fxbus.missed.events, under
			// the type lifecycle.Event; the next Recv goes on.
		case m.stop.Err() != nil:
			m.drain()
			return
		default: // the bus closed and every buffered event was received
			return
		}
	}
}

// drain records the events still buffered for the subscription.
func (m *Metrics) drain() {
	for {
		ev, err := m.sub.TryRecv()
		switch {
		case err == nil:
			m.rt.record(context.Background(), ev)
		case errors.Is(err, fxbus.ErrLagged):
		default:
			return
		}
	}
}

// Close records the runtime's events emitted before it, then stops
// recording them, and unregisters the observable instruments: later
// collections no longer read the bus or the runtime. Close is idempotent;
// it returns the MeterProvider's error, if unregistering failed.
func (m *Metrics) Close() error {
	m.closeOnce.Do(func() {
		if m.sub != nil {
			m.cancel()
			<-m.done
		}
		m.closeErr = m.reg.Unregister()
	})
	return m.closeErr
}
