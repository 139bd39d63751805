package fxbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

// event16 is a 16-byte event, the size the benchmarks module uses.
type event16 struct{ a, b uint64 }

func newBench(b *testing.B, opts ...fxbus.Option) *fxbus.Bus {
	b.Helper()
	bus, err := fxbus.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bus.Close)
	return bus
}

// BenchmarkEmit measures Emit with k subscribers that never read: the cost
// of writing an event, which must not grow with k.
func BenchmarkEmit(b *testing.B) {
	for _, k := range []int{0, 1, 16} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			bus := newBench(b)
			for range k {
				s := fxbus.Subscribe[event16](bus)
				b.Cleanup(s.Close)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fxbus.Emit(bus, event16{a: uint64(i)})
			}
		})
	}
}

// BenchmarkEmitNoChannel measures Emit of a type nobody subscribed to.
func BenchmarkEmitNoChannel(b *testing.B) {
	bus := newBench(b)
	fxbus.Subscribe[int](bus).Close() // a registry that is not empty
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		fxbus.Emit(bus, event16{a: uint64(i)})
	}
}

// BenchmarkEmitRecv emits and receives on one goroutine.
func BenchmarkEmitRecv(b *testing.B) {
	bus := newBench(b)
	s := fxbus.Subscribe[event16](bus)
	defer s.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		fxbus.Emit(bus, event16{a: uint64(i)})
		if _, err := s.TryRecv(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanOut emits batches of 512 events to k subscribers that read on
// their own goroutines, waiting for every subscriber to have the batch
// before the next one, so nothing is lost. ns/op is per emitted event.
func BenchmarkFanOut(b *testing.B) {
	fanOut(b, func(ctx context.Context, s *fxbus.Subscription[event16], _ []event16) (int, error) {
		_, err := s.Recv(ctx)
		return 1, err
	})
}

// BenchmarkFanOutMany is BenchmarkFanOut with subscribers that read with
// RecvMany, taking every waiting event under one lock acquisition.
func BenchmarkFanOutMany(b *testing.B) {
	fanOut(b, func(ctx context.Context, s *fxbus.Subscription[event16], buf []event16) (int, error) {
		return s.RecvMany(ctx, buf)
	})
}

// fanOut runs the fan-out workload with subscribers that read with read,
// which returns how many events it took.
func fanOut(b *testing.B, read func(context.Context, *fxbus.Subscription[event16], []event16) (int, error)) {
	const batch = 512
	for _, k := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			bus := newBench(b, fxbus.WithCapacity(batch))
			ctx := context.Background()
			var wg sync.WaitGroup
			done := make(chan struct{}, k)
			subs := make([]*fxbus.Subscription[event16], k)
			for j := range subs {
				subs[j] = fxbus.Subscribe[event16](bus)
			}
			b.ReportAllocs()
			b.ResetTimer()
			rounds := (b.N + batch - 1) / batch
			for _, s := range subs {
				wg.Add(1)
				go func(s *fxbus.Subscription[event16]) {
					defer wg.Done()
					buf := make([]event16, 64)
					for r := 0; r < rounds; r++ {
						for got := 0; got < batch; {
							n, err := read(ctx, s, buf)
							if err != nil {
								b.Error(err)
								return
							}
							got += n
						}
						done <- struct{}{}
					}
				}(s)
			}
			for r := 0; r < rounds; r++ {
				for n := 0; n < batch; n++ {
					fxbus.Emit(bus, event16{a: uint64(n)})
				}
				for range k {
					<-done
				}
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(rounds*batch*k)/b.Elapsed().Seconds(), "deliveries/s")
			for _, s := range subs {
				s.Close()
			}
		})
	}
}

// BenchmarkSubscribeClose measures a subscription's whole life.
func BenchmarkSubscribeClose(b *testing.B) {
	bus := newBench(b)
	fxbus.Subscribe[event16](bus).Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		fxbus.Subscribe[event16](bus).Close()
	}
}

// BenchmarkCloseFullRing shows that closing a subscription costs what it
// releases, not what the ring holds. ring=empty and ring=full are
// Subscribe+Close next to nothing and next to another subscriber that
// holds a full ring of 64 unread events: the closed subscription releases
// nothing in either. release=0 and release=64 both emit 64 events per op
// into that full ring; the subscription closes before them, or after them
// with all 64 unread, so their difference is the release of 64 events.
func BenchmarkCloseFullRing(b *testing.B) {
	const capacity = 64
	setup := func(b *testing.B, full bool) *fxbus.Bus {
		bus := newBench(b, fxbus.WithCapacity(capacity))
		fxbus.Subscribe[event16](bus).Close() // the ring exists
		if full {
			holder := fxbus.Subscribe[event16](bus) // never reads
			b.Cleanup(holder.Close)
			for i := range capacity {
				fxbus.Emit(bus, event16{a: uint64(i)})
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		return bus
	}
	b.Run("ring=empty", func(b *testing.B) {
		bus := setup(b, false)
		for i := 0; i < b.N; i++ {
			fxbus.Subscribe[event16](bus).Close()
		}
	})
	b.Run("ring=full", func(b *testing.B) {
		bus := setup(b, true)
		for i := 0; i < b.N; i++ {
			fxbus.Subscribe[event16](bus).Close()
		}
	})
	b.Run("release=0", func(b *testing.B) {
		bus := setup(b, true)
		for i := 0; i < b.N; i++ {
			s := fxbus.Subscribe[event16](bus)
			s.Close()
			for j := range capacity {
				fxbus.Emit(bus, event16{a: uint64(j)})
			}
		}
	})
	b.Run("release=64", func(b *testing.B) {
		bus := setup(b, true)
		for i := 0; i < b.N; i++ {
			s := fxbus.Subscribe[event16](bus)
			for j := range capacity {
				fxbus.Emit(bus, event16{a: uint64(j)})
			}
			s.Close()
		}
	})
}
