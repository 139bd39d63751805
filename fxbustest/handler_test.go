package fxbustest_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

type pong struct{ N int }

// seen is a handler's record of the events it handled.
type seen[E any] struct {
	mu  sync.Mutex
	got []E
}

func (s *seen[E]) add(_ context.Context, ev E) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, ev)
	return nil
}

func (s *seen[E]) all() []E {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func TestHandlerWaitReturnsOnceEveryEventEmittedIsHandled(t *testing.T) {
	var pings seen[ping]
	var h *fxbustest.Handler[ping]
	var bus *fxbus.Bus
	app := fxtest.New(t, fx.NopLogger, fxbus.Module,
		fxbustest.Handle(func(ctx context.Context, ev ping) error {
			if ev.N%10 == 0 {
				time.Sleep(time.Millisecond) // a handler slower than the emits
			}
			return pings.add(ctx, ev)
		}),
		fx.Populate(&h, &bus))
	app.RequireStart()
	defer app.RequireStop()
	fxbus.Emit(bus, ping{N: -1}) // a first batch, handled
	h.Wait(t, wait)
	for i := range 50 {
		fxbus.Emit(bus, ping{N: i})
	}
	h.Wait(t, wait)
	if got := pings.all(); len(got) != 51 || got[50].N != 49 || h.Handled() != 51 {
		t.Fatalf("after Wait, the handler has handled %d events (count %d), want 51", len(got), h.Handled())
	}
}

func TestHandlerCountsPanicsAsHandled(t *testing.T) {
	bus := newBus(t)
	lc := fxtest.NewLifecycle(t)
	h := fxbustest.Listen(lc, bus, func(_ context.Context, ev ping) error {
		if ev.N == 1 {
			panic("ping 1")
		}
		return nil
	})
	lc.RequireStart()
	defer lc.RequireStop()
	for i := range 3 {
		fxbus.Emit(bus, ping{N: i})
	}
	h.Wait(t, wait)
	if h.Handled() != 3 {
		t.Fatalf("Handled = %d, want 3", h.Handled())
	}
}

func TestSettleWaitsForHandlersThatEmitForEachOther(t *testing.T) {
	var bus *fxbus.Bus
	var pongs seen[pong]
	var relay *fxbustest.Handler[ping]
	var sink *fxbustest.Handler[pong]
	app := fxtest.New(t, fx.NopLogger, fxbus.Module, fx.Populate(&bus),
		// Each ping becomes a pong, a moment later.
		fxbustest.Handle(func(_ context.Context, ev ping) error {
			time.Sleep(100 * time.Microsecond)
			fxbus.Emit(bus, pong(ev))
			return nil
		}),
		fxbustest.Handle(pongs.add),
		fx.Populate(&relay, &sink))
	app.RequireStart()
	defer app.RequireStop()
	for i := range 20 {
		fxbus.Emit(bus, ping{N: i})
	}
	// The sink is listed first: when Settle checks it, no pong may have
	// been emitted yet, so one pass would not be enough.
	fxbustest.Settle(t, wait, sink, relay)
	if got := pongs.all(); len(got) != 20 {
		t.Fatalf("after Settle the sink has handled %d pongs, want 20", len(got))
	}
}

func TestFailedSettleReportsTheCounts(t *testing.T) {
	bus := newBus(t)
	lc := fxtest.NewLifecycle(t)
	release := make(chan struct{})
	stuck := fxbustest.Listen(lc, bus, func(_ context.Context, ev ping) error {
		<-release
		return nil
	})
	var pongs seen[pong]
	idle := fxbustest.Listen(lc, bus, pongs.add)
	lc.RequireStart()
	defer lc.RequireStop()
	defer close(release)
	fxbus.Emit(bus, ping{N: 1})
	fxbus.Emit(bus, ping{N: 2})
	ft := &failTB{TB: t}
	fxbustest.Settle(ft, 20*time.Millisecond, idle, stuck)
	contains(t, ft.message(t), "after 20ms, the handlers have not caught up",
		"fxbustest_test.TestFailedSettleReportsTheCounts.func1 for fxbustest_test.ping has handled 0 of the 2 events",
		"emitted 2, missed by lagging subscribers 0, live subscribers 1",
		"for fxbustest_test.pong has handled 0 of the 0 events")
}
