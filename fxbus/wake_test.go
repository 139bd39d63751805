package fxbus_test

import (
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

// An emit wakes every parked subscriber before it returns, however many
// there are, and waking them and parking them again allocates nothing
// once each has its wake-up channel.
func TestEmitWakesEveryParkedSubscriberWithoutAllocating(t *testing.T) {
	for _, n := range []int{1, 4, 5, 64} { // send wakes up to 4 from its stack
		b := newTestBus(t)
		subs := make([]*fxbus.Subscription[int], n)
		ready := make([]<-chan struct{}, n)
		for i := range subs {
			subs[i] = fxbus.Subscribe[int](b)
			ready[i] = subs[i].Ready()
		}
		cycle := func() {
			if got := fxbus.Emit(b, 1); got != n {
				t.Fatalf("Emit = %d, want %d", got, n)
			}
			for i, s := range subs {
				select {
				case <-ready[i]:
				default:
					t.Fatalf("%d parked: subscriber %d not woken when Emit returned", n, i)
				}
				if _, err := s.TryRecv(); err != nil {
					t.Fatal(err)
				}
				ready[i] = s.Ready() // parked again
			}
		}
		cycle()
		if allocs := testing.AllocsPerRun(50, cycle); allocs != 0 {
			t.Fatalf("%d parked: %v allocations per emit and re-park, want 0", n, allocs)
		}
		b.Close()
		for i, s := range subs {
			select {
			case <-ready[i]:
			default:
				t.Fatalf("%d parked: subscriber %d not woken when Close returned", n, i)
			}
			if _, err := s.TryRecv(); err != fxbus.ErrClosed {
				t.Fatalf("TryRecv after Close = %v, want ErrClosed", err)
			}
		}
	}
}
