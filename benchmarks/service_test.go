package benchmarks

import (
	"context"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
	tsbus "tailscale.com/util/eventbus"
)

// The service-shaped workload: 8 event types, 4 handler components each
// handling 2 of them, 2 emitting goroutines at different rates. The fast
// emitter sends 3 of every 4 events (types 0-3 in turn, in bursts of 32);
// the slow one sends the rest (types 4-7) one at a time, yielding between
// each. Both hold back while more than svcWindow events are emitted and
// not yet handled, so that no implementation has to drop or queue without
// bound. Reported: ns/op per event, handled events/s, and the latency from
// the start of an emit to the handler, p50 and p99.

const (
	svcWindow = 256  // events in flight at most
	svcBuffer = 1024 // ring capacity / channel buffer per type
	svcBurst  = 32   // events the fast emitter sends between yields
)

// svcEv is one of the 8 event types, told apart by T.
type svcEv[T any] struct {
	at  int64 // nanoseconds since the run's start, taken before the emit
	seq uint64
}

// svcRun is the state of one run shared by emitters and handlers.
type svcRun struct {
	base    time.Time
	total   int64
	emitted atomic.Int64
	handled atomic.Int64
	done    chan struct{} // closed when every event is handled
	lat     [8][]int64    // latency per type; lat[i] is appended by type i's handler only
}

func newSvcRun(total int) *svcRun {
	r := &svcRun{base: time.Now(), total: int64(total), done: make(chan struct{})}
	for i := range r.lat {
		r.lat[i] = make([]int64, 0, total/8+svcBurst)
	}
	return r
}

func (r *svcRun) now() int64 { return int64(time.Since(r.base)) }

// handle records one event of type i.
func (r *svcRun) handle(i int, at int64) {
	r.lat[i] = append(r.lat[i], r.now()-at)
	if r.handled.Add(1) == r.total {
		close(r.done)
	}
}

// throttle waits while the window is full.
func (r *svcRun) throttle() {
	for r.emitted.Load()-r.handled.Load() >= svcWindow {
		runtime.Gosched()
	}
}

// emitters runs the two emitters with emit(type, event) and waits for every
// event to be handled.
func (r *svcRun) emitters(emit func(i int, at int64, seq uint64)) {
	fast := r.total * 3 / 4
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // fast: types 0-3, in bursts
		defer wg.Done()
		for n := int64(0); n < fast; n++ {
			if n%svcBurst == 0 {
				runtime.Gosched()
			}
			r.throttle()
			r.emitted.Add(1)
			emit(int(n%4), r.now(), uint64(n))
		}
	}()
	go func() { // slow: types 4-7, one at a time
		defer wg.Done()
		for n := int64(0); n < r.total-fast; n++ {
			runtime.Gosched()
			r.throttle()
			r.emitted.Add(1)
			emit(4+int(n%4), r.now(), uint64(n))
		}
	}()
	wg.Wait()
	<-r.done
}

func (r *svcRun) report(b *testing.B) {
	var all []int64
	for _, l := range r.lat {
		all = append(all, l...)
	}
	if int64(len(all)) != r.total {
		b.Fatalf("%d events handled, want %d", len(all), r.total)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(r.total)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2]), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100]), "p99-ns")
}

// Marker types for the 8 event types.
type (
	s0 struct{}
	s1 struct{}
	s2 struct{}
	s3 struct{}
	s4 struct{}
	s5 struct{}
	s6 struct{}
	s7 struct{}
)

func BenchmarkService(b *testing.B) {
	b.Run("impl=fxbus", serviceFxbus)
	b.Run("impl=chan", serviceChan)
	b.Run("impl=tailscale", serviceTailscale)
}

