package metrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/metrics"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// event16 is a 16-byte event, the size of fxbus's own emit benchmark.
type event16 struct{ a, b uint64 }

// otherEvent stands for the application's other events: a bus in use has
// rings, and Emit of a type without one (k=0) then searches them, with or
// without metrics.
type otherEvent struct{}

// BenchmarkEmit is fxbus's BenchmarkEmit (k subscribers that never read)
// with metrics off, and on: the bus and a runtime observed through an SDK
// MeterProvider, which collects before and after the loop and must have
// counted every emit. Compare the two with benchstat: the instruments are
// read at collection, so the emit path is the same; the module adds one
// ring to the bus, lifecycle.Event's.
func BenchmarkEmit(b *testing.B) {
	for _, on := range []bool{false, true} {
		for _, k := range []int{0, 1, 16} {
			name := fmt.Sprintf("metrics=off/k=%d", k)
			if on {
				name = fmt.Sprintf("metrics=on/k=%d", k)
			}
			b.Run(name, func(b *testing.B) {
				bus, err := fxbus.New()
				if err != nil {
					b.Fatal(err)
				}
				defer bus.Close()
				defer fxbus.Subscribe[otherEvent](bus).Close()
				var reader *sdkmetric.ManualReader
				if on {
					reader = wire(b, bus)
				}
				for range k {
					s := fxbus.Subscribe[event16](bus)
					defer s.Close()
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					fxbus.Emit(bus, event16{a: uint64(i), b: uint64(i)})
				}
				b.StopTimer()
				if on && k > 0 {
					if got := emitted(b, reader, typeName[event16](bus)); got != int64(b.N) {
						b.Fatalf("fxbus.emitted.events = %d after %d emits", got, b.N)
					}
				}
			})
		}
	}
}

// wire observes bus, and a runtime on it, with an SDK MeterProvider.
func wire(b *testing.B, bus *fxbus.Bus) *sdkmetric.ManualReader {
	b.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	rt, err := lifecycle.New(bus, lifecycle.WithoutSignals())
	if err != nil {
		b.Fatal(err)
	}
	m, err := metrics.New(bus, rt, metrics.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	emitted(b, reader, "") // a first collection, as a scrape would
	return reader
}

// emitted collects and returns fxbus.emitted.events for the event type.
func emitted(b *testing.B, reader *sdkmetric.ManualReader, typ string) int64 {
	b.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		b.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "fxbus.emitted.events" {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if v, _ := p.Attributes.Value("fxbus.event.type"); v.AsString() == typ {
					return p.Value
				}
			}
		}
	}
	return -1
}
