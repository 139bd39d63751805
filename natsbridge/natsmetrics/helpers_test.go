package natsmetrics_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/internal/natstest"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// wait bounds every wait of the tests.
const wait = 10 * time.Second

// Test events.
type (
	Order struct {
		ID string
	}
	Ack struct {
		OrderID string
	}
)

// runServer starts a NATS server on 127.0.0.1, on port (-1: a random one),
// and shuts it down at the end of the test.
func runServer(t testing.TB, port int) *server.Server {
	t.Helper()
	return natstest.RunServer(t, &server.Options{Port: port})
}

func stopServer(s *server.Server) { natstest.StopServer(s) }

func newBus(t testing.TB, opts ...fxbus.Option) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// newConn returns a Conn not started yet, closed at the end of the test.
func newConn(t testing.TB, bus *fxbus.Bus, cfg natsbridge.Config) *natsbridge.Conn {
	t.Helper()
	c, err := natsbridge.New(bus, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeConn(t, c) })
	return c
}

func start(t testing.TB, c *natsbridge.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// The helpers below are natstest's, under the names these tests use.
func closeConn(t testing.TB, c *natsbridge.Conn) { t.Helper(); natstest.CloseConn(t, c) }

func rawConn(t testing.TB, url string) *nats.Conn { t.Helper(); return natstest.RawConn(t, url) }

func recv[E any](t testing.TB, sub *fxbus.Subscription[E]) E {
	t.Helper()
	return natstest.Recv(t, sub)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	natstest.Eventually(t, what, cond)
}

func statsOf(t testing.TB, c *natsbridge.Conn, d natsbridge.Direction, subject string) natsbridge.Stats {
	t.Helper()
	return natstest.StatsOf(t, c, d, subject)
}

// newProvider returns an SDK MeterProvider read by the returned reader.
func newProvider(t testing.TB) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return mp, r
}

// snapshot is one collection: for each instrument, the value of each data
// point keyed by its attributes ("k=v,k=v", sorted; "" for none).
type snapshot map[string]map[string]int64

func collect(t testing.TB, r *sdkmetric.ManualReader) snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	s := snapshot{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s: data %T, want an int64 sum", m.Name, m.Data)
			}
			points := map[string]int64{}
			for _, p := range sum.DataPoints {
				points[key(p.Attributes)] = p.Value
			}
			s[m.Name] = points
		}
	}
	return s
}

func key(set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// route is the key of a route's data points.
func route(subject string, d natsbridge.Direction, typ string) string {
	return key(attribute.NewSet(
		attribute.String("natsbridge.subject", subject),
		attribute.String("natsbridge.direction", d.String()),
		attribute.String("natsbridge.event.type", typ),
	))
}

// want checks that the instrument name has exactly the points given.
func (s snapshot) want(t testing.TB, name string, want map[string]int64) {
	t.Helper()
	got := s[name]
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s{%s} = %v (present: %v), want %v", name, k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s{%s} = %v, not expected", name, k, v)
		}
	}
}

// states is the natsbridge.connection.state of a collection, with current
// at 1 and every other state at 0.
func states(current string) map[string]int64 {
	m := map[string]int64{}
	for _, s := range []string{"not_started", "connecting", "connected", "reconnecting", "disconnected", "draining", "closed"} {
		v := int64(0)
		if s == current {
			v = 1
		}
		m["natsbridge.connection.state="+s] = v
	}
	return m
}
