package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
)

// TestTryRecvWithNothingWaiting checks that TryRecv reports ErrEmpty, and
// only ErrEmpty, when no event is waiting.
func TestTryRecvWithNothingWaiting(t *testing.T) {
	b := newTestBus(t)
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	ev, err := s.TryRecv()
	wantErr(t, "fresh subscription", ev, err, fxbus.ErrEmpty)
	if errors.Is(err, fxbus.ErrClosed) || errors.Is(err, fxbus.ErrLagged) {
		t.Fatalf("ErrEmpty also matches another sentinel: %v", err)
	}
	emitN(t, b, 1, 2, 1)
	ev, err = s.TryRecv()
	wantEvent(t, "after Emit", ev, err, 1)
	ev, err = s.TryRecv()
	wantErr(t, "after reading everything", ev, err, fxbus.ErrEmpty)
}

func TestRecvBlocks(t *testing.T) {
	t.Run("until an event", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		got := make(chan int)
		go func() {
			v, _ := recvWithin(t, s)
			got <- v
		}()
		waitParked(t, s)
		fxbus.Emit(b, 42)
		if v := <-got; v != 42 {
			t.Fatalf("Recv = %d, want 42", v)
		}
	})
	t.Run("until ctx is done", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := s.Recv(ctx)
			errc <- err
		}()
		waitParked(t, s)
		cancel()
		if err := waitErr(t, errc); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv = %v, want context.Canceled", err)
		}
	})
	t.Run("done ctx consumes nothing", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		fxbus.Emit(b, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Recv(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv = %v, want context.Canceled", err)
		}
		if got := mustRecv(t, s); got != 1 {
			t.Fatalf("event lost after a cancelled Recv: got %d", got)
		}
	})
	t.Run("until the bus closes", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		errc := make(chan error)
		go func() {
			_, err := recvWithin(t, s)
			errc <- err
		}()
		waitParked(t, s)
		b.Close()
		if err := waitErr(t, errc); !errors.Is(err, fxbus.ErrClosed) {
			t.Fatalf("Recv = %v, want ErrClosed", err)
		}
	})
	t.Run("until the subscription closes", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		errc := make(chan error)
		go func() {
			_, err := recvWithin(t, s)
			errc <- err
		}()
		waitParked(t, s)
		s.Close()
		if err := waitErr(t, errc); !errors.Is(err, fxbus.ErrClosed) {
			t.Fatalf("Recv = %v, want ErrClosed", err)
		}
	})

	t.Run("returns a waiting event at once", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		emitN(t, b, 3, 4, 1)
		ev, err := recvWithin(t, s)
		wantEvent(t, "Recv", ev, err, 3)
	})

	t.Run("blocks until an event", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		// Nothing waiting: a short deadline proves it blocked rather than returned.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		ev, err := await(t, recvAsync(ctx, s))
		wantErr(t, "Recv with nothing emitted", ev, err, context.DeadlineExceeded)

		ch := recvAsync(context.Background(), s)
		emitN(t, b, 11, 12, 1)
		ev, err = await(t, ch)
		wantEvent(t, "blocked Recv", ev, err, 11)
	})

	t.Run("blocks until bus close", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		ch := recvAsync(context.Background(), s)
		b.Close()
		ev, err := await(t, ch)
		wantErr(t, "Recv blocked across Bus.Close", ev, err, fxbus.ErrClosed)
	})

	t.Run("ctx done returns ctx.Err()", func(t *testing.T) {
		for _, tt := range []struct {
			desc string
			give func() (context.Context, context.CancelFunc, func())
			want error
		}{
			{"cancelled while blocked", func() (context.Context, context.CancelFunc, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				return ctx, cancel, cancel
			}, context.Canceled},
			{"cancelled before the call", func() (context.Context, context.CancelFunc, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel, func() {}
			}, context.Canceled},
			{"deadline", func() (context.Context, context.CancelFunc, func()) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				return ctx, cancel, func() {}
			}, context.DeadlineExceeded},
			{"custom cause still returns ctx.Err()", func() (context.Context, context.CancelFunc, func()) {
				ctx, cancel := context.WithCancelCause(context.Background())
				return ctx, func() { cancel(nil) }, func() { cancel(errors.New("my cause")) }
			}, context.Canceled},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				b := newTestBus(t)
				s := fxbus.Subscribe[int](b)
				defer s.Close()
				ctx, cancel, trigger := tt.give()
				defer cancel()
				ch := recvAsync(ctx, s)
				trigger()
				ev, err := await(t, ch)
				if err != tt.want || err != ctx.Err() { //nolint:errorlint // must be ctx.Err() itself
					t.Fatalf("Recv = (%v, %v), want ctx.Err() = %v", ev, err, tt.want)
				}
				// The subscription remains usable.
				emitN(t, b, 1, 2, 1)
				ev, err = recvWithin(t, s)
				wantEvent(t, "Recv after ctx done", ev, err, 1)
			})
		}
	})
}

