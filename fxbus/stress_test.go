package fxbus_test

// TestStress runs many emitters against many subscribers on several event
// types, with subscribers joining and leaving while events flow and some of
// them slow enough to lag, and accounts for every event.
//
// By default it runs for a short while (the CI mode, also under -race). For a
// long run that logs its figures:
//
//	go test -run '^TestStress$' -v -timeout 0 ./fxbus/ -stress.duration=5m
//
// # Making "emitted during its lifetime" exact
//
// With several goroutines emitting one type, an emitter cannot tell where
// in the ring its event landed relative to a Subscribe running at the same
// moment, so "the events emitted while the subscriber was live" is not
// observable from outside. Each event type therefore has a sync.RWMutex:
// every Emit runs under its read lock (emitters of a type still write to the
// ring concurrently), and the "exact" subscribers take the write lock around
// Subscribe and again around their final drain and Close. While the write
// lock is held no Emit of that type is in flight, so every emitter's count of
// completed emits (done[e]) is exactly its number of events that reached the
// ring before the subscriber's first position (at Subscribe) or before its
// end (at leave). An exact subscriber's window is then, per emitter e, the
// sequence numbers [start[e], end[e]), and after draining to ErrEmpty (or
// ErrClosed) under the lock it must have
//
//	delivered + missed == Σe (end[e] - start[e])
//
// with the events of each emitter in increasing order, and contiguous
// between two lag reports: the events of e delivered after a stretch
// without lag report are start[e], start[e]+1, ... and the last one is
// end[e]-1. Nothing is skipped silently and nothing is duplicated.
//
// "Racy" subscribers subscribe and close without the lock, so that
// Subscribe and Close also race with Emit on the same ring. For them the
// window is bracketed instead: before Subscribe they read done[e] (lo[e]:
// these events are certainly before them), after Subscribe started[e]
// (hi[e]: the events from there on are certainly theirs). Racy subscribers
// that stay until the bus closes must have Σ(end-hi) ≤ delivered+missed ≤
// Σ(end-lo), and those that leave early delivered+missed ≤ Σ(started-lo);
// the per-emitter order and contiguity checks are as exact as for the
// others. Some racy subscribers are closed by another goroutine while they
// wait in Recv, which must then return ErrClosed.
//
// Emit must return at least the number of exact subscribers live (stable
// under the read lock). One type has no subscriber that stays for the
// whole run, so that at times it has none and its emits are dropped. At
// the end, Stats must match the sums of what the emitters and subscribers
// saw (emitted, dropped, missed, no subscriber left), no goroutine may be
// left (goleak in TestMain), and the events and closed subscriptions must
// be garbage: weak pointers to the last events of every emitter and to the
// last subscriptions made must be cleared while the bus is still
// referenced, the heap must be back to its baseline within a tolerance,
// and the bus alone (heap with it minus heap without it) must retain no
// more than its rings.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/claviron/fxruntime/fxbus"
)

var stDuration = flag.Duration("stress.duration", 0,
	"how long TestStress lets events flow; 0 runs the short CI mode; e.g. 5m for a long run that logs its figures")

const (
	stShortDuration = 700 * time.Millisecond
	stCapacity      = 64
	stEmitters      = 3 // per type
	stMaxLive       = 8 // churning subscribers per type at a time, besides the stayers
	stWeakKeep      = 128
	stPayloadSize   = 1024
)

// stEvent is the event of the test; each K gives a distinct event type. The
// payload is a separate allocation so that the test can see, with weak
// pointers and the heap size, whether the bus still references it.
type stEvent[K any] struct {
	Emitter int
	Seq     uint64
	P       *stPayload
}

type stPayload struct {
	emitter int
	seq     uint64
	_       [stPayloadSize - 16]byte
}

type (
	stK0 struct{}
	stK1 struct{}
	stK2 struct{}
)

type stKind int

