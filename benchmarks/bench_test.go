package benchmarks

import (
	"fmt"
	"runtime"
	"sort"
	"testing"
	"time"
)

// batch is the fan-out batch: the publisher emits batch events, then waits
// until every subscriber has them all. Every buffer in the fan-out is
// batch events deep, so a lossless implementation never has to drop.
const batch = 512

// BenchmarkEmitNoSubscriber emits an event type (or topic) that has no
// subscriber, on a bus where another type has one.
func BenchmarkEmitNoSubscriber(b *testing.B) {
	for _, im := range impls {
		if im.emit == nil || im.maxK == 1 {
			continue
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			b.ReportAllocs()
			im.emit(b, 0)
		})
	}
}

// BenchmarkEmitIdle emits to k subscribers that never read (push-model
// buses: handlers that do nothing). What becomes of the events depends on
// the implementation; see README.md. k runs to 1024 to show how the cost
// of an emit grows with the number of subscribers.
func BenchmarkEmitIdle(b *testing.B) {
	for _, im := range impls {
		if im.emit == nil || im.maxK == 1 {
			continue
		}
		for _, k := range []int{1, 16, 256, 1024} {
			b.Run(fmt.Sprintf("impl=%s/k=%d", im.name, k), func(b *testing.B) {
				b.ReportAllocs()
				im.emit(b, k)
			})
		}
	}
}

// BenchmarkEmitRecv emits an event and receives it on the same goroutine.
func BenchmarkEmitRecv(b *testing.B) {
	for _, im := range impls {
		if im.emitRecv == nil {
			continue
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			b.ReportAllocs()
			im.emitRecv(b)
		})
	}
}

// BenchmarkSubscribeUnsubscribe measures a subscription's whole life.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	for _, im := range impls {
		if im.subUnsub == nil {
			continue
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			b.ReportAllocs()
			im.subUnsub(b, 0)
		})
	}
}

// BenchmarkSubscribeUnsubscribeLive is SubscribeUnsubscribe next to 10,000
// live subscribers of the same event.
func BenchmarkSubscribeUnsubscribeLive(b *testing.B) {
	const live = 10000
	for _, im := range impls {
		if im.subUnsub == nil {
			continue
		}
		b.Run(fmt.Sprintf("impl=%s/live=%d", im.name, live), func(b *testing.B) {
			b.ReportAllocs()
			im.subUnsub(b, live)
		})
	}
}

// fanSub is one fan-out subscriber: its goroutine counts what it received
// and reports the count to the publisher at the end of each batch.
type fanSub struct {
	n    int64
	done chan int64
	_    [48]byte // keep subscribers off each other's cache lines
}

// BenchmarkFanOut is the lossless fan-out: k subscribers consume on their
// own goroutines; the publisher emits b.N events in batches of 512 and
// waits until every subscriber has the batch before the next. ns/op is per
// published event. Every delivery is counted: an implementation that lost
// events reports them as lost/op (a subscriber that stays short of a
// batch for 200ms counts as having lost the rest).
func BenchmarkFanOut(b *testing.B) {
	for _, im := range impls {
		if im.async == nil {
			continue
		}
		for _, k := range []int{1, 4, 16} {
			if im.maxK > 0 && k > im.maxK {
				continue
			}
			b.Run(fmt.Sprintf("impl=%s/k=%d", im.name, k), func(b *testing.B) {
				fanOut(b, im, k)
			})
		}
	}
}

func fanOut(b *testing.B, im impl, k int) {
	bus := im.async(b, batch)
	total := int64(b.N)
	subs := make([]*fanSub, k)
	stops := make([]func(), k)
	for j := range subs {
		s := &fanSub{done: make(chan int64, 1)}
		subs[j] = s
		stops[j] = bus.subscribe(func(event16) {
			s.n++
			if s.n%batch == 0 || s.n == total {
				select {
				case s.done <- s.n:
				default: // only after a loss: the publisher gave up waiting
				}
			}
		})
	}
	got := make([]int64, k)
	timer := time.NewTimer(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for sent := int64(0); sent < total; {
		n := min(total-sent, batch)
		for i := int64(0); i < n; i++ {
			bus.emit(event16{a: uint64(sent + i)})
		}
		sent += n
		for j, s := range subs {
			if got[j] >= sent {
				continue
			}
			timer.Reset(200 * time.Millisecond)
		wait:
			for got[j] < sent {
				select {
				case c := <-s.done:
					got[j] = c
				case <-timer.C:
					break wait
				}
			}
		}
	}
	b.StopTimer()
	timer.Stop()
	for _, stop := range stops {
		stop()
	}
	bus.close()
	var delivered int64
	for _, c := range got {
		delivered += c
	}
	b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(total*int64(k)-delivered)/float64(b.N), "lost/op")
}

