package benchmarks

import (
	"sync"
	"testing"

	"tailscale.com/types/logger"
	tsbus "tailscale.com/util/eventbus"
)

// newTailscale returns a tailscale bus that discards its logs (it logs a
// line for every subscriber slower than its 5 s timer).
func newTailscale() *tsbus.Bus {
	return tsbus.NewWithOptions(tsbus.BusOptions{Logf: logger.Discard})
}

// tsConsume drains sub on a new goroutine, calling fn for each event, until
// the subscriber is closed; it returns a function that waits for that
// goroutine.
func tsConsume[T any](sub *tsbus.Subscriber[T], fn func(T)) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case ev := <-sub.Events():
				fn(ev)
			case <-sub.Done():
				return
			}
		}
	}()
	return wg.Wait
}

// tailscaleImpl is tailscale.com/util/eventbus in its documented mode: a
// named Client per component, a typed Publisher, and a typed Subscriber
// whose Events channel the component drains on its own goroutine. Every
// publish is handed to the bus's one router goroutine (one total order
// across publishers), which hands it to each subscribing client's own
// dispatch goroutine, which sends it on the subscriber's unbuffered
// channel.
func tailscaleImpl() impl {
	return impl{
		name: "tailscale",
		emit: func(b *testing.B, k int) {
			bus := newTailscale()
			defer bus.Close()
			pub := tsbus.Publish[event16](bus.Client("pub"))
			if k == 0 {
				tsbus.Subscribe[otherEvent](bus.Client("other"))
				// With nobody subscribed, the documented fast path is
				// to ask ShouldPublish first.
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if pub.ShouldPublish() {
						pub.Publish(event16{a: uint64(i)})
					}
				}
				return
			}
			waits := make([]func(), k)
			for j := range waits {
				// The subscriber never blocks the bus: its goroutine
				// takes each event and does nothing with it (a
				// subscriber that never reads would queue every event
				// in memory, without bound).
				sub := tsbus.Subscribe[event16](bus.Client("idle"))
				waits[j] = tsConsume(sub, func(event16) {})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pub.Publish(event16{a: uint64(i)})
			}
			b.StopTimer()
			bus.Close() // closes the subscribers: their goroutines return
			for _, wait := range waits {
				wait()
			}
		},
		emitRecv: func(b *testing.B) {
			bus := newTailscale()
			defer bus.Close()
			pub := tsbus.Publish[event16](bus.Client("pub"))
			sub := tsbus.Subscribe[event16](bus.Client("sub"))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pub.Publish(event16{a: uint64(i)})
				<-sub.Events()
			}
		},
		subUnsub: func(b *testing.B, live int) {
			bus := newTailscale()
			defer bus.Close()
			for range live {
				// A client holds one subscriber per event type.
				tsbus.Subscribe[event16](bus.Client("live"))
			}
			c := bus.Client("sub")
			tsbus.Subscribe[event16](c).Close() // the client's dispatcher exists
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tsbus.Subscribe[event16](c).Close()
			}
			b.StopTimer() // the teardown is not measured
		},
		async: func(tb testing.TB, capacity int) asyncBus {
			bus := newTailscale()
			pub := tsbus.Publish[event16](bus.Client("pub"))
			return asyncBus{
				emit: pub.Publish,
				subscribe: func(fn func(event16)) func() {
					sub := tsbus.Subscribe[event16](bus.Client("sub"))
					wait := tsConsume(sub, fn)
					return func() { sub.Close(); wait() }
				},
				close: bus.Close,
			}
		},
	}
}