const (
	stExactStay  stKind = iota // subscribes under the lock before events flow, reads to ErrClosed
	stExactLeave               // subscribes under the lock, leaves (drain + Close) under the lock
	stRacyStay                 // subscribes without the lock, reads to ErrClosed
	stRacyLeave                // subscribes without the lock, closes itself after its lifetime
	stRacyKilled               // subscribes without the lock, closed by another goroutine
	stKinds
)

var stKindNames = [stKinds]string{"exact-stay", "exact-leave", "racy-stay", "racy-leave", "racy-killed"}

// stFigures are the counters of one type, summed over types at the end.
type stFigures struct {
	emitted, dropped        atomic.Uint64 // emits that returned > 0, and 0
	delivered, missed, lags atomic.Uint64 // over every subscriber
	subs                    [stKinds]atomic.Uint64
	slowSubs                atomic.Uint64
}

// stType is the harness of one event type.
type stType[K any] struct {
	t   *testing.T
	b   *fxbus.Bus
	fig *stFigures

	// mu: Emit under RLock; exact subscribers Subscribe, drain and Close
	// under Lock. See the file comment.
	mu        sync.RWMutex
	started   [stEmitters]atomic.Uint64 // per emitter: events whose Emit has begun
	done      [stEmitters]atomic.Uint64 // per emitter: events whose Emit has returned
	exactLive atomic.Int64              // changed under Lock only

	live atomic.Int64 // churning subscribers running

	// Written by one goroutine each, read after they are all waited for.
	weakPay  [stEmitters][stWeakKeep]weak.Pointer[stPayload]
	weakSubs [stWeakKeep]weak.Pointer[fxbus.Subscription[stEvent[K]]] // the last subscriptions made; guarded by weakMu
	weakN    int                                                      // guarded by weakMu
	weakMu   sync.Mutex
}

// stHarness is what the generic per-type harnesses have in common.
type stHarness interface {
	emitter(e int, stop <-chan struct{})
	spawner(stop <-chan struct{}, ctx context.Context, lifetime time.Duration, wg *sync.WaitGroup, killStop <-chan struct{})
	subscribe(kind stKind, slow bool, ctx context.Context, lifetime time.Duration, wg *sync.WaitGroup, killStop <-chan struct{})
	primeRing()
	checkEnd(base *stFigures)
	weakLeft() (payloads, subs int)
	dropBus()
}

func stNewType[K any](t *testing.T, b *fxbus.Bus) *stType[K] {
	return &stType[K]{t: t, b: b, fig: new(stFigures)}
}

// primeRing creates the type's ring before the heap baseline is taken.
func (ty *stType[K]) primeRing() { fxbus.Subscribe[stEvent[K]](ty.b).Close() }

func (ty *stType[K]) emitter(e int, stop <-chan struct{}) {
	var emitted, dropped uint64
	defer func() {
		ty.fig.emitted.Add(emitted)
		ty.fig.dropped.Add(dropped)
	}()
	var seq uint64
	for {
		select {
		case <-stop:
			return
		default:
		}
		// A burst, then a pause: fast subscribers mostly keep up, slow
		// ones lag.
		for range 1 + rand.IntN(stCapacity/2) {
			p := &stPayload{emitter: e, seq: seq}
			ev := stEvent[K]{Emitter: e, Seq: seq, P: p}
			ty.mu.RLock()
			ty.started[e].Store(seq + 1)
			n := fxbus.Emit(ty.b, ev)
			exact := ty.exactLive.Load()
			ty.done[e].Store(seq + 1)
			ty.mu.RUnlock()
			if int64(n) < exact {
				ty.t.Errorf("emitter %d seq %d: Emit = %d with %d exact subscribers live", e, seq, n, exact)
				return
			}
			if n > 0 {
				emitted++
			} else {
				dropped++
			}
			ty.weakPay[e][seq%stWeakKeep] = weak.Make(p)
			seq++
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
	}
}

// spawner keeps up to stMaxLive churning subscribers of every kind coming
// and going until stop.
func (ty *stType[K]) spawner(stop <-chan struct{}, ctx context.Context, lifetime time.Duration, wg *sync.WaitGroup, killStop <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		if ty.live.Load() < stMaxLive {
			kind := []stKind{stExactLeave, stRacyLeave, stRacyKilled}[rand.IntN(3)]
			ty.subscribe(kind, rand.IntN(3) == 0, ctx, time.Millisecond+rand.N(lifetime), wg, killStop)
		}
		timer.Reset(time.Duration(rand.IntN(3000)) * time.Microsecond)
	}
}

