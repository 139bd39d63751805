package fxbustest

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// Handler is a handler run by fxbus.Listen that counts the events it has
// handled, so that a test can wait until it has handled every event of its
// type emitted so far ([Handler.Wait], [Settle]) instead of sleeping.
// Make one with [Listen] or [Handle].
//
// It compares its count with the bus's count of the events of its type
// (fxbus.Stats.Emitted) since it subscribed, so it holds for one run of the
// application (an application started again gets a new ring, counted from
// zero). An event of its type emitted by another goroutine while Listen
// subscribes is counted although the handler may not see it; a handler
// that lags loses events; a handler stopped before the bus closes (on a bus
// not built by fxbus.Module) handles no more. In those cases the waits
// fail with the counts, rather than return early.
//
// Every method is safe for concurrent use.
type Handler[E any] struct {
	bus  *fxbus.Bus
	name string // the handler's function name
	typ  string // E's name
	base uint64 // the bus's count of E just before the handler subscribed

	mu      sync.Mutex
	handled uint64        // guarded by mu
	changed chan struct{} // guarded by mu: closed, and replaced, when handled grows
}

// Listen is fxbus.Listen that returns the handler as a *Handler to wait on.
// The bus's log entries about the handler (its errors, panics, lags) name
// this package's wrapper instead of h.
func Listen[E any](lc fx.Lifecycle, b *fxbus.Bus, h func(context.Context, E) error) *Handler[E] {
	hd := &Handler[E]{
		bus:     b,
		name:    funcName(h),
		typ:     typeName[E](),
		base:    fxbus.StatsOf[E](b).Emitted,
		changed: make(chan struct{}),
	}
	fxbus.Listen(lc, b, func(ctx context.Context, ev E) error {
		// Deferred, so that an event whose handler panicked or called
		// runtime.Goexit counts as handled too, as the bus goes on.
		defer hd.count()
		return h(ctx, ev)
	})
	return hd
}

// Handle returns an fx.Option that runs h for every event of type E, as
// fxbus.Handle does, and provides the *Handler to wait on:
//
//	var audit *fxbustest.Handler[OrderPlaced]
//	app := fxtest.New(t, fxbus.Module, fxbustest.Handle(onOrder), fx.Populate(&audit))
func Handle[E any](h func(context.Context, E) error) fx.Option {
	return fx.Options(
		fx.Provide(func(lc fx.Lifecycle, b *fxbus.Bus) *Handler[E] { return Listen(lc, b, h) }),
		// Subscribe with the application, not when first asked for.
		fx.Invoke(func(*Handler[E]) {}),
	)
}

func (h *Handler[E]) count() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handled++
	close(h.changed)
	h.changed = make(chan struct{})
}

// Handled returns the number of events the handler has handled: its
// function returned, panicked or called runtime.Goexit.
func (h *Handler[E]) Handled() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handled
}

// Wait waits until the handler has handled every event of its type emitted
// on the bus before the call, and ends the test after timeout with the
// counts. It is [Settle] with this one handler.
func (h *Handler[E]) Wait(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	Settle(tb, timeout, h)
}

// emitted returns how many events of the handler's type the bus counted
// since the handler subscribed.
func (h *Handler[E]) emitted() uint64 {
	if e := fxbus.StatsOf[E](h.bus).Emitted; e > h.base {
		return e - h.base
	}
	return 0
}

// progress returns the handler's count and a channel closed when it grows.
func (h *Handler[E]) progress() (uint64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handled, h.changed
}

func (h *Handler[E]) report() string {
	s := fxbus.StatsOf[E](h.bus)
	handled, _ := h.progress()
	return fmt.Sprintf("handler %s for %s has handled %d of the %d events of its type emitted since it subscribed "+
		"(bus counters for the type: emitted %d, missed by lagging subscribers %d, live subscribers %d)",
		h.name, h.typ, handled, h.emitted(), s.Emitted, s.Missed, s.Subscribers)
}

// A Settler is a handler that [Settle] can wait for: a *[Handler].
type Settler interface {
	emitted() uint64
	progress() (uint64, <-chan struct{})
	report() string
}

// Settle waits until the handlers have all handled every event of their
// types emitted on the bus so far, at the same moment: it waits for each
// in turn, then checks that no event of their types was emitted meanwhile,
// and starts over if one was. So handlers that emit events for each other
// (A handles E and emits F, which B handles) settle once the whole chain has
// run. It needs no sleep: it wakes when a handler finishes an event.
//
// After timeout, it ends the test with, for each handler, how many events
// it handled of how many emitted.
func Settle(tb testing.TB, timeout time.Duration, hs ...Settler) {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	want := make([]uint64, len(hs))
	for {
		for i, h := range hs {
			want[i] = h.emitted()
		}
		for i, h := range hs {
			for {
				n, changed := h.progress()
				if n >= want[i] {
					break
				}
				select {
				case <-changed:
				case <-timer.C:
					tb.Fatalf("%s", settleReport(timeout, hs))
					return
				}
			}
		}
		settled := true
		for i, h := range hs {
			settled = settled && h.emitted() == want[i]
		}
		if settled {
			return
		}
		// Events keep coming: give up at the timeout all the same.
		select {
		case <-timer.C:
			tb.Fatalf("%s", settleReport(timeout, hs))
			return
		default:
		}
	}
}

func settleReport(timeout time.Duration, hs []Settler) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "fxbustest: after %v, the handlers have not caught up with the bus:", timeout)
	for _, h := range hs {
		sb.WriteString("\n  ")
		sb.WriteString(h.report())
	}
	return sb.String()
}

func funcName(f any) string {
	if fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer()); fn != nil {
		return fn.Name()
	}
	return fmt.Sprintf("%T", f)
}
