package fxbus_test

// Helpers shared by the package's tests. The helpers that wait give up
// after waitLimit, so that a bug fails the test instead of hanging it.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
)

// waitLimit bounds every wait in the tests: long enough for a loaded
// machine, short enough to fail fast when something hangs.
const waitLimit = 5 * time.Second

// Event types used by tests in more than one file.
type (
	msgEvent      struct{ N int }
	capacityProbe struct{ N int } // the event assertCapacity emits
)

// newTestBus returns a bus built by New with opts, closed when the test
// ends.
func newTestBus(t *testing.T, opts ...fxbus.Option) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if b == nil {
		t.Fatal("New returned a nil bus and no error")
	}
	t.Cleanup(b.Close)
	return b
}

// within runs f and fails the test if it does not return within waitLimit.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not return within %v", what, waitLimit)
	}
}

// result is what a Recv returned.
type result[E any] struct {
	ev  E
	err error
}

// recvAsync starts s.Recv(ctx) on another goroutine.
func recvAsync[E any](ctx context.Context, s *fxbus.Subscription[E]) <-chan result[E] {
	ch := make(chan result[E], 1)
	go func() {
		ev, err := s.Recv(ctx)
		ch <- result[E]{ev, err}
	}()
	return ch
}

// await returns what the Recv started by recvAsync returned, failing the
// test if it does not return within waitLimit.
func await[E any](t *testing.T, ch <-chan result[E]) (E, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.ev, r.err
	case <-time.After(waitLimit):
		t.Fatalf("Recv did not return within %v", waitLimit)
	}
	var zero E
	return zero, nil
}

// recvWithin is a Recv that fails the test if it does not return within
// waitLimit, whether or not Recv honours a context.
func recvWithin[E any](t *testing.T, s *fxbus.Subscription[E]) (E, error) {
	t.Helper()
	return await(t, recvAsync(context.Background(), s))
}

// mustRecv returns the event waiting for s, failing the test if there is
// none or TryRecv reports an error.
func mustRecv[E any](t *testing.T, s *fxbus.Subscription[E]) E {
	t.Helper()
	v, err := s.TryRecv()
	if err != nil {
		t.Fatalf("TryRecv: %v", err)
	}
	return v
}

// waitParked waits until s has no event and a Recv on it is likely parked.
// The tests do not depend on the Recv being parked already: an event or a
// close sent before it parks is seen all the same.
func waitParked[E any](t *testing.T, s *fxbus.Subscription[E]) {
	t.Helper()
	select {
	case <-time.After(10 * time.Millisecond):
	case <-s.Ready():
		t.Fatal("Ready fired on an idle subscription")
	}
}

// waitErr returns the error sent on errc, failing the test after waitLimit.
func waitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("no result within %v", waitLimit)
		return nil
	}
}

// recvMode is one of the two ways to receive one event.
type recvMode struct {
	name string
	fn   func(t *testing.T, s *fxbus.Subscription[int]) (int, error)
}

// recvModes are TryRecv and a bounded Recv, for tests that must hold for
// both.
var recvModes = []recvMode{
	{"TryRecv", func(t *testing.T, s *fxbus.Subscription[int]) (int, error) { return s.TryRecv() }},
	{"Recv", func(t *testing.T, s *fxbus.Subscription[int]) (int, error) { t.Helper(); return recvWithin(t, s) }},
}

// wantEvent fails the test unless a receive gave want and no error.
func wantEvent[E comparable](t *testing.T, what string, got E, err error, want E) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: got error %v, want event %v", what, err, want)
	}
	if got != want {
		t.Fatalf("%s: got event %v, want %v", what, got, want)
	}
}

// wantErr fails the test unless err matches target.
func wantErr[E any](t *testing.T, what string, got E, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got (%v, %v), want error %v", what, got, err, target)
	}
}

// wantLag fails the test unless err is a *LaggedError matching ErrLagged,
// with missed events missed and a text that says what was missed.
func wantLag(t *testing.T, what string, err error, missed uint64) {
	t.Helper()
	if !errors.Is(err, fxbus.ErrLagged) {
		t.Fatalf("%s: got %v, want an error matching ErrLagged", what, err)
	}
	var lagged *fxbus.LaggedError
	if !errors.As(err, &lagged) {
		t.Fatalf("%s: errors.As(%v, *LaggedError) failed", what, err)
	}
	if lagged.Missed != missed {
		t.Fatalf("%s: LaggedError.Missed = %d, want %d", what, lagged.Missed, missed)
	}
	if !strings.Contains(err.Error(), "missed") {
		t.Fatalf("%s: error text %q does not say what was missed", what, err)
	}
}

// emitN emits the ints from to to-1 and fails the test unless each Emit
// reaches wantCount subscribers.
func emitN(t *testing.T, b *fxbus.Bus, from, to, wantCount int) {
	t.Helper()
	for i := from; i < to; i++ {
		if n := fxbus.Emit(b, i); n != wantCount {
			t.Fatalf("Emit(%d) = %d, want %d", i, n, wantCount)
		}
	}
}

// assertCapacity checks the retained-events count by behaviour: emitting
// want+5 events to one subscriber must report exactly 5 missed.
func assertCapacity(t *testing.T, b *fxbus.Bus, want int) {
	t.Helper()
	s := fxbus.Subscribe[capacityProbe](b)
	defer s.Close()
	for i := 0; i < want+5; i++ {
		if n := fxbus.Emit(b, capacityProbe{i}); n != 1 {
			t.Fatalf("Emit = %d, want 1", n)
		}
	}
	_, err := s.TryRecv()
	wantLag(t, fmt.Sprintf("capacity %d: first receive after %d emits", want, want+5), err, 5)
	ev, err := s.TryRecv()
	wantEvent(t, "oldest retained", ev, err, capacityProbe{5})
}

// fxTimeouts bounds an Fx app's start and stop by waitLimit.
func fxTimeouts() fx.Option {
	return fx.Options(fx.StartTimeout(waitLimit), fx.StopTimeout(waitLimit))
}

// observed is a logger that records every entry, debug included.
type observed struct {
	logger *zap.Logger
	logs   *observer.ObservedLogs
}

func newObserved(t *testing.T) observed {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return observed{logger: zap.New(core), logs: logs}
}

// entries returns the entries with message msg.
func (o observed) entries(msg string) []observer.LoggedEntry {
	return o.logs.FilterMessage(msg).AllUntimed()
}

// count returns the number of entries with message msg.
func (o observed) count(msg string) int { return o.logs.FilterMessage(msg).Len() }
