package fxbus_test

import (
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
)

// A subscription's life (Subscribe, then Close without ever waiting)
// makes one allocation: the Subscription. Its wake-up channel is made
// only when it first waits.
func TestSubscribeCloseAllocatesOnce(t *testing.T) {
	b := newTestBus(t)
	fxbus.Subscribe[event16](b).Close() // the ring exists
	n := testing.AllocsPerRun(100, func() {
		fxbus.Subscribe[event16](b).Close()
	})
	if n > 1 {
		t.Fatalf("Subscribe+Close allocates %v times, want at most 1", n)
	}
}

// A select on Ready armed before the subscription is closed fires when
// another goroutine closes it, and the receive then reports ErrClosed.
func TestCloseFiresReadyArmedBefore(t *testing.T) {
	b := newTestBus(t)
	s := fxbus.Subscribe[int](b)
	ready := s.Ready() // nothing waiting: armed
	select {
	case <-ready:
		t.Fatal("Ready fired with nothing to read")
	default:
	}
	go s.Close()
	select {
	case <-ready:
	case <-time.After(waitLimit):
		t.Fatal("Close did not fire a Ready armed before it")
	}
	if _, err := s.TryRecv(); err != fxbus.ErrClosed {
		t.Fatalf("TryRecv after Close = %v, want ErrClosed", err)
	}
}

// A subscription that never waited, closed while another one is parked,
// leaves the parked one parked; an emit still wakes it.
func TestCloseOfIdleSubscriptionWakesNobodyElse(t *testing.T) {
	b := newTestBus(t)
	parked := fxbus.Subscribe[int](b)
	defer parked.Close()
	ready := parked.Ready()
	fxbus.Subscribe[int](b).Close()
	select {
	case <-ready:
		t.Fatal("closing another subscription woke this one")
	case <-time.After(10 * time.Millisecond):
	}
	fxbus.Emit(b, 1)
	select {
	case <-ready:
	case <-time.After(waitLimit):
		t.Fatal("Emit did not wake the parked subscription")
	}
	if got := mustRecv(t, parked); got != 1 {
		t.Fatalf("got %d, want 1", got)
	}
}

// Subscribe on a bus that closed after the type got its ring returns a
// subscription that is closed from the start, without counting as a
// subscriber.
func TestSubscribeAfterCloseOnExistingRing(t *testing.T) {
	b := newTestBus(t)
	fxbus.Subscribe[int](b).Close()
	b.Close()
	s := fxbus.Subscribe[int](b)
	if got := fxbus.SubscriberCount[int](b); got != 0 {
		t.Fatalf("SubscriberCount = %d, want 0", got)
	}
	select {
	case <-s.Ready():
	case <-time.After(waitLimit):
		t.Fatal("Ready of a closed subscription did not fire")
	}
	if _, err := s.TryRecv(); err != fxbus.ErrClosed {
		t.Fatalf("TryRecv = %v, want ErrClosed", err)
	}
	s.Close()
}

// Closing parked subscriptions in any order leaves every other one
// parked: each is woken by the next emit, exactly once.
func TestCloseOfParkedSubscriptionsLeavesTheOthersParked(t *testing.T) {
	b := newTestBus(t)
	const n = 40
	subs := make([]*fxbus.Subscription[int], n)
	ready := make([]<-chan struct{}, n)
	for i := range subs {
		subs[i] = fxbus.Subscribe[int](b)
		ready[i] = subs[i].Ready() // parked: nothing to read
	}
	// Close the last, the first, then every third from the middle out:
	// the list of parked subscribers is reordered at each close.
	closed := map[int]bool{n - 1: true, 0: true}
	for i := n / 2; i < n-1; i += 3 {
		closed[i] = true
	}
	for i := n/2 - 3; i > 0; i -= 3 {
		closed[i] = true
	}
	for i := range subs {
		if closed[i] {
			subs[i].Close()
		}
	}
	if got, want := fxbus.Emit(b, 7), n-len(closed); got != want {
		t.Fatalf("Emit = %d, want %d", got, want)
	}
	for i, s := range subs {
		if closed[i] {
			continue
		}
		select {
		case <-ready[i]:
		case <-time.After(waitLimit):
			t.Fatalf("subscriber %d was not woken by the emit", i)
		}
		if got := mustRecv(t, s); got != 7 {
			t.Fatalf("subscriber %d got %d, want 7", i, got)
		}
		select {
		case <-ready[i]:
			t.Fatalf("subscriber %d was woken twice", i)
		default:
		}
		s.Close()
	}
}
