package fxbus_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"weak"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
)

// payload is an event large enough to get an allocation of its own, so that
// a weak pointer to it tells whether the bus still references it.
type payload struct {
	_  [256]byte
	id int
}

// emitWeak emits a new payload with id and returns a weak pointer to it and
// Emit's result; the payload is not referenced from the caller's frame.
//
//go:noinline
func emitWeak(b *fxbus.Bus, id int) (weak.Pointer[payload], int) {
	p := &payload{id: id}
	return weak.Make(p), fxbus.Emit(b, p)
}

// receivePayload receives one payload and returns its id, keeping no
// reference to it.
//
//go:noinline
func receivePayload(s *fxbus.Subscription[*payload]) (int, error) {
	p, err := s.TryRecv()
	if err != nil {
		return 0, err
	}
	return p.id, nil
}

// isCollected reports whether the value behind w has been garbage
// collected, running up to 20 collections.
func isCollected(w weak.Pointer[payload]) bool {
	for range 20 {
		runtime.GC()
		if w.Value() == nil {
			return true
		}
	}
	return false
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
			w, _ := emitWeak(b, 0)
			if isCollected(w) {
				t.Fatal("event collected while subscribers still had to read it")
			}
			tt.give[0](t, subs[0])
			if isCollected(w) {
				t.Fatal("event collected while one subscriber still had to read it")
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

	t.Run("released once the only subscriber received it", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[*payload](b)
		defer s.Close()
		wp, n := emitWeak(b, 1)
		if n != 1 {
			t.Fatalf("Emit = %d, want 1", n)
		}
		if id, err := receivePayload(s); err != nil || id != 1 {
			t.Fatalf("TryRecv = (%d, %v), want 1", id, err)
		}
		if !isCollected(wp) {
			t.Fatal("event still referenced after its only subscriber received it")
		}
	})

	t.Run("retained until the last live subscriber received or closed", func(t *testing.T) {
		b := newTestBus(t)
		s1 := fxbus.Subscribe[*payload](b)
		s2 := fxbus.Subscribe[*payload](b)
		defer s1.Close()
		wp, n := emitWeak(b, 2)
		if n != 2 {
			t.Fatalf("Emit = %d, want 2", n)
		}
		if id, err := receivePayload(s1); err != nil || id != 2 {
			t.Fatalf("TryRecv = (%d, %v), want 2", id, err)
		}
		if isCollected(wp) { // control: s2 still needs it
			t.Fatal("event released while a subscriber had not received it")
		}
		s2.Close()
		if !isCollected(wp) {
			t.Fatal("event still referenced after every subscriber received it or closed")
		}
	})

	t.Run("released when the subscriber closes unread", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[*payload](b)
		wp, n := emitWeak(b, 3)
		if n != 1 {
			t.Fatalf("Emit = %d, want 1", n)
		}
		s.Close()
		if !isCollected(wp) {
			t.Fatal("event still referenced after its only subscriber closed")
		}
	})

	t.Run("released when drained after Bus.Close", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[*payload](b)
		wp, _ := emitWeak(b, 4)
		b.Close()
		if id, err := receivePayload(s); err != nil || id != 4 {
			t.Fatalf("TryRecv = (%d, %v), want 4", id, err)
		}
		if !isCollected(wp) {
			t.Fatal("event still referenced after it was drained")
		}
	})
}

func TestMemoryReleasedAfterLag(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(2))
	s := fxbus.Subscribe[*payload](b)
	defer s.Close()
	w, _ := emitWeak(b, 0)
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

	t.Run("with debug disabled Emit allocates nothing", func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		for _, tt := range []struct {
			desc string
			give []fxbus.Option
			subs int
		}{
			{"default logger, one subscriber", nil, 1},
			{"info-level logger, one subscriber", []fxbus.Option{fxbus.WithLogger(zap.New(core))}, 1},
			{"info-level logger, 1000 subscribers", []fxbus.Option{fxbus.WithLogger(zap.New(core))}, 1000},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				b := newTestBus(t, tt.give...)
				for i := 0; i < tt.subs; i++ {
					fxbus.Subscribe[msgEvent](b)
				}
				if allocs := testing.AllocsPerRun(200, func() { fxbus.Emit(b, msgEvent{3}) }); allocs != 0 {
					t.Errorf("Emit allocates %v times per call, want 0", allocs)
				}
			})
		}
		if n := logs.Len(); n != 0 {
			t.Errorf("info-level logger got %d entries from Emit, want 0", n)
		}
	})
}
