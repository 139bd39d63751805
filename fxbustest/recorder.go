package fxbustest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// Recorder records every event of type E emitted on a bus from the moment
// it was made until the bus closes or [Recorder.Close] is called. Make one
// with [Record], or with [Provide] in an Fx application.
//
// It keeps the events in emit order, all of them: a goroutine moves them
// from the bus's ring into the recorder as they arrive, so a test that
// waits late does not lose the oldest to the ring's capacity. If events
// still come faster than that goroutine takes them, the ones the bus
// overwrote are counted ([Recorder.Missed]) and every failure message says
// so.
//
// A recorder has a read position for [Recorder.Next] and [WaitFor], which
// consume events in order; [Recorder.Events] and [Recorder.WaitN] look at
// everything recorded, whatever the position. Every method is safe for
// concurrent use; the waits must be called from the test's goroutine, as
// they end the test with tb.Fatalf on failure.
type Recorder[E any] struct {
	sub  *fxbus.Subscription[E]
	typ  string        // E's name, for messages
	done chan struct{} // closed when the pump goroutine has returned

	// mu guards the fields below, and every call on sub: the subscription
	// has one reader at a time, whoever holds mu.
	mu      sync.Mutex
	events  []E
	missed  uint64        // events the bus overwrote before they were taken
	ended   bool          // the subscription delivers nothing more
	closed  bool          // Close was called (else the bus closed)
	head    int           // the read position of Next and WaitFor
	changed chan struct{} // closed, and replaced, when anything above changes
}

// Record returns a recorder of the events of type E emitted on b from now
// on. It is closed when the test ends (tb.Cleanup), and stops recording
// earlier if the bus closes.
func Record[E any](tb testing.TB, b *fxbus.Bus) *Recorder[E] {
	tb.Helper()
	if b == nil {
		tb.Fatalf("fxbustest.Record[%s]: nil bus", typeName[E]())
		return nil
	}
	r := &Recorder[E]{
		sub:     fxbus.Subscribe[E](b),
		typ:     typeName[E](),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	go r.pump()
	tb.Cleanup(r.Close)
	return r
}

// Provide returns an fx.Option that provides a *Recorder of E, recording
// the events of the application's *fxbus.Bus from the moment the
// application is built, so the events of its start are recorded too.
// Under fxbus.Module it records until the bus closes, at the end of the
// application's stop, so the last events of the stop are recorded as well.
// Get it with fx.Populate:
//
//	var failed *fxbustest.Recorder[lifecycle.TaskFailedEvent]
//	app := fxtest.New(t, fxbus.Module, lifecycle.Module, myapp.Module,
//		fxbustest.Provide[lifecycle.TaskFailedEvent](t), fx.Populate(&failed))
func Provide[E any](tb testing.TB) fx.Option {
	return fx.Options(
		fx.Provide(func(b *fxbus.Bus) *Recorder[E] { return Record[E](tb, b) }),
		// Build it with the application, not when first asked for.
		fx.Invoke(func(*Recorder[E]) {}),
	)
}

// pump takes the events from the ring as they arrive, until the
// subscription ends.
func (r *Recorder[E]) pump() {
	defer close(r.done)
	for {
		r.mu.Lock()
		r.drainLocked()
		if r.ended {
			r.mu.Unlock()
			return
		}
		// Armed under mu, so that only one goroutine at a time uses the
		// subscription; waited on without it.
		ready := r.sub.Ready()
		r.mu.Unlock()
		<-ready
	}
}

// drainLocked moves every event waiting in the ring into r.events, so that
// whoever holds mu sees every event emitted before it took mu. Called with
// mu held.
func (r *Recorder[E]) drainLocked() {
	if r.ended {
		return
	}
	grew := false
	for !r.ended {
		r.events = slices.Grow(r.events, 16)
		n, err := r.sub.TryRecvMany(r.events[len(r.events):cap(r.events)])
		r.events = r.events[:len(r.events)+n]
		if n > 0 {
			grew = true
			continue
		}
		var lag *fxbus.LaggedError
		switch {
		case errors.Is(err, fxbus.ErrEmpty):
			if grew {
				r.wakeLocked()
			}
			return
		case errors.As(err, &lag):
			r.missed += lag.Missed
		default: // ErrClosed: the bus or the recorder was closed
			r.ended = true
		}
		grew = true
	}
	r.wakeLocked()
}

func (r *Recorder[E]) wakeLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Close stops recording; the events recorded stay readable. Close is
// idempotent, and returns once the recorder's goroutine has ended.
func (r *Recorder[E]) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.sub.Close()
	<-r.done
}

// Events returns every event recorded so far, in emit order: at least every
// event of type E emitted before the call (and after the recorder was
// made), unless the bus overwrote some ([Recorder.Missed]).
func (r *Recorder[E]) Events() []E {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drainLocked()
	return slices.Clone(r.events)
}