func TestReady(t *testing.T) {
	b := newTestBus(t)
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	select {
	case <-s.Ready():
		t.Fatal("Ready fired with nothing to read")
	default:
	}
	fxbus.Emit(b, 5)
	select {
	case <-s.Ready():
	case <-time.After(waitLimit):
		t.Fatal("Ready did not fire after Emit")
	}
	if got := mustRecv(t, s); got != 5 {
		t.Fatalf("got %d, want 5", got)
	}
	// Arming with an event already waiting fires at once.
	fxbus.Emit(b, 6)
	select {
	case <-s.Ready():
	case <-time.After(waitLimit):
		t.Fatal("Ready did not fire with an event waiting")
	}
	mustRecv(t, s)

	// In a select beside other channels, the bus close ends the loop.
	other := make(chan int)
	done := make(chan []int)
	go func() {
		var got []int
		for {
			select {
			case <-s.Ready():
				for {
					v, err := s.TryRecv()
					if errors.Is(err, fxbus.ErrEmpty) {
						break
					}
					if err != nil {
						done <- got
						return
					}
					got = append(got, v)
				}
			case v := <-other:
				got = append(got, -v)
			}
		}
	}()
	fxbus.Emit(b, 7)
	other <- 1
	fxbus.Emit(b, 8)
	b.Close()
	select {
	case got := <-done:
		if len(got) != 3 || got[len(got)-1] != 8 {
			t.Fatalf("select loop saw %v, want 7, -1 and 8 with 8 last", got)
		}
	case <-time.After(waitLimit):
		t.Fatal("select loop did not end on bus close")
	}
}

func TestAll(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(2))
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	for i := range 4 {
		fxbus.Emit(b, i)
	}
	b.Close()
	var got []int
	var lags []uint64
	for v, err := range s.All(context.Background()) {
		var lag *fxbus.LaggedError
		if errors.As(err, &lag) {
			lags = append(lags, lag.Missed)
			continue
		}
		if err != nil {
			t.Fatalf("All yielded %v", err)
		}
		got = append(got, v)
	}
	if len(lags) != 1 || lags[0] != 2 || len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("All gave events %v and lags %v; want [2 3] and [2]", got, lags)
	}

	t.Run("break", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		fxbus.Emit(b, 1)
		fxbus.Emit(b, 2)
		for v := range s.All(context.Background()) {
			if v != 1 {
				t.Fatalf("got %d, want 1", v)
			}
			break
		}
		if got := mustRecv(t, s); got != 2 {
			t.Fatalf("after break: %d, want 2", got)
		}
	})
	t.Run("ctx done", func(t *testing.T) {
		b := newTestBus(t)
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		fxbus.Emit(b, 1)
		n := 0
		for range s.All(ctx) {
			n++
			cancel()
		}
		if n != 1 || ctx.Err() == nil {
			t.Fatalf("loop ran %d times, want 1, then ended on ctx", n)
		}
	})
}