// stSubState is what one subscriber has seen.
type stSubState struct {
	kind              stKind
	lo, hi            [stEmitters]uint64 // window start bracket; lo == hi for exact subscribers
	last              [stEmitters]int64  // last seq delivered per emitter, -1 before the first
	lagSince          [stEmitters]bool   // a lag was reported since the last event of e (or since Subscribe)
	delivered, missed uint64
	lags              uint64
}

// subscribe makes the subscription here, so that every subscription exists
// before the spawners are stopped, and reads it in a new goroutine.
func (ty *stType[K]) subscribe(kind stKind, slow bool, ctx context.Context, lifetime time.Duration, wg *sync.WaitGroup, killStop <-chan struct{}) {
	st := &stSubState{kind: kind}
	for e := range st.last {
		st.last[e] = -1
	}
	var s *fxbus.Subscription[stEvent[K]]
	switch kind {
	case stExactStay, stExactLeave:
		ty.mu.Lock()
		s = fxbus.Subscribe[stEvent[K]](ty.b)
		for e := range st.lo {
			st.lo[e] = ty.done[e].Load()
			st.hi[e] = st.lo[e]
		}
		ty.exactLive.Add(1)
		ty.mu.Unlock()
	default:
		for e := range st.lo {
			st.lo[e] = ty.done[e].Load()
		}
		s = fxbus.Subscribe[stEvent[K]](ty.b)
		for e := range st.hi {
			st.hi[e] = ty.started[e].Load()
		}
	}
	ty.fig.subs[kind].Add(1)
	if slow {
		ty.fig.slowSubs.Add(1)
	}
	ty.weakMu.Lock()
	ty.weakSubs[ty.weakN%stWeakKeep] = weak.Make(s)
	ty.weakN++
	ty.weakMu.Unlock()

	churning := kind != stExactStay && kind != stRacyStay
	if churning {
		ty.live.Add(1)
	}
	if kind == stRacyKilled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(lifetime):
			case <-killStop:
			}
			s.Close()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if churning {
			defer ty.live.Add(-1)
		}
		ty.read(s, st, slow, ctx, lifetime)
	}()
}

