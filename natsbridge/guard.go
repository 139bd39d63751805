package natsbridge

import (
	"bytes"
	"math"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/claviron/fxruntime/fxbus"
)

// A guard keeps the outbound routes of E on a bus from forwarding the
// events that inbound routes of E on that bus received, whatever their
// Conn: without it, two processes that bridge a type both ways, or two
// Conns on one bus, would send each event back and forth for ever.
//
// The bus carries values without any mark of where they came from, so the
// guard tells a received event by its position in the bus's ring of E:
// the number of events of E written to the ring before it, which
// fxbus.StatsOf reports as Emitted.
//
//   - An inbound route emits a received event with the guard's lock held,
//     reading Emitted just before and just after: the event's position
//     lies in that range, a single position unless a local emit of E
//     landed at the same moment. It queues the range, and the event's
//     encoding, for each outbound route of E. The lock serialises received
//     events, so the queued ranges are disjoint and in order.
//   - An outbound route knows the position of each event it reads: its
//     subscription's first position (Emitted less the subscription's
//     Len, read while nothing is emitted), plus one per event read, plus
//     fxbus.LaggedError.Missed per lag.
//
// When an outbound route reads an event, the queued events whose range
// ends before its position are events it missed, and are forgotten; a
// queued event whose range is exactly its position is that event, which is
// skipped; an event that no queued range covers is a local one, which is
// forwarded. Only when a range spans several positions (a local emit
// raced with the received one) do the encodings decide: the event is
// skipped if its encoding equals that of the queued event whose range
// covers it. Hence the rules of the package documentation, "Echo": a
// codec of a type bridged both ways must be deterministic, and of a local
// event and an equal received one emitted at the same moment, one is sent.
// Nothing is forgotten on a lag except what the lag skipped, so no received
// event is sent back whatever the lag.
type guard[E any] struct {
	bus *fxbus.Bus
	cap int // the bus capacity

	// mu serialises the emits of received events of E, and guards outs
	// and the pending queue of every forwarder in outs.
	mu   sync.Mutex
	outs []*forwarder[E]
}

// receivedEvent is a received event queued for an outbound route.
type receivedEvent struct {
	lo, hi uint64 // its position in the ring: lo <= position <= hi
	data   []byte // its encoding by the route's codec
}

// busShared is what the Conns on one bus share: the origins of all of them,
// so that no Conn emits what any of them published, and one guard per
// event type, so that no Conn forwards what any of them received. Two
// Conns on one bus that bridge a type on overlapping subjects would
// otherwise pass each event to each other for ever.
type busShared struct {
	// origins are the origins of the open Conns on the bus; replaced
	// whole under buses.mu, read without a lock for every message.
	origins atomic.Pointer[[]string]

	conns  int                  // open Conns on the bus; guarded by buses.mu
	guards map[reflect.Type]any // reflect.Type of E -> *guard[E]; guarded by buses.mu
}

// buses holds the busShared of every bus with an open Conn.
var buses struct {
	mu sync.Mutex // guards m and the busShared fields it says
	m  map[*fxbus.Bus]*busShared
}

// joinBus adds c's origin to its bus's shared state and returns it.
func joinBus(c *Conn) *busShared {
	buses.mu.Lock()
	defer buses.mu.Unlock()
	sh := buses.m[c.bus]
	if sh == nil {
		if buses.m == nil {
			buses.m = make(map[*fxbus.Bus]*busShared)
		}
		sh = &busShared{guards: make(map[reflect.Type]any)}
		sh.origins.Store(&[]string{})
		buses.m[c.bus] = sh
	}
	sh.conns++
	origins := append(slices.Clone(*sh.origins.Load()), c.origin)
	sh.origins.Store(&origins)
	return sh
}

// leaveBus undoes joinBus, when c is closed; the last Conn to leave drops
// the shared state.
func leaveBus(c *Conn) {
	buses.mu.Lock()
	defer buses.mu.Unlock()
	sh := buses.m[c.bus]
	if sh == nil {
		return
	}
	if sh.conns--; sh.conns == 0 {
		delete(buses.m, c.bus)
	}
	origins := slices.DeleteFunc(slices.Clone(*sh.origins.Load()), func(o string) bool { return o == c.origin })
	sh.origins.Store(&origins)
}

// published reports whether a Conn on the bus published a message of
// this origin.
func (sh *busShared) published(origin string) bool {
	return origin != "" && slices.Contains(*sh.origins.Load(), origin)
}

// guardOf returns the guard of E on c's bus.
func guardOf[E any](c *Conn) *guard[E] {
	buses.mu.Lock()
	defer buses.mu.Unlock()
	t := reflect.TypeFor[E]()
	sh := c.shared.Load()
	g, ok := sh.guards[t]
	if !ok {
		g = &guard[E]{bus: c.bus, cap: c.bus.Capacity()}
		sh.guards[t] = g
	}
	return g.(*guard[E])
}