// TestLenCountsUnreadEvents checks Len through reads and a lag: lagged
// events count until the lag is reported.
func TestLenCountsUnreadEvents(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(4))
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	steps := []struct {
		desc string
		give func()
		want int
	}{
		{"fresh", func() {}, 0},
		{"3 emitted", func() { emitN(t, b, 0, 3, 1) }, 3},
		{"1 read", func() { _, _ = s.TryRecv() }, 2},
		{"all read", func() { _, _ = s.TryRecv(); _, _ = s.TryRecv() }, 0},
		{"10 emitted, lagged ones included", func() { emitN(t, b, 0, 10, 1) }, 10},
		{"lag reported", func() {
			_, err := s.TryRecv()
			wantLag(t, "lag", err, 6)
		}, 4},
		{"1 read after lag", func() { _, _ = s.TryRecv() }, 3},
	}
	for _, st := range steps {
		st.give()
		if got := s.Len(); got != st.want {
			t.Fatalf("after %s: Len = %d, want %d", st.desc, got, st.want)
		}
	}
}

// A Recv whose context ends at the moment an emit hands it its event
// loses nothing: each event is returned once, in order, by that Recv or by
// a later receive.
func TestRecvCancelledDuringEmitLosesNothing(t *testing.T) {
	b := newTestBus(t)
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	var got []int
	const rounds = 2000
	for i := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		emitted := make(chan struct{})
		go func() {
			defer close(emitted)
			if i%2 == 0 {
				cancel()
				fxbus.Emit(b, i)
			} else {
				fxbus.Emit(b, i)
				cancel()
			}
		}()
		if v, err := s.Recv(ctx); err == nil {
			got = append(got, v)
		} else if err != context.Canceled { //nolint:errorlint // must be ctx.Err() itself
			t.Fatalf("round %d: Recv = %v, want an event or context.Canceled", i, err)
		}
		<-emitted
		for {
			v, err := s.TryRecv()
			if err == fxbus.ErrEmpty {
				break
			}
			if err != nil {
				t.Fatalf("round %d: TryRecv = %v", i, err)
			}
			got = append(got, v)
		}
		cancel()
	}
	if len(got) != rounds {
		t.Fatalf("received %d events, want %d", len(got), rounds)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d is %d, want %d", i, v, i)
		}
	}
}

// A Recv parked when its subscription, or the bus, is closed at the moment
// of an emit returns either the event or ErrClosed, and then ErrClosed;
// an event the closed bus accepted is received, by Recv or after it.
func TestRecvParkedDuringCloseAndEmit(t *testing.T) {
	for _, closeBus := range []bool{false, true} {
		for i := range 500 {
			b := newTestBus(t)
			s := fxbus.Subscribe[int](b)
			res := make(chan error, 1)
			received := 0
			go func() {
				v, err := s.Recv(context.Background())
				if err == nil {
					received++
					if v != 7 {
						err = fmt.Errorf("got event %d, want 7", v)
					}
				}
				res <- err
			}()
			emitted := make(chan int, 1)
			go func() { emitted <- fxbus.Emit(b, 7) }()
			if closeBus {
				b.Close()
			} else {
				s.Close()
			}
			var err error
			within(t, "Recv", func() { err = <-res })
			if err != nil && err != fxbus.ErrClosed {
				t.Fatalf("closeBus=%v round %d: Recv = %v, want event 7 or ErrClosed", closeBus, i, err)
			}
			n := <-emitted
			for {
				v, err := s.TryRecv()
				if err == fxbus.ErrClosed {
					break
				}
				if err != nil || v != 7 {
					t.Fatalf("closeBus=%v round %d: TryRecv after close = %d, %v; want 7 or ErrClosed", closeBus, i, v, err)
				}
				received++
			}
			if closeBus && received != n {
				t.Fatalf("round %d: Emit queued the event for %d subscribers, received %d times", i, n, received)
			}
			if _, err := s.Recv(context.Background()); err != fxbus.ErrClosed {
				t.Fatalf("closeBus=%v round %d: Recv after close = %v, want ErrClosed", closeBus, i, err)
			}
			s.Close()
			b.Close()
		}
	}
}
