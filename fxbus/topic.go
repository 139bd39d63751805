package fxbus

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// topic is the broadcast ring of one event type, after tokio's
// sync::broadcast.
//
// Events are written at increasing positions; the event at position p lives
// in ring[p % capacity] until position p+capacity overwrites it. Each
// subscriber keeps the position it reads next. A subscriber whose next
// position has been overwritten has lagged: it is told how many events it
// missed and moves to the oldest one retained.
//
// One mutex per topic guards the ring, the tail and the read position of
// every subscription of the topic. Each send and each receive holds it for
// a copy of one event and a few counter updates; a design with a lock per
// slot (as tokio has) measured slower here for every workload, because
// uncontended lock operations dominate a hand-off this small.
type topic[E any] struct {
	name     string // typeName of E: unique among the types of a program
	short    string // reflect.Type.String of E, for people
	capacity uint64

	mu     sync.Mutex
	ring   []slot[E] // guarded by mu
	pos    uint64    // guarded by mu: position of the next event; also the count written
	idx    uint64    // guarded by mu: pos % capacity, kept to avoid a division per send
	closed bool      // guarded by mu
	// waiters are the subscribers parked until the next send or close;
	// each knows its index (Subscription.waitIdx), so that a close takes
	// it out in constant time however many are parked. Guarded by mu.
	waiters []*Subscription[E]
	// spare is an empty list that send swaps in for waiters when it
	// wakes many subscribers outside the lock, so that parking does not
	// allocate; nil while send is using it. Guarded by mu.
	spare []*Subscription[E]

	// receivers is the number of live subscriptions. It changes only under
	// mu; send reads it without mu to skip the lock when nobody listens.
	receivers atomic.Int64
	isClosed  atomic.Bool   // mirrors closed, for the same lock-free check
	dropped   atomic.Uint64 // sends that found no live subscriber
	missed    atomic.Uint64 // sum of the Missed counts reported to laggers
}

// slot holds one event of the ring. All fields are guarded by topic.mu.
type slot[E any] struct {
	// pos is the position of the event held. Before the first write,
	// slot i holds position i-capacity (mod 2^64), which reads as "the
	// previous lap": empty.
	pos uint64
	// rem counts the subscribers that have yet to read this event. The
	// reader that brings it to zero clears val, so the bus keeps no
	// reference to an event everyone has read.
	rem int64
	val E
}

// notify puts a wake-up token in ch, a channel of capacity one, so that a
// wake-up is never lost and never blocks the sender.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a token is already waiting
	}
}

func newTopic[E any](typ reflect.Type, capacity int) *topic[E] {
	t := &topic[E]{
		name:     typeName(typ),
		short:    typ.String(),
		capacity: uint64(capacity),
		ring:     make([]slot[E], capacity),
	}
	for i := range t.ring {
		t.ring[i].pos = uint64(i) - t.capacity
	}
	return t
}

// send writes ev at the tail and returns the number of subscribers it was
// queued for. Its cost does not depend on that number, except for waking
// the subscribers parked in Recv.
func (t *topic[E]) send(ev E) int {
	if t.receivers.Load() == 0 {
		if !t.isClosed.Load() {
			t.dropped.Add(1)
		}
		return 0
	}
	t.mu.Lock()
	n := t.receivers.Load()
	if t.closed || n == 0 {
		t.mu.Unlock()
		if n == 0 {
			t.dropped.Add(1)
		}
		return 0
	}
	s := &t.ring[t.idx]
	s.pos = t.pos
	s.rem = n
	s.val = ev
	t.pos++
	if t.idx++; t.idx == t.capacity {
		t.idx = 0
	}
	// Wake parked subscribers after unlocking (a token in a buffered
	// channel needs no lock), so that they do not wake into a held lock
	// and queue on it: a few are copied to the stack; a longer list is
	// taken whole, and given back as the spare afterwards.
	var wake [4]chan struct{}
	switch nw := len(t.waiters); {
	case nw == 0:
		t.mu.Unlock()
	case nw <= len(wake):
		for i, w := range t.waiters {
			wake[i] = w.ch
			w.parked = false
			t.waiters[i] = nil
		}
		t.waiters = t.waiters[:0]
		t.mu.Unlock()
		for _, ch := range wake[:nw] {
			notify(ch)
		}
	default:
		woken := t.takeWaitersLocked()
		t.mu.Unlock()
		wakeAll(woken)
		t.mu.Lock()
		if t.spare == nil {
			t.spare = woken[:0]
		}
		t.mu.Unlock()
	}
	return int(n)
}

