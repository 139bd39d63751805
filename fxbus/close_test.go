package fxbus_test

import (
	"context"
	"errors"
	"fmt"
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

	t.Run("wakes every waiting Recv", func(t *testing.T) {
		b := newTestBus(t)
		var ints []<-chan result[int]
		for i := 0; i < 3; i++ {
			ints = append(ints, recvAsync(context.Background(), fxbus.Subscribe[int](b)))
		}
		msg := recvAsync(context.Background(), fxbus.Subscribe[msgEvent](b))
		b.Close()
		for i, ch := range ints {
			ev, err := await(t, ch)
			wantErr(t, fmt.Sprintf("int Recv %d", i), ev, err, fxbus.ErrClosed)
		}
		ev, err := await(t, msg)
		wantErr(t, "msgEvent Recv", ev, err, fxbus.ErrClosed)
	})

	t.Run("subscribers drain what is buffered, then ErrClosed", func(t *testing.T) {
		for _, mode := range recvModes {
			t.Run(mode.name, func(t *testing.T) {
				b := newTestBus(t)
				s := fxbus.Subscribe[int](b)
				emitN(t, b, 0, 3, 1)
				b.Close()
				for i := 0; i < 3; i++ {
					ev, err := mode.fn(t, s)
					wantEvent(t, "buffered event after close", ev, err, i)
				}
				for i := 0; i < 2; i++ {
					ev, err := mode.fn(t, s)
					wantErr(t, "after draining", ev, err, fxbus.ErrClosed)
				}
			})
		}
	})

	t.Run("drain after close reports a lag first", func(t *testing.T) {
		b := newTestBus(t, fxbus.WithCapacity(2))
		s := fxbus.Subscribe[int](b)
		emitN(t, b, 0, 5, 1)
		b.Close()
		_, err := s.TryRecv()
		wantLag(t, "first receive after close", err, 3)
		for _, w := range []int{3, 4} {
			ev, err := s.TryRecv()
			wantEvent(t, "retained after close", ev, err, w)
		}
		ev, err := s.TryRecv()
		wantErr(t, "after draining", ev, err, fxbus.ErrClosed)
	})

	t.Run("later Emit returns 0", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		b.Close()
		if n := fxbus.Emit(b, 1); n != 0 {
			t.Fatalf("Emit after Close = %d, want 0", n)
		}
		ev, err := s.TryRecv()
		wantErr(t, "subscriber after Emit on closed bus", ev, err, fxbus.ErrClosed)
	})

	t.Run("later Subscribe gives a closed subscription", func(t *testing.T) {
		b := newTestBus(t)
		b.Close()
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		ev, err := recvWithin(t, s)
		wantErr(t, "Recv", ev, err, fxbus.ErrClosed)
		ev, err = s.TryRecv()
		wantErr(t, "TryRecv", ev, err, fxbus.ErrClosed)
		if n := fxbus.Emit(b, 1); n != 0 {
			t.Fatalf("Emit after Close = %d, want 0", n)
		}
	})

	t.Run("idempotent, also concurrently", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.Close()
			}()
		}
		within(t, "concurrent Bus.Close", wg.Wait)
		within(t, "another Bus.Close", b.Close)
		ev, err := recvWithin(t, s)
		wantErr(t, "Recv", ev, err, fxbus.ErrClosed)
	})
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

	t.Run("idempotent", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		within(t, "Close", s.Close)
		within(t, "second Close", s.Close)
		ev, err := s.TryRecv()
		wantErr(t, "TryRecv", ev, err, fxbus.ErrClosed)
	})

	t.Run("from another goroutine wakes a blocked Recv", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		ch := recvAsync(context.Background(), s)
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ { // several concurrent closers: idempotent under race
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Close()
			}()
		}
		ev, err := await(t, ch)
		wantErr(t, "blocked Recv", ev, err, fxbus.ErrClosed)
		within(t, "concurrent Subscription.Close", wg.Wait)
		ev, err = recvWithin(t, s)
		wantErr(t, "later Recv", ev, err, fxbus.ErrClosed)
	})

	t.Run("later receives return ErrClosed even with events buffered", func(t *testing.T) {
		for _, mode := range recvModes {
			t.Run(mode.name, func(t *testing.T) {
				b := newTestBus(t)
				s := fxbus.Subscribe[int](b)
				emitN(t, b, 0, 3, 1)
				s.Close()
				ev, err := mode.fn(t, s)
				wantErr(t, "receive after Close", ev, err, fxbus.ErrClosed)
			})
		}
	})

	t.Run("no longer counted", func(t *testing.T) {
		b := newTestBus(t)
		s1 := fxbus.Subscribe[int](b)
		s2 := fxbus.Subscribe[int](b)
		defer s2.Close()
		steps := []struct {
			desc      string
			give      func()
			wantCount int
			wantEmit  int
		}{
			{"two live", func() {}, 2, 2},
			{"one closed", s1.Close, 1, 1},
			{"closed again", s1.Close, 1, 1},
			{"both closed", s2.Close, 0, 0},
		}
		for _, st := range steps {
			st.give()
			if got := fxbus.SubscriberCount[int](b); got != st.wantCount {
				t.Fatalf("%s: SubscriberCount = %d, want %d", st.desc, got, st.wantCount)
			}
			if got := fxbus.Emit(b, 1); got != st.wantEmit {
				t.Fatalf("%s: Emit = %d, want %d", st.desc, got, st.wantEmit)
			}
		}
	})

	t.Run("does not affect other subscriptions", func(t *testing.T) {
		b := newTestBus(t)
		s1 := fxbus.Subscribe[int](b)
		s2 := fxbus.Subscribe[int](b)
		defer s2.Close()
		s1.Close()
		emitN(t, b, 4, 5, 1)
		ev, err := recvWithin(t, s2)
		wantEvent(t, "other subscription", ev, err, 4)
	})
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