// spin busy-waits for d, keeping the benchmark goroutine on its thread.
func spin(d time.Duration) {
	for t := time.Now(); time.Since(t) < d; {
	}
}

// BenchmarkWakeup measures the latency from the start of an emit to the
// moment a parked subscriber has the event, one event at a time: the
// subscriber answers each event, and the publisher waits 20µs more before
// the next so that the subscriber is parked again. ns/op is the whole
// round trip; p50-ns and p99-ns are the one-way latency.
func BenchmarkWakeup(b *testing.B) {
	for _, im := range impls {
		if im.async == nil {
			continue
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			wakeup(b, im)
		})
	}
}

// BenchmarkWakeupOneCPU is Wakeup on one P (GOMAXPROCS 1) and without
// the pause: the publisher emits, which readies the parked subscriber,
// then parks on the answer, so the subscriber runs next on the same
// thread. No idle CPU has to wake up, so ns/op is the code path of one
// wake-up and its answer alone, free of the machine's wake-up latency
// that makes Wakeup's figures drift.
func BenchmarkWakeupOneCPU(b *testing.B) {
	for _, im := range impls {
		if im.async == nil {
			continue
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			bus := im.async(b, batch)
			ack := make(chan struct{}, 1)
			stop := bus.subscribe(func(event16) { ack <- struct{}{} })
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bus.emit(event16{a: uint64(i)})
				<-ack
			}
			b.StopTimer()
			stop()
			bus.close()
		})
	}
}

// BenchmarkWakeupPaired compares the wake-up of a parked fxbus
// subscriber with that of a receiver parked on one buffered channel
// (chan-spsc) in the same moments: each iteration wakes both, one after
// the other, in alternating order, with the same 20µs pause before each.
// On a shared or virtual machine the wake-up latency drifts with the
// machine's state (an idle vCPU takes microseconds to wake) over seconds,
// which makes separate runs of BenchmarkWakeup hard to compare; pairing
// puts that drift on both sides alike. It reports p50 and p99 of each,
// and their ratios fxbus/chan.
func BenchmarkWakeupPaired(b *testing.B) {
	fx, ch := fxbusImpl().async(b, batch), chanSPSCImpl().async(b, batch)
	base := time.Now()
	type side struct {
		bus asyncBus
		lat []int64
		ack chan struct{}
	}
	sides := [2]*side{{bus: fx}, {bus: ch}}
	stops := make([]func(), 0, 2)
	for _, sd := range sides {
		sd.lat = make([]int64, 0, b.N)
		sd.ack = make(chan struct{}, 1)
		stops = append(stops, sd.bus.subscribe(func(ev event16) {
			sd.lat = append(sd.lat, int64(time.Since(base))-int64(ev.a))
			sd.ack <- struct{}{}
		}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range 2 {
			sd := sides[(i+k)%2]
			spin(20 * time.Microsecond)
			sd.bus.emit(event16{a: uint64(time.Since(base)), b: uint64(i)})
			<-sd.ack
		}
	}
	b.StopTimer()
	for i, stop := range stops {
		stop()
		sides[i].bus.close()
	}
	pct := func(lat []int64, q int) float64 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(lat[(len(lat)-1)*q/100])
	}
	f50, f99 := pct(sides[0].lat, 50), pct(sides[0].lat, 99)
	c50, c99 := pct(sides[1].lat, 50), pct(sides[1].lat, 99)
	b.ReportMetric(f50, "fxbus-p50-ns")
	b.ReportMetric(c50, "chan-p50-ns")
	b.ReportMetric(f99, "fxbus-p99-ns")
	b.ReportMetric(c99, "chan-p99-ns")
	b.ReportMetric(f50/c50, "p50-ratio")
	b.ReportMetric(f99/c99, "p99-ratio")
}

func wakeup(b *testing.B, im impl) {
	bus := im.async(b, batch)
	base := time.Now()
	lat := make([]int64, 0, b.N)
	ack := make(chan struct{}, 1)
	stop := bus.subscribe(func(ev event16) {
		lat = append(lat, int64(time.Since(base))-int64(ev.a))
		ack <- struct{}{}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spin(20 * time.Microsecond)
		bus.emit(event16{a: uint64(time.Since(base)), b: uint64(i)})
		<-ack
	}
	b.StopTimer()
	stop()
	bus.close()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}
