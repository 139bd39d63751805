package natsmetrics

import (
	"github.com/claviron/fxruntime/natsbridge"
	"go.opentelemetry.io/otel/metric"
)

// NewFromStats builds the instruments over stats and state rather than a
// Conn, for counters a real Conn cannot be made to reach in a test.
func NewFromStats(mp metric.MeterProvider, stats func() []natsbridge.Stats, state func() string) (*Metrics, error) {
	return build(mp, stats, state)
}

// StatusState is the natsbridge.connection.state value of a client status.
var StatusState = statusState
