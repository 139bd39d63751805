package fxbus

import (
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	// DefaultCapacity is the number of events retained per event type when
	// no capacity is configured.
	DefaultCapacity = 64

	// MaxCapacity is the largest capacity [WithCapacity] accepts. A ring is
	// allocated whole when its type gets its first subscriber, so the bound
	// keeps a typo from reserving gigabytes.
	MaxCapacity = 1 << 20
)

// Bus is a process-local, typed publish/subscribe bus: one bounded
// broadcast ring per event type, created by the first [Subscribe] of that
// type. See the package documentation for the model.
//
// A Bus must be created with [New]; every method is safe for concurrent
// use. The zero value is not usable, and of the functions that take a bus
// only [Emit] accepts a nil one.
type Bus struct {
	capacity int
	log      *zap.Logger
	// quiet is set when log discards everything (zap.NewNop), so that Emit
	// skips even asking the core whether debug is enabled.
	quiet bool

	// topics holds the ring of each event type that has one. It is
	// replaced, never mutated, under mu; Emit reads it with one atomic load
	// and no lock.
	topics atomic.Pointer[registry]

	mu     sync.Mutex // serialises topic creation and Close
	closed bool       // guarded by mu

	phases phases
}

// topicHandle is what the registry holds: a *topic[E] seen without its type.
type topicHandle interface {
	close()
	stats() Stats
}

// New returns an empty bus. It fails only on invalid options, with an
// error that names each option and the value given.
func New(opts ...Option) (*Bus, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	b := &Bus{capacity: c.capacity, log: c.log}
	b.quiet = b.log.Core() == zapcore.NewNopCore()
	return b, nil
}

// Capacity returns the number of events the bus retains per type.
func (b *Bus) Capacity() int { return b.capacity }

// Logger returns the logger the bus was built with; never nil.
func (b *Bus) Logger() *zap.Logger { return b.log }

// TypeCount returns the number of event types that have a ring, that is,
// that were subscribed to at least once.
func (b *Bus) TypeCount() int {
	if r := b.topics.Load(); r != nil {
		return len(r.topics)
	}
	return 0
}

// Close closes the bus. Every blocked [Subscription.Recv] wakes up;
// subscribers first drain what was already buffered for them, then receive
// [ErrClosed]. Later calls to [Emit] return 0 and later subscriptions are
// closed from the start. Close is idempotent.
func (b *Bus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	// No topic can be added after this point (creation holds mu and checks
	// closed), so the snapshot below is complete.
	r := b.topics.Load()
	b.mu.Unlock()
	if r == nil {
		return
	}
	for _, t := range r.topics {
		t.close()
	}
}