// takeWaitersLocked empties the list of parked subscribers and returns
// what it held, to be woken after unlocking. Called with mu held.
func (t *topic[E]) takeWaitersLocked() []*Subscription[E] {
	woken := t.waiters
	for _, w := range woken {
		w.parked = false
	}
	t.waiters, t.spare = t.spare, nil // nil if another send holds the spare
	return woken
}

// wakeAll wakes the subscribers taken by takeWaitersLocked and clears the
// list, so that it keeps no closed subscription alive. Called without mu:
// the list is no longer reachable from the topic, and a subscriber's
// channel never changes once made.
func wakeAll[E any](woken []*Subscription[E]) {
	for i, w := range woken {
		notify(w.ch)
		woken[i] = nil
	}
}

// subscribe returns a new subscription that reads from the tail. It makes
// one allocation: the Subscription, whose wake-up channel is made on its
// first park.
func (t *topic[E]) subscribe() *Subscription[E] {
	s := &Subscription[E]{t: t}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		s.released = true
		s.closing.Store(true)
		return s
	}
	s.next, s.idx = t.pos, t.idx
	t.receivers.Add(1)
	t.mu.Unlock()
	return s
}

// recv returns the next event for s, a *LaggedError, ErrEmpty or
// ErrClosed. With park set, an empty result also registers s to be woken by
// the next send or close.
func (t *topic[E]) recv(s *Subscription[E], park bool) (E, error) {
	var zero E
	t.mu.Lock()
	if s.released {
		t.mu.Unlock()
		return zero, ErrClosed
	}
	sl := &t.ring[s.idx]
	if sl.pos == s.next {
		v := sl.val
		if sl.rem--; sl.rem == 0 {
			sl.val = zero // the last reader lets the event go
		}
		s.next++
		if s.idx++; s.idx == t.capacity {
			s.idx = 0
		}
		t.mu.Unlock()
		return v, nil
	}
	err := t.noEventLocked(s, sl, park)
	t.mu.Unlock()
	return zero, err
}

// recvMany moves up to len(dst) waiting events of s into dst under one
// acquisition of the lock, and returns how many. It is exactly a series of
// recv calls that stops at the first one without an event: the lock keeps
// sends out meanwhile, so no lag can arise within the series. With no event
// for s, it returns 0 and what recv would have.
func (t *topic[E]) recvMany(s *Subscription[E], dst []E, park bool) (int, error) {
	var zero E
	t.mu.Lock()
	if s.released {
		t.mu.Unlock()
		return 0, ErrClosed
	}
	n := 0
	for n < len(dst) {
		sl := &t.ring[s.idx]
		if sl.pos != s.next {
			break
		}
		dst[n] = sl.val
		if sl.rem--; sl.rem == 0 {
			sl.val = zero
		}
		n++
		s.next++
		if s.idx++; s.idx == t.capacity {
			s.idx = 0
		}
	}
	if n > 0 || len(dst) == 0 {
		t.mu.Unlock()
		return n, nil
	}
	err := t.noEventLocked(s, &t.ring[s.idx], park)
	t.mu.Unlock()
	return 0, err
}