// Len returns the number of events recorded so far, as [Recorder.Events]
// counts them.
func (r *Recorder[E]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drainLocked()
	return len(r.events)
}

// Missed returns the number of events of type E that the bus overwrote
// before the recorder took them: non-zero only when they came faster than
// it could record them, for longer than the bus's capacity allows.
func (r *Recorder[E]) Missed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drainLocked()
	return r.missed
}

// WaitN waits until at least n events are recorded and returns the first
// n. After timeout, it ends the test with what was recorded.
func (r *Recorder[E]) WaitN(tb testing.TB, n int, timeout time.Duration) []E {
	tb.Helper()
	var got []E
	r.wait(tb, timeout, func() bool {
		if len(r.events) >= n {
			got = slices.Clone(r.events[:n])
			return true
		}
		return false
	}, func() string { return fmt.Sprintf("%d %s events", n, r.typ) })
	return got
}

// Next waits for the event at the read position, returns it and moves the
// position past it. After timeout, it ends the test with what was recorded.
func (r *Recorder[E]) Next(tb testing.TB, timeout time.Duration) E {
	tb.Helper()
	var got E
	r.wait(tb, timeout, func() bool {
		if r.head < len(r.events) {
			got = r.events[r.head]
			r.head++
			return true
		}
		return false
	}, func() string { return fmt.Sprintf("the %s event after position %d", r.typ, r.head) })
	return got
}

// WaitClosed waits until the recorder stops recording (the bus closed, or
// Close was called) and returns every event recorded. Under fxbus.Module
// the bus closes at the end of the application's stop, so after the stop
// this returns at once with the application's last events. After timeout,
// it ends the test with what was recorded.
func (r *Recorder[E]) WaitClosed(tb testing.TB, timeout time.Duration) []E {
	tb.Helper()
	var got []E
	ended := false
	r.wait(tb, timeout, func() bool {
		if r.ended {
			got, ended = slices.Clone(r.events), true
		}
		return ended
	}, func() string { return "the bus to close" })
	if ended {
		<-r.done // the recorder's goroutine is on its way out: let it go
	}
	return got
}

// WaitFor waits for the first event from r's read position on that is a T
// and for which match (if not nil) returns true, moves the read position
// past it, and returns it. T is E itself, or for an interface E (such as
// lifecycle.Event) one of the types behind it:
//
//	failed := fxbustest.WaitFor(t, events, time.Second, func(ev lifecycle.TaskFailedEvent) bool {
//		return ev.Name == "indexer"
//	})
//	fxbustest.WaitFor[lifecycle.ReadyEvent](t, events, time.Second, nil)
//
// Events skipped on the way stay in [Recorder.Events]. After timeout,
// it ends the test with what was recorded.
func WaitFor[T, E any](tb testing.TB, r *Recorder[E], timeout time.Duration, match func(T) bool) T {
	tb.Helper()
	var got T
	r.wait(tb, timeout, func() bool {
		for i := r.head; i < len(r.events); i++ {
			if v, ok := any(r.events[i]).(T); ok && (match == nil || match(v)) {
				got, r.head = v, i+1
				return true
			}
		}
		return false
	}, func() string {
		what := "a " + typeName[T]()
		if match != nil {
			what += " that matches"
		}
		return fmt.Sprintf("%s from position %d on", what, r.head)
	})
	return got
}

// wait calls cond with mu held, each time something was recorded, until
// it returns true. After timeout, it ends the test naming what (called
// with mu held) and listing what was recorded.
func (r *Recorder[E]) wait(tb testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		r.drainLocked()
		if cond() {
			r.mu.Unlock()
			return
		}
		changed := r.changed
		if r.ended {
			// Nothing more will come: fail now rather than at the timeout.
			msg := r.reportLocked(fmt.Sprintf("waiting for %s, but the recorder stopped (%s)", what(), r.endReasonLocked()))
			r.mu.Unlock()
			tb.Fatalf("%s", msg)
			return
		}
		r.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			r.mu.Lock()
			r.drainLocked()
			if cond() { // it came with the timeout
				r.mu.Unlock()
				return
			}
			msg := r.reportLocked(fmt.Sprintf("after %v, still waiting for %s", timeout, what()))
			r.mu.Unlock()
			tb.Fatalf("%s", msg)
			return
		}
	}
}

func (r *Recorder[E]) endReasonLocked() string {
	if r.closed {
		return "Close was called"
	}
	return "the bus closed"
}

// reportLocked is a failure message: what was waited for, then what was
// recorded. Called with mu held.
func (r *Recorder[E]) reportLocked(headline string) string {
	return "fxbustest: Recorder[" + r.typ + "]: " + headline + "\n" +
		describe(r.events, r.head, r.missed)
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