// read receives until the subscriber's end and checks its accounting.
func (ty *stType[K]) read(s *fxbus.Subscription[stEvent[K]], st *stSubState, slow bool, watchdog context.Context, lifetime time.Duration) {
	t := ty.t
	fail := func(format string, args ...any) {
		t.Errorf("%s subscriber of %T: %s", stKindNames[st.kind], stEvent[K]{}, fmt.Sprintf(format, args...))
	}
	defer func() {
		ty.fig.delivered.Add(st.delivered)
		ty.fig.missed.Add(st.missed)
		ty.fig.lags.Add(st.lags)
	}()

	ctx := watchdog
	if st.kind == stExactLeave || st.kind == stRacyLeave {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(watchdog, lifetime)
		defer cancel()
	}
	// handle accounts for one receive; it reports whether the error ends
	// the reading (ErrClosed), and fails on anything unexpected.
	handle := func(ev stEvent[K], err error) (closed bool, ok bool) {
		var lag *fxbus.LaggedError
		switch {
		case err == nil:
			return false, ty.check(st, ev, fail)
		case errors.As(err, &lag):
			if lag.Missed == 0 {
				fail("LaggedError with Missed 0")
				return false, false
			}
			st.missed += lag.Missed
			st.lags++
			for e := range st.lagSince {
				st.lagSince[e] = true
			}
			return false, true
		case errors.Is(err, fxbus.ErrClosed):
			return true, true
		}
		return false, false
	}

	closed := false
	for !closed {
		ev, err := s.Recv(ctx)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			if watchdog.Err() != nil {
				fail("Recv still blocked when the watchdog expired (delivered %d, missed %d)", st.delivered, st.missed)
				s.Close()
				return
			}
			break // the end of a leaver's lifetime
		}
		var ok bool
		if closed, ok = handle(ev, err); !ok {
			if err != nil {
				fail("Recv: unexpected error %v", err)
			}
			s.Close()
			return
		}
		if slow && err == nil && st.delivered%8 == 0 {
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
	}

	// The end of the window.
	var end [stEmitters]uint64
	exactEnd := true
	switch st.kind {
	case stExactStay, stExactLeave:
		// Drain what is left under the lock, then close: the window ends
		// at done[e], exactly.
		ty.mu.Lock()
		for !closed {
			ev, err := s.TryRecv()
			if errors.Is(err, fxbus.ErrEmpty) {
				break
			}
			var ok bool
			if closed, ok = handle(ev, err); !ok {
				if err != nil {
					fail("TryRecv: unexpected error %v", err)
				}
				break
			}
		}
		for e := range end {
			end[e] = ty.done[e].Load()
		}
		s.Close()
		ty.exactLive.Add(-1)
		ty.mu.Unlock()
	case stRacyStay:
		// Read to ErrClosed, which comes only from the bus's close, after
		// every emitter stopped: done[e] is final.
		for e := range end {
			end[e] = ty.done[e].Load()
		}
		s.Close()
	default:
		// Left or killed while events flowed: only an upper bound.
		s.Close()
		exactEnd = false
		for e := range end {
			end[e] = ty.started[e].Load()
		}
	}

	var lower, upper uint64
	for e := range end {
		upper += end[e] - st.lo[e]
		if end[e] > st.hi[e] {
			lower += end[e] - st.hi[e]
		}
	}
	got := st.delivered + st.missed
	if !exactEnd {
		if got > upper {
			fail("delivered %d + missed %d = %d, more than the %d emitted at most during its life", st.delivered, st.missed, got, upper)
		}
		return
	}
	if got < lower || got > upper {
		if lower == upper {
			fail("delivered %d + missed %d = %d, want the %d emitted during its life", st.delivered, st.missed, got, upper)
		} else {
			fail("delivered %d + missed %d = %d, want between %d and %d", st.delivered, st.missed, got, lower, upper)
		}
	}
	for e := range end {
		if st.lagSince[e] {
			continue
		}
		switch {
		case st.last[e] >= 0 && uint64(st.last[e]) != end[e]-1:
			fail("emitter %d: last event delivered is seq %d, with no lag since, but the emitter's last in the window is %d", e, st.last[e], int64(end[e])-1)
		case st.last[e] < 0 && end[e] > st.hi[e]:
			fail("emitter %d: nothing delivered and no lag, but it emitted seqs %d to %d in the window", e, st.hi[e], end[e]-1)
		}
	}
}

// check accounts for one delivered event.
func (ty *stType[K]) check(st *stSubState, ev stEvent[K], fail func(string, ...any)) bool {
	e, seq := ev.Emitter, ev.Seq
	if e < 0 || e >= stEmitters || ev.P == nil || ev.P.emitter != e || ev.P.seq != seq {
		fail("malformed event %+v", ev)
		return false
	}
	switch {
	case seq < st.lo[e]:
		fail("emitter %d: seq %d was emitted before Subscribe (first possible: %d)", e, seq, st.lo[e])
		return false
	case st.last[e] >= 0 && seq <= uint64(st.last[e]):
		fail("emitter %d: seq %d after seq %d: reordered or duplicated", e, seq, st.last[e])
		return false
	case st.lagSince[e]:
		// After a lag report, the next event of e can be any later one.
	case st.last[e] >= 0 && seq != uint64(st.last[e])+1:
		fail("emitter %d: seq %d after seq %d with no lag reported: %d skipped silently", e, seq, st.last[e], seq-uint64(st.last[e])-1)
		return false
	case st.last[e] < 0 && seq > st.hi[e]:
		fail("emitter %d: first event is seq %d with no lag reported, but seqs from %d were emitted after Subscribe", e, seq, st.hi[e])
		return false
	}
	st.last[e] = int64(seq)
	st.lagSince[e] = false
	st.delivered++
	return true
}