// noEventLocked is what a receive returns when the slot sl at s's position
// does not hold the event s wants: ErrEmpty (parking s if asked),
// ErrClosed, or a *LaggedError after moving s to the oldest event
// retained. Called with mu held.
func (t *topic[E]) noEventLocked(s *Subscription[E], sl *slot[E], park bool) error {
	if sl.pos+t.capacity == s.next {
		// The slot still holds the previous lap: nothing new for s.
		if t.closed {
			return ErrClosed
		}
		if park {
			t.parkLocked(s)
		}
		return ErrEmpty
	}
	// The slot holds a newer lap: s's event was overwritten. The oldest
	// event retained is one capacity behind the tail.
	oldest := t.pos - t.capacity
	missed := oldest - s.next
	s.next, s.idx = oldest, t.idx // t.idx == oldest % capacity
	t.missed.Add(missed)
	return &LaggedError{Missed: missed}
}

// parkLocked lists s to be woken by the next send or close. Called with mu
// held.
func (t *topic[E]) parkLocked(s *Subscription[E]) {
	if !s.parked {
		s.arm()
		s.parked = true
		s.waitIdx = int32(len(t.waiters))
		t.waiters = append(t.waiters, s)
	}
}

// pending returns how many positions s is behind the tail, lagged ones
// included.
func (t *topic[E]) pending(s *Subscription[E]) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.released {
		return 0
	}
	return int(t.pos - s.next)
}

// ready reports whether a receive by s would return something other than
// ErrEmpty; if not, it parks s. Either way s has its wake-up channel when
// it returns.
func (t *topic[E]) ready(s *Subscription[E]) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.arm()
	if s.released || s.next != t.pos || t.closed {
		return true
	}
	t.parkLocked(s)
	return false
}

// release removes s from the topic and gives up its claim on every event
// it has not read, clearing those it was the last reader of; then it
// wakes a Recv or a Ready select waiting on s. It is a no-op if s was
// already released.
func (t *topic[E]) release(s *Subscription[E]) {
	t.mu.Lock()
	if s.released {
		t.mu.Unlock()
		return
	}
	s.released = true
	t.receivers.Add(-1)
	ch := s.ch // nil if s never waited: nobody to wake
	if s.parked {
		// Move the last waiter into s's place.
		s.parked = false
		i, last := s.waitIdx, int32(len(t.waiters)-1)
		moved := t.waiters[last]
		t.waiters[i] = moved
		moved.waitIdx = i
		t.waiters[last] = nil
		t.waiters = t.waiters[:last]
	}
	// Only the last capacity positions can still be in the ring; a slot
	// that no longer holds position p was overwritten, and its rem does
	// not count s for p.
	from := s.next
	if t.pos-from > t.capacity {
		from = t.pos - t.capacity
	}
	// One division for the first slot, then a step per event released.
	var zero E
	i := from % t.capacity
	for p := from; p < t.pos; p++ {
		sl := &t.ring[i]
		if sl.pos == p {
			if sl.rem--; sl.rem == 0 {
				sl.val = zero
			}
		}
		if i++; i == t.capacity {
			i = 0
		}
	}
	s.next = t.pos
	t.mu.Unlock()
	if ch != nil {
		// The token is left in the channel: safe unlocked, and a reader
		// that parks or selects on Ready later still wakes and sees
		// ErrClosed.
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (t *topic[E]) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.isClosed.Store(true)
	woken := t.takeWaitersLocked()
	t.mu.Unlock()
	wakeAll(woken)
}

// backlogLocked returns how many events the slowest live subscriber has
// yet to read: the distance from the oldest retained event that some
// subscriber has not read (its slot's rem is not zero) to the tail. It
// reads at most capacity slots; Stats is not on the emit path. Callers
// hold mu.
func (t *topic[E]) backlogLocked() uint64 {
	for k := min(t.capacity, t.pos); k > 0; k-- {
		p := t.pos - k
		if sl := &t.ring[p%t.capacity]; sl.pos == p && sl.rem > 0 {
			return k
		}
	}
	return 0
}

func (t *topic[E]) stats() Stats {
	t.mu.Lock()
	emitted := t.pos
	backlog := t.backlogLocked()
	t.mu.Unlock()
	return Stats{
		Type:        t.name,
		Name:        t.short,
		Backlog:     backlog,
		Emitted:     emitted,
		Dropped:     t.dropped.Load(),
		Missed:      t.missed.Load(),
		Subscribers: int(t.receivers.Load()),
	}
}
