package fxbus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

// TestCapacityRetainsTheNewestEvents checks that a subscriber that does
// not read keeps the newest capacity events and is told how many it missed.
func TestCapacityRetainsTheNewestEvents(t *testing.T) {
	for _, tt := range []struct {
		desc       string
		capacity   int
		emit       int
		wantMissed uint64
	}{
		{desc: "cap 1, exactly full", capacity: 1, emit: 1},
		{desc: "cap 1, one over", capacity: 1, emit: 2, wantMissed: 1},
		{desc: "cap 4, exactly full", capacity: 4, emit: 4},
		{desc: "cap 4, one over", capacity: 4, emit: 5, wantMissed: 1},
		{desc: "cap 4, three over", capacity: 4, emit: 7, wantMissed: 3},
		{desc: "cap 64, one over", capacity: 64, emit: 65, wantMissed: 1},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			b := newTestBus(t, fxbus.WithCapacity(tt.capacity))
			s := fxbus.Subscribe[int](b)
			defer s.Close()
			emitN(t, b, 0, tt.emit, 1)
			first := 0
			if tt.wantMissed > 0 {
				_, err := s.TryRecv()
				wantLag(t, "first receive", err, tt.wantMissed)
				first = int(tt.wantMissed)
			}
			got := 0
			for i := first; i < tt.emit; i++ {
				ev, err := s.TryRecv()
				wantEvent(t, "retained event", ev, err, i)
				got++
			}
			if want := min(tt.emit, tt.capacity); got != want {
				t.Fatalf("retained %d events, want %d", got, want)
			}
			ev, err := s.TryRecv()
			wantErr(t, "after the retained ones", ev, err, fxbus.ErrEmpty)
		})
	}
}

func TestLagging(t *testing.T) {
	tests := []struct {
		desc     string
		capacity int
		emit     int
		wantLag  uint64 // 0: no lag expected
		wantNext []int
	}{
		{desc: "exactly capacity", capacity: 4, emit: 4, wantNext: []int{0, 1, 2, 3}},
		{desc: "one over", capacity: 4, emit: 5, wantLag: 1, wantNext: []int{1, 2, 3, 4}},
		{desc: "far behind", capacity: 3, emit: 100, wantLag: 97, wantNext: []int{97, 98, 99}},
		{desc: "capacity one", capacity: 1, emit: 10, wantLag: 9, wantNext: []int{9}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b := newTestBus(t, fxbus.WithCapacity(tt.capacity))
			s := fxbus.Subscribe[int](b)
			defer s.Close()
			for i := range tt.emit {
				fxbus.Emit(b, i)
			}
			if got := s.Len(); got != tt.emit {
				t.Fatalf("Len() = %d, want %d (lagged events included)", got, tt.emit)
			}
			if tt.wantLag > 0 {
				_, err := s.TryRecv()
				var lag *fxbus.LaggedError
				if !errors.As(err, &lag) || !errors.Is(err, fxbus.ErrLagged) {
					t.Fatalf("TryRecv = %v, want *LaggedError", err)
				}
				if lag.Missed != tt.wantLag {
					t.Fatalf("Missed = %d, want %d", lag.Missed, tt.wantLag)
				}
				if !strings.Contains(err.Error(), "missed") {
					t.Errorf("error text %q does not say what was missed", err)
				}
			}
			for _, want := range tt.wantNext {
				if got := mustRecv(t, s); got != want {
					t.Fatalf("got %d, want %d", got, want)
				}
			}
			if _, err := s.TryRecv(); !errors.Is(err, fxbus.ErrEmpty) {
				t.Fatalf("after catching up: %v, want ErrEmpty", err)
			}
			if got := fxbus.StatsOf[int](b).Missed; got != tt.wantLag {
				t.Fatalf("Stats.Missed = %d, want %d", got, tt.wantLag)
			}
		})
	}

	for _, mode := range recvModes {
		t.Run(mode.name, func(t *testing.T) {
			for _, tt := range []struct {
				desc       string
				capacity   int
				emit       int
				wantMissed uint64
				want       []int
			}{
				{desc: "cap 4, 10 emitted", capacity: 4, emit: 10, wantMissed: 6, want: []int{6, 7, 8, 9}},
				{desc: "cap 1, 3 emitted", capacity: 1, emit: 3, wantMissed: 2, want: []int{2}},
				{desc: "cap 3, 100 emitted", capacity: 3, emit: 100, wantMissed: 97, want: []int{97, 98, 99}},
			} {
				t.Run(tt.desc, func(t *testing.T) {
					b := newTestBus(t, fxbus.WithCapacity(tt.capacity))
					s := fxbus.Subscribe[int](b)
					defer s.Close()
					emitN(t, b, 0, tt.emit, 1)
					_, err := mode.fn(t, s)
					wantLag(t, "first receive", err, tt.wantMissed)
					for _, w := range tt.want {
						ev, err := mode.fn(t, s)
						wantEvent(t, "resumes at the oldest retained", ev, err, w)
					}
					ev, err := s.TryRecv()
					wantErr(t, "after the retained ones", ev, err, fxbus.ErrEmpty)
				})
			}

			t.Run("lags again after resuming", func(t *testing.T) {
				b := newTestBus(t, fxbus.WithCapacity(4))
				s := fxbus.Subscribe[int](b)
				defer s.Close()
				emitN(t, b, 0, 10, 1)
				_, err := mode.fn(t, s)
				wantLag(t, "first lag", err, 6)
				ev, err := mode.fn(t, s)
				wantEvent(t, "oldest retained", ev, err, 6)
				// Unread: 7,8,9. Emit 10..15: ring keeps 12..15, 7..11 are lost.
				emitN(t, b, 10, 16, 1)
				_, err = mode.fn(t, s)
				wantLag(t, "second lag", err, 5)
				for w := 12; w < 16; w++ {
					ev, err := mode.fn(t, s)
					wantEvent(t, "after second lag", ev, err, w)
				}
				ev, err = s.TryRecv()
				wantErr(t, "after the retained ones", ev, err, fxbus.ErrEmpty)
			})

			t.Run("a lagging subscriber does not affect a reading one", func(t *testing.T) {
				b := newTestBus(t, fxbus.WithCapacity(2))
				slow := fxbus.Subscribe[int](b)
				fast := fxbus.Subscribe[int](b)
				defer slow.Close()
				defer fast.Close()
				for i := 0; i < 6; i++ {
					emitN(t, b, i, i+1, 2)
					ev, err := mode.fn(t, fast)
					wantEvent(t, "fast subscriber", ev, err, i)
				}
				_, err := mode.fn(t, slow)
				wantLag(t, "slow subscriber", err, 4)
				for _, w := range []int{4, 5} {
					ev, err := mode.fn(t, slow)
					wantEvent(t, "slow subscriber after lag", ev, err, w)
				}
			})
		})
	}
}

func TestLagThroughRecv(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(2))
	s := fxbus.Subscribe[int](b)
	defer s.Close()
	for i := range 5 {
		fxbus.Emit(b, i)
	}
	_, err := recvWithin(t, s)
	var lag *fxbus.LaggedError
	if !errors.As(err, &lag) || lag.Missed != 3 {
		t.Fatalf("Recv = %v, want LaggedError{Missed: 3}", err)
	}
	if v, err := recvWithin(t, s); v != 3 || err != nil {
		t.Fatalf("Recv = %d, %v; want 3", v, err)
	}
}