// serviceFxbus is the service under Fx: fxbus.Module, and each handler
// component registering its two handlers with fxbus.Listen.
func serviceFxbus(b *testing.B) {
	r := newSvcRun(b.N)
	// listen(i) is one handler component: event types i and i+1.
	listen := func(i int) func(lc fx.Lifecycle, bus *fxbus.Bus) {
		return func(lc fx.Lifecycle, bus *fxbus.Bus) {
			switch i {
			case 0:
				fxbusHandle[s0](lc, bus, r, 0)
				fxbusHandle[s1](lc, bus, r, 1)
			case 2:
				fxbusHandle[s2](lc, bus, r, 2)
				fxbusHandle[s3](lc, bus, r, 3)
			case 4:
				fxbusHandle[s4](lc, bus, r, 4)
				fxbusHandle[s5](lc, bus, r, 5)
			case 6:
				fxbusHandle[s6](lc, bus, r, 6)
				fxbusHandle[s7](lc, bus, r, 7)
			}
		}
	}
	var bus *fxbus.Bus
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fx.Supply(fxbus.Config{Capacity: svcBuffer}),
		fx.Invoke(listen(0), listen(2), listen(4), listen(6)),
		fx.Populate(&bus),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	r.emitters(func(i int, at int64, seq uint64) {
		switch i {
		case 0:
			fxbus.Emit(bus, svcEv[s0]{at, seq})
		case 1:
			fxbus.Emit(bus, svcEv[s1]{at, seq})
		case 2:
			fxbus.Emit(bus, svcEv[s2]{at, seq})
		case 3:
			fxbus.Emit(bus, svcEv[s3]{at, seq})
		case 4:
			fxbus.Emit(bus, svcEv[s4]{at, seq})
		case 5:
			fxbus.Emit(bus, svcEv[s5]{at, seq})
		case 6:
			fxbus.Emit(bus, svcEv[s6]{at, seq})
		case 7:
			fxbus.Emit(bus, svcEv[s7]{at, seq})
		}
	})
	b.StopTimer()
	if err := app.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	r.report(b)
}

func fxbusHandle[T any](lc fx.Lifecycle, bus *fxbus.Bus, r *svcRun, i int) {
	fxbus.Listen(lc, bus, func(_ context.Context, ev svcEv[T]) error {
		r.handle(i, ev.at)
		return nil
	})
}

// serviceChan is the same service written by hand: a buffered channel per
// event type, a goroutine per handler component selecting over its two
// channels, blocking sends.
func serviceChan(b *testing.B) {
	r := newSvcRun(b.N)
	var chans [8]chan svcEv[struct{}]
	for i := range chans {
		chans[i] = make(chan svcEv[struct{}], svcBuffer)
	}
	var wg sync.WaitGroup
	for c := 0; c < 8; c += 2 {
		wg.Add(1)
		go func(a, z chan svcEv[struct{}], i int) {
			defer wg.Done()
			for a != nil || z != nil {
				select {
				case ev, ok := <-a:
					if !ok {
						a = nil
						continue
					}
					r.handle(i, ev.at)
				case ev, ok := <-z:
					if !ok {
						z = nil
						continue
					}
					r.handle(i+1, ev.at)
				}
			}
		}(chans[c], chans[c+1], c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	r.emitters(func(i int, at int64, seq uint64) {
		chans[i] <- svcEv[struct{}]{at, seq}
	})
	b.StopTimer()
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	r.report(b)
}

// serviceTailscale is the service on tailscale's bus: a Client per handler
// component with a Subscriber per type, drained by the component's
// goroutine, and a Client with a Publisher per type for each emitter.
func serviceTailscale(b *testing.B) {
	r := newSvcRun(b.N)
	bus := newTailscale()
	var wg sync.WaitGroup
	tsComponent[s0, s1](bus, r, &wg, "h0", 0)
	tsComponent[s2, s3](bus, r, &wg, "h2", 2)
	tsComponent[s4, s5](bus, r, &wg, "h4", 4)
	tsComponent[s6, s7](bus, r, &wg, "h6", 6)
	fastC, slowC := bus.Client("fast"), bus.Client("slow")
	pubs := [8]func(at int64, seq uint64){
		tsPub[s0](fastC), tsPub[s1](fastC), tsPub[s2](fastC), tsPub[s3](fastC),
		tsPub[s4](slowC), tsPub[s5](slowC), tsPub[s6](slowC), tsPub[s7](slowC),
	}
	b.ReportAllocs()
	b.ResetTimer()
	r.emitters(func(i int, at int64, seq uint64) { pubs[i](at, seq) })
	b.StopTimer()
	bus.Close()
	wg.Wait()
	r.report(b)
}

// tsComponent is one handler component on tailscale's bus: types A and B
// (event types i and i+1), one Client, one goroutine.
func tsComponent[A, B any](bus *tsbus.Bus, r *svcRun, wg *sync.WaitGroup, name string, i int) {
	c := bus.Client(name)
	sa := tsbus.Subscribe[svcEv[A]](c)
	sz := tsbus.Subscribe[svcEv[B]](c)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case ev := <-sa.Events():
				r.handle(i, ev.at)
			case ev := <-sz.Events():
				r.handle(i+1, ev.at)
			case <-c.Done():
				return
			}
		}
	}()
}

func tsPub[T any](c *tsbus.Client) func(at int64, seq uint64) {
	p := tsbus.Publish[svcEv[T]](c)
	return func(at int64, seq uint64) { p.Publish(svcEv[T]{at, seq}) }
}