// checkEnd compares the type's Stats with what emitters and subscribers saw,
// and adds the type's figures to sum.
func (ty *stType[K]) checkEnd(sum *stFigures) {
	f := ty.fig
	st := fxbus.StatsOf[stEvent[K]](ty.b)
	if st.Emitted != f.emitted.Load() || st.Dropped != f.dropped.Load() || st.Missed != f.missed.Load() || st.Subscribers != 0 {
		ty.t.Errorf("StatsOf[%s] = %+v; emitters saw %d emitted and %d dropped, subscribers %d missed, and none is live",
			st.Type, st, f.emitted.Load(), f.dropped.Load(), f.missed.Load())
	}
	sum.emitted.Add(f.emitted.Load())
	sum.dropped.Add(f.dropped.Load())
	sum.delivered.Add(f.delivered.Load())
	sum.missed.Add(f.missed.Load())
	sum.lags.Add(f.lags.Load())
	sum.slowSubs.Add(f.slowSubs.Load())
	for k := range f.subs {
		sum.subs[k].Add(f.subs[k].Load())
	}
}

// weakLeft counts the payloads and subscriptions still reachable.
func (ty *stType[K]) weakLeft() (payloads, subs int) {
	for e := range ty.weakPay {
		for _, w := range ty.weakPay[e] {
			if w.Value() != nil {
				payloads++
			}
		}
	}
	ty.weakMu.Lock()
	defer ty.weakMu.Unlock()
	for _, w := range ty.weakSubs {
		if w.Value() != nil {
			subs++
		}
	}
	return payloads, subs
}

func (ty *stType[K]) dropBus() { ty.b = nil }

// stWait waits for wg, failing the test after d.
func stWait(t *testing.T, what string, wg *sync.WaitGroup, d time.Duration) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		t.Errorf("%s did not finish within %v", what, d)
		return false
	}
}

