package natsbridge

import (
	"bytes"
	"reflect"
	"sync"

	"github.com/claviron/fxruntime/fxbus"
)

// A guard keeps a Conn from forwarding the events it received: without
// it, two processes that bridge a type both ways would send each event
// back and forth for ever.
//
// The bus carries values without any mark of where they came from, so the
// guard recognises a received event by its encoding. Before an inbound
// route emits an event, the guard encodes it with the codec of each
// outbound route of the same type and queues the bytes for that route;
// when the route's goroutine reads an event whose encoding equals the head
// of its queue, it pops the head and skips the event. The bus delivers in
// emit order, and the guard's lock makes "queue then emit" one step for
// every inbound route of the type, so the head is always the next received
// event the outbound route will read. Two consequences, documented in the
// package documentation: a local event equal to a received one, emitted
// just before it, is the one skipped (the same bytes are sent once either
// way); and after a lag the queue is cleared, so a received event may be
// sent back once.
type guard[E any] struct {
	mu   sync.Mutex      // guards outs and every forwarder's pending queue
	outs []*forwarder[E] // the outbound routes of E
	cap  int             // the bus capacity: the most a queue can need
}

// guardOf returns c's guard for E, with c.mu held.
func guardOf[E any](c *Conn) *guard[E] {
	t := reflect.TypeFor[E]()
	if g, ok := c.guards[t]; ok {
		return g.(*guard[E])
	}
	g := &guard[E]{cap: c.bus.Capacity()}
	c.guards[t] = g
	return g
}

func (g *guard[E]) add(f *forwarder[E]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.outs = append(g.outs, f)
}

// emit emits a received event on the bus, telling every outbound route of
// E to skip it.
func (g *guard[E]) emit(b *fxbus.Bus, ev E) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.outs) == 0 {
		fxbus.Emit(b, ev)
		return
	}
	for _, f := range g.outs {
		data, err := f.codec.Encode(ev)
		if err != nil {
			continue // the route will fail to encode it too, and count it
		}
		if len(f.pending) == g.cap {
			f.pending = f.pending[1:]
		}
		f.pending = append(f.pending, data)
		f.npending.Store(int64(len(f.pending)))
	}
	if fxbus.Emit(b, ev) == 0 {
		// Nobody got it (the bus is closed): nothing to skip.
		for _, f := range g.outs {
			if n := len(f.pending); n > 0 {
				f.pending = f.pending[:n-1]
				f.npending.Store(int64(n - 1))
			}
		}
	}
}

// received reports whether data is the encoding of the next event f must
// skip, and if so forgets it.
func (g *guard[E]) received(f *forwarder[E], data []byte) bool {
	if f.npending.Load() == 0 {
		return false // nothing received since: no lock on the hot path
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(f.pending) == 0 || !bytes.Equal(f.pending[0], data) {
		return false
	}
	f.pending[0] = nil
	f.pending = f.pending[1:]
	f.npending.Store(int64(len(f.pending)))
	return true
}

// lagged forgets what f was to skip: some of it may be among the events
// f missed, and a stale head would make f skip nothing ever again.
func (g *guard[E]) lagged(f *forwarder[E]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.pending = nil
	f.npending.Store(0)
}