// Stats returns one [Stats] per event type with a ring, sorted by type name.
func (b *Bus) Stats() []Stats {
	r := b.topics.Load()
	if r == nil {
		return nil
	}
	out := make([]Stats, 0, len(r.topics))
	for _, t := range r.topics {
		out = append(out, t.stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// typeName names t uniquely: the import path of each named type in it,
// the shape of the rest as reflect prints it.
func typeName(t reflect.Type) string {
	if t.Name() != "" {
		if t.PkgPath() == "" {
			return t.Name() // predeclared: int, error
		}
		return t.PkgPath() + "." + t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + typeName(t.Elem())
	case reflect.Slice:
		return "[]" + typeName(t.Elem())
	case reflect.Array:
		return "[" + strconv.Itoa(t.Len()) + "]" + typeName(t.Elem())
	case reflect.Map:
		return "map[" + typeName(t.Key()) + "]" + typeName(t.Elem())
	case reflect.Chan:
		switch t.ChanDir() {
		case reflect.RecvDir:
			return "<-chan " + typeName(t.Elem())
		case reflect.SendDir:
			return "chan<- " + typeName(t.Elem())
		}
		return "chan " + typeName(t.Elem())
	}
	return t.String() // unnamed structs, funcs, interfaces: their fields name themselves
}

// Stats are the counters of one event type, for logs and metrics. Every
// event emitted while the type had live subscribers is, for each of them,
// either delivered, counted in Missed when reported, or released when the
// subscriber closes.
type Stats struct {
	// Type names the event type by the full import path of each named type
	// in it, so that types of two packages with the same name differ (two
	// types declared inside functions of one package may still share it):
	// "github.com/acme/shop/orders.Placed", "[]*example.com/x.Event",
	// "int". Metrics use it as their type attribute.
	Type string
	// Name is the short name that reflect.Type.String gives ("orders.Placed"),
	// for people: two packages may share it.
	Name string
	// Backlog is how many events the slowest live subscriber has yet to
	// read, at most the capacity (a subscriber that falls further behind
	// lags). It is read when Stats is called, from the ring itself.
	Backlog uint64
	// Emitted counts the events written to the ring: emits that found at
	// least one live subscriber.
	Emitted uint64
	// Dropped counts emits that found the ring, open, but no live
	// subscriber.
	// Emits of a type nobody ever subscribed to have no ring to count them
	// on; Emit's result of 0 is the only trace of those.
	Dropped uint64
	// Missed is the sum of every [LaggedError.Missed] reported to the
	// subscribers of this type.
	Missed uint64
	// Subscribers is the number of live subscriptions.
	Subscribers int
}

// StatsOf returns the counters of event type E. A type without a ring
// returns zero counters.
func StatsOf[E any](b *Bus) Stats {
	if t := lookup[E](b); t != nil {
		return t.stats()
	}
	return Stats{Type: typeName(reflect.TypeFor[E]()), Name: reflect.TypeFor[E]().String()}
}

// Emit queues event for every live subscriber of type E and returns how
// many that is. It never blocks and never allocates: with no ring for E or
// no live subscriber it does nothing and returns 0, and after [Bus.Close] it
// returns 0. Writing the event costs the same whatever the number of
// subscribers; only waking subscribers parked in [Subscription.Recv] grows
// with their number. A nil bus emits nothing.
//
// The event is copied into the ring and retained until every subscriber
// that was live when it was emitted has received it, closed, or been
// overtaken by newer events.
func Emit[E any](b *Bus, event E) int {
	if b == nil {
		return 0
	}
	n := 0
	if r := b.topics.Load(); r != nil { // lookup, by hand: this is the hot path
		if t := r.find(typeID[E]()); t != nil {
			n = t.(*topic[E]).send(event)
		}
	}
	if !b.quiet && b.log.Core().Enabled(zapcore.DebugLevel) {
		b.logEmit(reflect.TypeFor[E](), n)
	}
	return n
}

// logEmit is out of line so that Emit stays small when debug is off.
func (b *Bus) logEmit(typ reflect.Type, n int) {
	b.log.Debug("fxbus: emit", zap.Stringer("type", typ), zap.Int("subscribers", n))
}

// Subscribe returns a new subscription to events of type E, creating the
// type's ring if it is the first. The subscription sees every E emitted
// after Subscribe returns, in emit order, and nothing emitted before. Close
// it when done, or the ring keeps counting it and retaining events for it.
//
// Subscribing to a closed bus returns a subscription that is already
// closed: its receives return [ErrClosed].
//
// A subscription takes 48 bytes. The first time it waits (in Recv,
// RecvMany or for Ready) it also makes its wake-up channel, 96 bytes, and
// keeps it until it is collected.
func Subscribe[E any](b *Bus) *Subscription[E] {
	t := lookup[E](b)
	if t == nil {
		if t = create[E](b); t == nil {
			return closedSubscription[E]()
		}
	}
	return t.subscribe()
}

// SubscriberCount returns the number of live subscriptions to type E.
func SubscriberCount[E any](b *Bus) int {
	if t := lookup[E](b); t != nil {
		return int(t.receivers.Load())
	}
	return 0
}

// lookup returns the ring of E, or nil if E has none. Lock-free.
func lookup[E any](b *Bus) *topic[E] {
	r := b.topics.Load()
	if r == nil {
		return nil
	}
	if t := r.find(typeID[E]()); t != nil {
		return t.(*topic[E])
	}
	return nil
}

// create returns the ring of E, making it if none exists yet, or nil if
// the bus is closed.
func create[E any](b *Bus) *topic[E] {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := typeID[E]()
	r := b.topics.Load()
	if r == nil {
		r = &registry{}
	}
	if t := r.find(id); t != nil {
		return t.(*topic[E]) // another goroutine won the race
	}
	if b.closed {
		return nil
	}
	t := newTopic[E](reflect.TypeFor[E](), b.capacity)
	b.topics.Store(r.with(id, t))
	return t
}
