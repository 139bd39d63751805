package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

type seqEvent struct {
	emitter int
	seq     int
}

// TestConcurrentAccounting runs several emitters against several
// subscribers, some fast and some slow enough to lag, and checks for each
// subscriber that every event was delivered or counted as missed, that each
// emitter's events arrive in order, and that nothing arrives twice. The
// second table adds subscribers that join while events are emitted, and
// subscribe/close churn and counter reads running at the same time.
func TestConcurrentAccounting(t *testing.T) {
	const emitters, perEmitter = 4, 5000
	for _, capacity := range []int{1, 16, 1024} {
		t.Run(fmt.Sprintf("capacity=%d", capacity), func(t *testing.T) {
			b := newTestBus(t, fxbus.WithCapacity(capacity))
			type result struct {
				delivered, missed uint64
				err               error
			}
			const subscribers = 6
			results := make(chan result, subscribers)
			var readers sync.WaitGroup
			for i := range subscribers {
				s := fxbus.Subscribe[seqEvent](b)
				slow := i%2 == 1
				readers.Add(1)
				go func() {
					defer readers.Done()
					defer s.Close()
					var r result
					last := make([]int, emitters)
					for j := range last {
						last[j] = -1
					}
					for {
						ev, err := s.Recv(context.Background())
						var lag *fxbus.LaggedError
						switch {
						case errors.As(err, &lag):
							r.missed += lag.Missed
							continue
						case errors.Is(err, fxbus.ErrClosed):
							results <- r
							return
						case err != nil:
							r.err = err
							results <- r
							return
						}
						if ev.seq <= last[ev.emitter] {
							r.err = fmt.Errorf("emitter %d: seq %d after %d (reordered or duplicated)", ev.emitter, ev.seq, last[ev.emitter])
							results <- r
							return
						}
						last[ev.emitter] = ev.seq
						r.delivered++
						if slow && r.delivered%64 == 0 {
							runtime.Gosched()
						}
					}
				}()
			}
			var wg sync.WaitGroup
			for e := range emitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perEmitter {
						if n := fxbus.Emit(b, seqEvent{emitter: e, seq: i}); n != subscribers {
							t.Errorf("Emit queued for %d subscribers, want %d", n, subscribers)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.Close()
			readers.Wait()
			close(results)
			var missedTotal uint64
			for r := range results {
				if r.err != nil {
					t.Fatal(r.err)
				}
				if got := r.delivered + r.missed; got != emitters*perEmitter {
					t.Errorf("delivered %d + missed %d = %d, want %d", r.delivered, r.missed, got, emitters*perEmitter)
				}
				missedTotal += r.missed
			}
			st := fxbus.StatsOf[seqEvent](b)
			if st.Emitted != emitters*perEmitter || st.Missed != missedTotal || st.Subscribers != 0 {
				t.Errorf("Stats = %+v, want Emitted %d, Missed %d, no subscriber", st, emitters*perEmitter, missedTotal)
			}
		})
	}

	for _, tt := range []struct {
		desc        string
		capacity    int
		emitters    int
		perEmitter  int
		subscribers int
		late        int
		wantNoLag   bool
	}{
		{desc: "small ring, lagging expected", capacity: 8, emitters: 4, perEmitter: 2000, subscribers: 4, late: 2},
		{desc: "ring holds everything, nothing missed", capacity: 1 << 14, emitters: 4, perEmitter: 2000, subscribers: 4, late: 2, wantNoLag: true},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			b := newTestBus(t, fxbus.WithCapacity(tt.capacity))
			total := uint64(tt.emitters * tt.perEmitter)

			type tally struct {
				delivered, missed uint64
				err               error
			}
			consume := func(s *fxbus.Subscription[seqEvent], slow bool) tally {
				var r tally
				last := make([]int, tt.emitters)
				for i := range last {
					last[i] = -1
				}
				seen := make(map[seqEvent]bool)
				ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
				defer cancel()
				for {
					ev, err := s.TryRecv()
					if errors.Is(err, fxbus.ErrEmpty) {
						ev, err = s.Recv(ctx)
					}
					var lagged *fxbus.LaggedError
					switch {
					case err == nil:
					case errors.As(err, &lagged):
						r.missed += lagged.Missed
						continue
					case errors.Is(err, fxbus.ErrClosed):
						return r
					default:
						r.err = fmt.Errorf("unexpected error: %w", err)
						return r
					}
					if ev.emitter < 0 || ev.emitter >= tt.emitters {
						r.err = fmt.Errorf("unknown emitter in %+v", ev)
						return r
					}
					if seen[ev] {
						r.err = fmt.Errorf("duplicate %+v", ev)
						return r
					}
					seen[ev] = true
					if ev.seq <= last[ev.emitter] {
						r.err = fmt.Errorf("emitter %d: seq %d after %d", ev.emitter, ev.seq, last[ev.emitter])
						return r
					}
					last[ev.emitter] = ev.seq
					r.delivered++
					if slow {
						runtime.Gosched()
					}
				}
			}

			// Subscribers live for the whole run.
			subs := make([]*fxbus.Subscription[seqEvent], tt.subscribers)
			for i := range subs {
				subs[i] = fxbus.Subscribe[seqEvent](b)
			}
			tallies := make([]tally, tt.subscribers+tt.late)
			var readers sync.WaitGroup
			for i, s := range subs {
				readers.Add(1)
				go func() {
					defer readers.Done()
					tallies[i] = consume(s, i%2 == 1)
				}()
			}

			start := make(chan struct{})
			// Late subscribers join while emitting.
			for i := 0; i < tt.late; i++ {
				readers.Add(1)
				go func() {
					defer readers.Done()
					<-start
					runtime.Gosched()
					s := fxbus.Subscribe[seqEvent](b)
					tallies[tt.subscribers+i] = consume(s, false)
				}()
			}

			// Churn and readers of counters, concurrently with everything.
			stopSide := make(chan struct{})
			var side sync.WaitGroup
			side.Add(2)
			go func() {
				defer side.Done()
				for {
					select {
					case <-stopSide:
						return
					default:
					}
					s := fxbus.Subscribe[seqEvent](b)
					_, _ = s.TryRecv()
					_ = s.Len()
					s.Close()
				}
			}()
			go func() {
				defer side.Done()
				for {
					select {
					case <-stopSide:
						return
					default:
					}
					_ = fxbus.SubscriberCount[seqEvent](b)
					_ = b.TypeCount()
					for _, s := range subs {
						_ = s.Len()
					}
					runtime.Gosched()
				}
			}()

			var badEmit atomic.Int64
			maxCount := tt.subscribers + tt.late + 1
			var emitters sync.WaitGroup
			for e := 0; e < tt.emitters; e++ {
				emitters.Add(1)
				go func() {
					defer emitters.Done()
					<-start
					for seq := 0; seq < tt.perEmitter; seq++ {
						n := fxbus.Emit(b, seqEvent{emitter: e, seq: seq})
						if n < tt.subscribers || n > maxCount {
							badEmit.Store(int64(n))
						}
					}
				}()
			}
			close(start)
			within(t, "emitters", emitters.Wait)
			close(stopSide)
			within(t, "side goroutines", side.Wait)
			b.Close()
			within(t, "subscribers draining to ErrClosed", readers.Wait)

			if n := badEmit.Load(); n != 0 {
				t.Errorf("Emit returned %d, want between %d and %d", n, tt.subscribers, maxCount)
			}
			for i, r := range tallies {
				if r.err != nil {
					t.Errorf("subscriber %d: %v", i, r.err)
					continue
				}
				if i >= tt.subscribers { // late: saw a suffix only
					if r.delivered+r.missed > total {
						t.Errorf("late subscriber %d: delivered %d + missed %d > emitted %d", i, r.delivered, r.missed, total)
					}
					continue
				}
				if r.delivered+r.missed != total {
					t.Errorf("subscriber %d: delivered %d + missed %d != emitted %d", i, r.delivered, r.missed, total)
				}
				if tt.wantNoLag && r.missed != 0 {
					t.Errorf("subscriber %d: missed %d with a ring larger than the stream", i, r.missed)
				}
			}
		})
	}
}
