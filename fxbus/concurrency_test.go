package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
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
// emitter's events arrive in order, and that nothing arrives twice.
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
}
