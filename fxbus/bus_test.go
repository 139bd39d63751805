package fxbus_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

func TestBusClose(t *testing.T) {
	b := newTestBus(t)
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	fxbus.Emit(b, 1)
	fxbus.Emit(b, 2)
	b.Close()
	b.Close() // idempotent
	if n := fxbus.Emit(b, 3); n != 0 {
		t.Fatalf("Emit after Close = %d, want 0", n)
	}
	for _, want := range []int{1, 2} {
		if v, err := recvWithin(t, s); err != nil || v != want {
			t.Fatalf("drain after close: %d, %v; want %d", v, err, want)
		}
	}
	if _, err := s.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("TryRecv after drain = %v, want ErrClosed", err)
	}
	late := fxbus.Subscribe[int](b)
	if _, err := recvWithin(t, late); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("Recv on a subscription made after Close = %v, want ErrClosed", err)
	}
	fresh := fxbus.Subscribe[string](b) // a type with no ring yet
	if _, err := fresh.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("TryRecv on a new type after Close = %v, want ErrClosed", err)
	}
	select {
	case <-fresh.Ready():
	default:
		t.Fatal("Ready of a closed subscription does not fire")
	}
	late.Close()
	fresh.Close()
	if got := fxbus.StatsOf[int](b).Dropped; got != 0 {
		t.Errorf("an Emit after Close counted as dropped: %d", got)
	}
}

func TestSubscriptionClose(t *testing.T) {
	b := newTestBus(t)
	a := fxbus.Subscribe[int](b)
	c := fxbus.Subscribe[int](b)
	defer c.Close()
	if got := fxbus.SubscriberCount[int](b); got != 2 {
		t.Fatalf("SubscriberCount = %d, want 2", got)
	}
	fxbus.Emit(b, 1)
	a.Close()
	a.Close() // idempotent
	if got := fxbus.SubscriberCount[int](b); got != 1 {
		t.Fatalf("SubscriberCount after Close = %d, want 1", got)
	}
	if n := fxbus.Emit(b, 2); n != 1 {
		t.Fatalf("Emit = %d, want 1: a closed subscription must not count", n)
	}
	if _, err := a.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("TryRecv after Close = %v, want ErrClosed", err)
	}
	if got := a.Len(); got != 0 {
		t.Fatalf("Len after Close = %d, want 0", got)
	}
	for _, want := range []int{1, 2} {
		if got := mustRecv(t, c); got != want {
			t.Fatalf("other subscriber got %d, want %d", got, want)
		}
	}
}

func TestCloseFromManyGoroutines(t *testing.T) {
	b := newTestBus(t)
	s := fxbus.Subscribe[int](b)
	fxbus.Emit(b, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
	if got := fxbus.SubscriberCount[int](b); got != 0 {
		t.Fatalf("SubscriberCount = %d after 8 concurrent Close, want 0", got)
	}
}

func TestStats(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(2))
	si := fxbus.Subscribe[int](b)
	ss := fxbus.Subscribe[string](b)
	defer ss.Close()
	for i := range 5 {
		fxbus.Emit(b, i)
	}
	if _, err := si.TryRecv(); !errors.Is(err, fxbus.ErrLagged) {
		t.Fatal(err)
	}
	si.Close()
	fxbus.Emit(b, 9)
	want := []fxbus.Stats{
		{Type: "int", Emitted: 5, Dropped: 1, Missed: 3, Subscribers: 0},
		{Type: "string", Emitted: 0, Subscribers: 1},
	}
	got := b.Stats()
	if len(got) != len(want) {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Stats()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := fxbus.StatsOf[float64](b); got != (fxbus.Stats{Type: "float64"}) {
		t.Errorf("StatsOf a type without ring = %+v", got)
	}
}
