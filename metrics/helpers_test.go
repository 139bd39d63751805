package metrics_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// wait bounds every wait in the tests: long enough for a loaded machine,
// short enough to fail fast when something hangs.
const wait = 5 * time.Second

// typeName is the fxbus.event.type value of E: the name the bus gives E,
// read the way the module reads it, so that the tests hold whatever that
// name is (reflect's String today).
func typeName[E any](b *fxbus.Bus) string { return fxbus.StatsOf[E](b).Type }

func newBus(t *testing.T, opts ...fxbus.Option) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// newProvider returns an SDK MeterProvider read by the returned reader.
func newProvider(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
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
// point keyed by its attributes ("k=v,k=v", sorted; "" for none). A sum or
// gauge has its value; a histogram has its count, and its sum under the
// key with " sum" appended.
type snapshot map[string]map[string]float64

func collect(t *testing.T, r *sdkmetric.ManualReader) snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	s := snapshot{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			points := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					points[key(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					points[key(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					points[key(p.Attributes)] = float64(p.Count)
					points[key(p.Attributes)+" sum"] = p.Sum
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
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

// want checks that the instrument name has exactly the points given.
func (s snapshot) want(t *testing.T, name string, want map[string]float64) {
	t.Helper()
	got := s[name]
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s{%s} = %v (present: %v), want %v", name, k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && !strings.HasSuffix(k, " sum") {
			t.Errorf("%s{%s} = %v, not expected", name, k, v)
		}
	}
}