// stHeap collects garbage and returns the live heap.
func stHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestStress(t *testing.T) {
	duration := *stDuration
	long := duration > 0
	if !long {
		duration = stShortDuration
	}
	lifetime := min(duration/5, 2*time.Second) // of a churning subscriber, at most

	b, err := fxbus.New(fxbus.WithCapacity(stCapacity))
	if err != nil {
		t.Fatal(err)
	}
	types := []stHarness{
		stNewType[stK0](t, b),
		stNewType[stK1](t, b),
		stNewType[stK2](t, b),
	}
	for _, ty := range types {
		ty.primeRing()
	}
	baseHeap := stHeap()

	// Peak heap, sampled without stopping the world.
	samplerStop := make(chan struct{})
	samplerDone := make(chan uint64, 1)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-samplerStop:
				samplerDone <- peak
				return
			case <-tick.C:
			}
		}
	}()

	watchdog, cancel := context.WithTimeout(context.Background(), duration+time.Minute)
	defer cancel()
	var subsWG, spawnWG, emitWG sync.WaitGroup
	killStop := make(chan struct{})
	spawnStop := make(chan struct{})
	emitStop := make(chan struct{})

	start := time.Now()
	// Subscribers for the whole run, some before the first event, on all
	// types but the last: that one has only churning subscribers, and at
	// times none, so that some of its events are dropped.
	for _, ty := range types[:len(types)-1] {
		ty.subscribe(stExactStay, false, watchdog, 0, &subsWG, killStop)
		ty.subscribe(stExactStay, true, watchdog, 0, &subsWG, killStop)
		ty.subscribe(stRacyStay, false, watchdog, 0, &subsWG, killStop)
	}
	for _, ty := range types {
		for e := range stEmitters {
			emitWG.Add(1)
			go func() {
				defer emitWG.Done()
				ty.emitter(e, emitStop)
			}()
		}
		spawnWG.Add(1)
		go func() {
			defer spawnWG.Done()
			ty.spawner(spawnStop, watchdog, lifetime, &subsWG, killStop)
		}()
	}
	for _, ty := range types[:len(types)-1] {
		ty.subscribe(stRacyStay, true, watchdog, 0, &subsWG, killStop)
	}

	// Let events flow, then stop everything in order: no new subscriber,
	// no new event, close the bus (every reader drains, then ErrClosed),
	// release the killers.
	select {
	case <-time.After(duration):
	case <-watchdog.Done():
	}
	close(spawnStop)
	stWait(t, "spawners", &spawnWG, 30*time.Second)
	close(emitStop)
	stWait(t, "emitters", &emitWG, 30*time.Second)
	b.Close()
	close(killStop)
	stWait(t, "subscribers", &subsWG, 30*time.Second)
	elapsed := time.Since(start)
	close(samplerStop)
	var peakHeap uint64
	select {
	case peakHeap = <-samplerDone:
	case <-time.After(10 * time.Second):
		t.Error("heap sampler did not stop")
	}
	if t.Failed() {
		return
	}

	var sum stFigures
	for _, ty := range types {
		ty.checkEnd(&sum)
	}

	// Memory, with the bus still referenced: no event it was given and no
	// closed subscription may still be reachable.
	endHeap := stHeap()
	var payloadsLeft, subsLeft int
	for _, ty := range types {
		p, s := ty.weakLeft()
		payloadsLeft += p
		subsLeft += s
	}
	if payloadsLeft > 0 {
		t.Errorf("%d of the last %d events of each emitter are still reachable after every subscriber read them or closed", payloadsLeft, stWeakKeep)
	}
	if subsLeft > 0 {
		t.Errorf("%d closed subscriptions are still reachable", subsLeft)
	}
	// The same by heap size, two ways. First, the live heap must be back
	// to its baseline, taken with the rings already made: the tolerance
	// covers what the run leaves behind legitimately (the runtime keeps
	// the descriptors of exited goroutines for reuse, and the weak
	// pointers of the test have handles), and it is there to catch
	// memory that grows with the number of events or subscribers.
	const heapTolerance = 512 << 10
	if endHeap > baseHeap+heapTolerance {
		t.Errorf("heap after the run is %d B, %d B above its baseline of %d B (tolerance %d B)", endHeap, endHeap-baseHeap, baseHeap, heapTolerance)
	}
	// Second, precisely, what the bus alone retains: the live heap with
	// it minus without it, everything else kept alive. That is its three
	// rings (capacity × 40-byte slots) and a few small structures; one
	// payload (1 KiB) left in every slot would add 192 KiB.
	for _, ty := range types {
		ty.dropBus()
	}
	runtime.KeepAlive(b)
	b = nil
	noBusHeap := stHeap()
	runtime.KeepAlive(types)
	busHeap := int64(endHeap) - int64(noBusHeap)
	const busBound = 3*stCapacity*64 + 16<<10
	if busHeap > busBound {
		t.Errorf("the bus retains %d B after the run, more than the %d B its rings and structures need", busHeap, busBound)
	}

	var subs uint64
	kinds := ""
	for k := range sum.subs {
		n := sum.subs[k].Load()
		subs += n
		kinds += fmt.Sprintf(" %s=%d", stKindNames[k], n)
	}
	events := sum.emitted.Load() + sum.dropped.Load()
	t.Logf("stress: %v of flow (%v in all), %d types × %d emitters, capacity %d", duration, elapsed.Round(time.Millisecond), len(types), stEmitters, stCapacity)
	t.Logf("events: %d emitted (%.0f/s), %d dropped for want of a subscriber", events, float64(events)/elapsed.Seconds(), sum.dropped.Load())
	t.Logf("subscribers: %d (%d slow):%s", subs, sum.slowSubs.Load(), kinds)
	t.Logf("deliveries: %d delivered, %d lag events reporting %d missed", sum.delivered.Load(), sum.lags.Load(), sum.missed.Load())
	t.Logf("heap: baseline %d KiB, peak %d KiB, after the run %d KiB, retained by the bus %d B", baseHeap>>10, peakHeap>>10, endHeap>>10, busHeap)
}
