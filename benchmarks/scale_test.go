package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/claviron/fxruntime/fxbus"
	tsbus "tailscale.com/util/eventbus"
)

// How cost grows with the size of an application, beyond EmitIdle's
// subscriber counts and SubscribeUnsubscribeLive: memory per ring and per
// subscription, and closing a bus with many parked readers. (Emit against
// the number of event types is fxbus's BenchmarkEmitTypes: it needs the
// package's internals to register thousands of types.)

// event256 is a 256-byte event, for the memory workload.
type event256 struct{ _ [32]uint64 }

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryRing measures what a bus retains per event type: its ring
// and the rest of the type's bookkeeping, from runtime.MemStats over 32
// buses with one ring each. B/ring is measured; doc-B/ring is the formula
// of WithCapacity's doc, capacity × (event size + 16). ns/op is the time
// to create a bus and its first ring.
func BenchmarkMemoryRing(b *testing.B) {
	for _, capacity := range []int{64, 1024} {
		b.Run(fmt.Sprintf("impl=fxbus/cap=%d/size=16", capacity), func(b *testing.B) {
			memoryRing[event16](b, capacity)
		})
		b.Run(fmt.Sprintf("impl=fxbus/cap=%d/size=256", capacity), func(b *testing.B) {
			memoryRing[event256](b, capacity)
		})
	}
}

func memoryRing[E any](b *testing.B, capacity int) {
	const rings = 32
	buses := make([]*fxbus.Bus, rings)
	for i := range buses {
		buses[i] = newFxbus(b, fxbus.WithCapacity(capacity))
	}
	before := liveHeap()
	for _, bus := range buses {
		fxbus.Subscribe[E](bus).Close() // the ring stays
	}
	after := liveHeap()
	runtime.KeepAlive(buses)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus := newFxbus(b, fxbus.WithCapacity(capacity))
		fxbus.Subscribe[E](bus).Close()
	}
	b.StopTimer()
	// Reported last: ResetTimer drops the metrics reported before it.
	var ev E
	b.ReportMetric(float64(after-before)/rings, "B/ring")
	b.ReportMetric(float64(capacity*(int(unsafe.Sizeof(ev))+16)), "doc-B/ring")
}

// BenchmarkMemorySubscription measures what a bus retains per live
// subscription, from runtime.MemStats over 1,000 subscriptions: one that
// never waited, and one parked waiting for an event (it then has its
// wake-up channel and a place in the ring's list of parked readers).
// ns/op is a subscription's life in that state.
func BenchmarkMemorySubscription(b *testing.B) {
	for _, parked := range []bool{false, true} {
		state := "idle"
		if parked {
			state = "parked"
		}
		b.Run("impl=fxbus/state="+state, func(b *testing.B) {
			const subs = 1000
			bus := newFxbus(b)
			defer bus.Close()
			fxbus.Subscribe[event16](bus).Close() // the ring exists
			keep := make([]*fxbus.Subscription[event16], subs)
			before := liveHeap()
			for i := range keep {
				keep[i] = fxbus.Subscribe[event16](bus)
				if parked {
					keep[i].Ready()
				}
			}
			after := liveHeap()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := fxbus.Subscribe[event16](bus)
				if parked {
					s.Ready()
				}
				s.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(after-before)/subs, "B/sub")
			for _, s := range keep {
				s.Close()
			}
		})
	}
}

// BenchmarkCloseParked closes a bus while 10,000 subscribers, each on its
// own goroutine, wait for an event; ns/op is the time until every one of
// them has returned. For the hand-written channels, closing the bus is
// closing every subscriber's channel.
func BenchmarkCloseParked(b *testing.B) {
	const parked = 10000
	type setup func(started, returned *sync.WaitGroup) (closeBus func())
	impls := []struct {
		name  string
		setup setup
	}{
		{"fxbus", func(started, returned *sync.WaitGroup) func() {
			bus := newFxbus(b)
			ctx := context.Background()
			for range parked {
				s := fxbus.Subscribe[event16](bus)
				go func() {
					defer returned.Done()
					started.Done()
					if _, err := s.Recv(ctx); err != fxbus.ErrClosed {
						b.Errorf("Recv = %v, want ErrClosed", err)
					}
				}()
			}
			return bus.Close
		}},
		{"chan-fanout", func(started, returned *sync.WaitGroup) func() {
			c := &chanBus{}
			for range parked {
				ch := c.Subscribe(idleCap)
				go func() {
					defer returned.Done()
					started.Done()
					for range ch {
					}
				}()
			}
			return func() {
				c.mu.Lock()
				for _, ch := range c.subs {
					close(ch)
				}
				c.mu.Unlock()
			}
		}},
		{"tailscale", func(started, returned *sync.WaitGroup) func() {
			bus := newTailscale()
			for range parked {
				sub := tsbus.Subscribe[event16](bus.Client("sub"))
				go func() {
					defer returned.Done()
					started.Done()
					select {
					case <-sub.Events():
						b.Error("an event on a bus nobody published to")
					case <-sub.Done():
					}
				}()
			}
			return bus.Close
		}},
	}
	for _, im := range impls {
		b.Run(fmt.Sprintf("impl=%s/parked=%d", im.name, parked), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var started, returned sync.WaitGroup
				started.Add(parked)
				returned.Add(parked)
				closeBus := im.setup(&started, &returned)
				started.Wait()
				// Let every goroutine reach its receive and park; one
				// that has not yet would only make the close look faster.
				time.Sleep(10 * time.Millisecond)
				b.StartTimer()
				closeBus()
				returned.Wait()
			}
		})
	}
}