// emitted returns how many events of E the bus has written to its ring:
// the position of the next one.
func (g *guard[E]) emitted() uint64 { return fxbus.StatsOf[E](g.bus).Emitted }

// subscribe subscribes f to E on the bus, learns the position of its first
// event, and adds f to the outbound routes of E. No received event can be
// emitted meanwhile, so f sees every received event after its first
// position and the guard queues each of them for it.
func (g *guard[E]) subscribe(f *forwarder[E]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	before := g.emitted()
	f.sub = fxbus.Subscribe[E](g.bus)
	after := g.emitted()
	f.guard = g
	f.next, f.slack = before, after-before
	f.locate()
	f.floor.Store(f.next)
	f.ceil.Store(f.next + f.slack)
	g.outs = append(g.outs, f)
}

// remove takes f out of the outbound routes of E.
func (g *guard[E]) remove(f *forwarder[E]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.outs, f); i >= 0 {
		g.outs = slices.Delete(g.outs, i, i+1)
	}
	f.pending = nil
	f.npending.Store(0)
}

// emit emits a received event on the bus, queueing it to be skipped by
// every outbound route of E.
func (g *guard[E]) emit(ev E) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.outs) == 0 {
		fxbus.Emit(g.bus, ev)
		return
	}
	// Queued before the emit, so that a route that reads the event finds
	// it queued (the lock-free check in skip reads npending); the range is
	// completed before the lock is released, which skip waits for.
	lo := g.emitted()
	for _, f := range g.outs {
		f.queued = false
		data, err := f.codec.Encode(ev)
		if err != nil {
			continue // the route will fail to encode it too, and count it
		}
		f.pending = append(f.pending, receivedEvent{lo: lo, hi: math.MaxUint64, data: data})
		f.npending.Store(int64(len(f.pending)))
		f.queued = true
	}
	n := fxbus.Emit(g.bus, ev)
	next := g.emitted()
	for _, f := range g.outs {
		if !f.queued {
			continue
		}
		last := len(f.pending) - 1
		if n == 0 || next == lo {
			// Not written (the bus is closed): nothing to skip.
			f.pending[last] = receivedEvent{}
			f.pending = f.pending[:last]
			f.npending.Store(int64(last))
			continue
		}
		f.pending[last].hi = next - 1
		if next > uint64(g.cap) {
			g.forget(f, next-uint64(g.cap))
		}
	}
}

// forget drops the received events queued for f that f will never look
// up, so that a stalled route's queue stays within the bus capacity (plus
// the events of f's window). oldest is the oldest position the ring still
// holds. With guard.mu held.
//
// f publishes floor and ceil before each read: it is done with every
// position before floor, and the event it reads next, or is handling, is
// at a position in [floor, ceil]. So an event whose range ends before
// floor is done with; one whose range begins after ceil and ends before
// oldest has been overwritten, and no later read can return it. Whatever
// values of floor and ceil this sees, old or new, both hold.
func (g *guard[E]) forget(f *forwarder[E], oldest uint64) {
	floor, ceil := f.floor.Load(), f.ceil.Load()
	p := f.pending
	for len(p) > 0 && p[0].hi < floor {
		p[0] = receivedEvent{}
		p = p[1:]
	}
	i := 0
	for i < len(p) && p[i].lo <= ceil {
		i++
	}
	j := i
	for j < len(p) && p[j].hi < oldest {
		j++
	}
	if j > i {
		n := copy(p[i:], p[j:])
		clear(p[i+n:])
		p = p[:i+n]
	}
	f.pending = p
	f.npending.Store(int64(len(p)))
}

// skip reports whether the event f read, whose position lies in [lo, hi]
// and whose encoding is data, is a received one; if so it is dequeued.
// Received events queued for positions before lo are forgotten: f missed
// them.
func (g *guard[E]) skip(f *forwarder[E], lo, hi uint64, data []byte) bool {
	if f.npending.Load() == 0 {
		return false // nothing received since the last check: no lock
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := f.pending
	for len(p) > 0 && p[0].hi < lo {
		p[0] = receivedEvent{}
		p = p[1:]
	}
	found := false
	for i := 0; i < len(p) && p[i].lo <= hi; i++ {
		exact := lo == hi && p[i].lo == p[i].hi // then both are the same position
		if exact || bytes.Equal(p[i].data, data) {
			copy(p[i:], p[i+1:])
			p[len(p)-1] = receivedEvent{}
			p = p[:len(p)-1]
			found = true
			break
		}
	}
	f.pending = p
	f.npending.Store(int64(len(p)))
	return found
}
