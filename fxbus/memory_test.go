package fxbus_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"weak"

	"github.com/claviron/fxruntime/fxbus"
)

type payload struct{ _ [64]byte }

// isCollected reports whether the value behind w has been garbage isCollected.
func isCollected(w weak.Pointer[payload]) bool {
	for range 3 {
		runtime.GC()
	}
	return w.Value() == nil
}

func TestMemoryReleased(t *testing.T) {
	recv := func(t *testing.T, s *fxbus.Subscription[*payload]) { mustRecv(t, s) }
	closeSub := func(_ *testing.T, s *fxbus.Subscription[*payload]) { s.Close() }
	tests := []struct {
		desc string
		// give is what each of the two subscribers does with the event.
		give [2]func(*testing.T, *fxbus.Subscription[*payload])
	}{
		{desc: "both receive", give: [2]func(*testing.T, *fxbus.Subscription[*payload]){recv, recv}},
		{desc: "both close", give: [2]func(*testing.T, *fxbus.Subscription[*payload]){closeSub, closeSub}},
		{desc: "receive then close", give: [2]func(*testing.T, *fxbus.Subscription[*payload]){recv, closeSub}},
		{desc: "close then receive", give: [2]func(*testing.T, *fxbus.Subscription[*payload]){closeSub, recv}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b := newTestBus(t, fxbus.WithCapacity(8))
			subs := []*fxbus.Subscription[*payload]{
				fxbus.Subscribe[*payload](b),
				fxbus.Subscribe[*payload](b),
			}
			w := emitWeak(b)
			if isCollected(w) {
				t.Fatal("event isCollected while subscribers still had to read it")
			}
			tt.give[0](t, subs[0])
			if isCollected(w) {
				t.Fatal("event isCollected while one subscriber still had to read it")
			}
			tt.give[1](t, subs[1])
			if !isCollected(w) {
				t.Fatal("bus still holds the event after every subscriber received it or closed")
			}
			for _, s := range subs {
				s.Close()
			}
		})
	}
}

// emitWeak emits a new payload and returns a weak pointer to it; the
// payload is not referenced from the caller's frame.
//
//go:noinline
func emitWeak(b *fxbus.Bus) weak.Pointer[payload] {
	p := &payload{}
	fxbus.Emit(b, p)
	return weak.Make(p)
}

func TestMemoryReleasedAfterLag(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(2))
	s := fxbus.Subscribe[*payload](b)
	defer s.Close()
	w := emitWeak(b)
	fxbus.Emit(b, &payload{})
	fxbus.Emit(b, &payload{}) // overwrites the first
	if !isCollected(w) {
		t.Fatal("an overwritten event is still referenced")
	}
	if _, err := s.TryRecv(); !errors.Is(err, fxbus.ErrLagged) {
		t.Fatalf("TryRecv = %v, want a lag", err)
	}
}

func TestAllocs(t *testing.T) {
	b := newTestBus(t)
	ev := event16{a: 1, b: 2}
	t.Run("emit without channel", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { fxbus.Emit(b, ev) }); n != 0 {
			t.Fatalf("allocs = %v, want 0", n)
		}
	})
	s := fxbus.Subscribe[event16](b)
	defer s.Close()
	t.Run("emit+tryrecv", func(t *testing.T) {
		n := testing.AllocsPerRun(100, func() {
			fxbus.Emit(b, ev)
			if _, err := s.TryRecv(); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Fatalf("allocs = %v, want 0", n)
		}
	})
	t.Run("emit with subscriber", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { fxbus.Emit(b, ev) }); n != 0 {
			t.Fatalf("allocs = %v, want 0", n)
		}
	})
	s.Close()
	t.Run("emit without live subscriber", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { fxbus.Emit(b, ev) }); n != 0 {
			t.Fatalf("allocs = %v, want 0", n)
		}
	})
	t.Run("recv across goroutines", func(t *testing.T) {
		s := fxbus.Subscribe[event16](b)
		defer s.Close()
		kick := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range kick {
				fxbus.Emit(b, ev)
			}
		}()
		ctx := context.Background()
		n := testing.AllocsPerRun(100, func() {
			kick <- struct{}{}
			if _, err := s.Recv(ctx); err != nil {
				t.Error(err)
			}
		})
		close(kick)
		<-done
		if n != 0 {
			t.Fatalf("allocs = %v, want 0", n)
		}
	})
}
