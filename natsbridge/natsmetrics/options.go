package natsmetrics

import "go.opentelemetry.io/otel/metric"

// An Option configures the instruments built by [New].
type Option interface {
	apply(*options)
}

type options struct {
	provider metric.MeterProvider // nil: the global one, read by New
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithMeterProvider sets the MeterProvider the instruments are created with.
// A nil provider, like the default, means the global one
// (otel.GetMeterProvider at the time of New).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(o *options) { o.provider = mp })
}
