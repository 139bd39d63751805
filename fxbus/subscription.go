package fxbus

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"
)

// Subscription receives the events of one type from a [Bus]. Create it with
// [Subscribe] and close it with [Subscription.Close] when done.
//
// One goroutine at a time may receive from a subscription: call Recv,
// RecvMany, TryRecv, TryRecvMany, All and Ready from that goroutine (Ready
// shares the reader's wake-up). Close and Len may be called from any
// goroutine.
type Subscription[E any] struct {
	t *topic[E] // nil for a subscription made on a closed bus without a ring

	// ch wakes the reader: a token in a channel of capacity one. It is
	// made the first time the subscriber parks or asks for Ready, not at
	// Subscribe, so that a subscription that is only polled, or closed
	// before it ever waits, costs one allocation instead of two. It goes
	// from nil to its channel once, under the topic's mu, and never
	// changes again; code that reads it holds mu, or found s in
	// topic.waiters (filled under mu), or is the reader that made it.
	ch chan struct{}

	// Guarded by the topic's mu.
	next uint64 // position of the next event to read
	idx  uint64 // next % capacity

	// closing is set first thing by Close, so that a receive racing with
	// it returns ErrClosed without taking the topic's lock.
	closing atomic.Bool

	// Guarded by the topic's mu. The fields are ordered so that the
	// struct fits the allocator's 48-byte size class.
	released bool  // Close has given up the subscription's claims
	parked   bool  // listed in topic.waiters
	waitIdx  int32 // index in topic.waiters while parked
}

// arm makes the wake-up channel if it does not exist yet. Called with the
// topic's mu held.
func (s *Subscription[E]) arm() {
	if s.ch == nil {
		s.ch = make(chan struct{}, 1)
	}
}

// closedChan is a closed channel, returned by Ready of closed subscriptions
// so that a select on it fires at once. It is never written.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func closedSubscription[E any]() *Subscription[E] {
	s := &Subscription[E]{released: true}
	s.closing.Store(true)
	return s
}

// Recv returns the next event, blocking until one is emitted, the bus is
// closed, or ctx is done.
//
// It returns a [*LaggedError] if the subscriber fell more than the bus
// capacity behind (the next call returns the oldest event retained),
// [ErrClosed] once the subscription or the bus is closed and every event
// buffered for it has been read, and ctx.Err() if ctx is done first, in
// which case nothing is consumed. ctx must not be nil.
func (s *Subscription[E]) Recv(ctx context.Context) (E, error) {
	done := ctx.Done() // nil for a context that is never done
	for {
		if done != nil {
			if err := ctx.Err(); err != nil {
				var zero E
				return zero, err
			}
		}
		v, err := s.receive(true)
		if err != ErrEmpty {
			return v, err
		}
		s.park(done)
	}
}

// park waits for the wake-up armed by a receive that found nothing, or for
// done. A nil done (a context that is never done) waits on the wake-up
// alone, which is quicker than a two-case select.
func (s *Subscription[E]) park(done <-chan struct{}) {
	if done == nil {
		<-s.ch
		return
	}
	select {
	case <-s.ch:
	case <-done:
	}
}

// TryRecv returns the next event if one is waiting, and [ErrEmpty]
// otherwise. Its other errors are those of [Subscription.Recv]. It never
// blocks and, when it returns an event, never allocates.
func (s *Subscription[E]) TryRecv() (E, error) {
	return s.receive(false)
}

func (s *Subscription[E]) receive(park bool) (E, error) {
	if s.closing.Load() {
		var zero E
		return zero, ErrClosed
	}
	return s.t.recv(s, park)
}

// TryRecvMany moves the events waiting for the subscriber into dst, as
// many as fit, and returns how many; it never blocks. It is a series of
// [Subscription.TryRecv] calls made under one acquisition of the ring's
// lock, which costs much less per event when a reader falls behind and
// many events wait. With no event to return, it returns 0 and the error
// TryRecv would have ([ErrEmpty], a [*LaggedError], [ErrClosed]); with at
// least one, the error is nil and a lag or close after them is reported by
// the next call. A dst of length 0 returns 0, nil.
func (s *Subscription[E]) TryRecvMany(dst []E) (int, error) {
	if s.closing.Load() {
		return 0, ErrClosed
	}
	return s.t.recvMany(s, dst, false)
}

// RecvMany is [Subscription.TryRecvMany] that blocks, as
// [Subscription.Recv] does, until it can return at least one event or an
// error. dst must not be empty.
func (s *Subscription[E]) RecvMany(ctx context.Context, dst []E) (int, error) {
	if len(dst) == 0 {
		return 0, errors.New("fxbus: RecvMany: dst is empty; want room for at least one event")
	}
	done := ctx.Done()
	for {
		if done != nil {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		if s.closing.Load() {
			return 0, ErrClosed
		}
		n, err := s.t.recvMany(s, dst, true)
		if err != ErrEmpty {
			return n, err
		}
		s.park(done)
	}
}

// Ready returns a channel that fires when a receive may return something
// other than [ErrEmpty]: an event, a lag report, or the close of the
// subscription or the bus. It lets a goroutine wait for events in a select
// next to other channels:
//
//	for {
//		select {
//		case <-sub.Ready():
//			for {
//				ev, err := sub.TryRecv()
//				if err != nil { ... break on ErrEmpty, stop on ErrClosed ... }
//				handle(ev)
//			}
//		case <-other:
//		}
//	}
//
// Ready belongs to the subscription's one reader: it arms the same
// wake-up that Recv waits on, so a Ready waited on by another goroutine
// can take the wake-up of a Recv. Call Ready again before each select:
// each call arms one wake-up. The
// channel may fire when nothing is left (another receive took it), so
// treat a wake-up as "try now", not as a promise. Once the subscription
// is closed, Ready returns a closed channel, so a select on it always
// fires and the receive that follows returns [ErrClosed].
func (s *Subscription[E]) Ready() <-chan struct{} {
	if s.closing.Load() {
		return closedChan
	}
	if s.t.ready(s) {
		notify(s.ch)
	}
	return s.ch
}

// All returns an iterator over the subscription's events, for use with
// range:
//
//	for ev, err := range sub.All(ctx) {
//		if err != nil { // a *LaggedError: some events were missed
//			log.Print(err)
//			continue
//		}
//		handle(ev)
//	}
//
// err is non-nil only for a [*LaggedError]. The loop ends when the
// subscription or the bus is closed (after the buffered events) or when
// ctx is done; check ctx.Err() afterwards to tell which.
func (s *Subscription[E]) All(ctx context.Context) iter.Seq2[E, error] {
	return func(yield func(E, error) bool) {
		for {
			v, err := s.Recv(ctx)
			if err != nil && !errors.Is(err, ErrLagged) {
				return
			}
			if !yield(v, err) {
				return
			}
		}
	}
}

// Len returns the number of events waiting for the subscriber, lagged ones
// included: after a lag it can exceed the bus capacity.
func (s *Subscription[E]) Len() int {
	if s.closing.Load() {
		return 0
	}
	return s.t.pending(s)
}

// Close ends the subscription: a Recv blocked on it returns [ErrClosed],
// as does every later receive; it stops counting in [SubscriberCount] and in
// [Emit]'s result; and the events it had not read are released. Close is
// idempotent and safe to call from any goroutine.
func (s *Subscription[E]) Close() {
	if s.closing.Swap(true) {
		return
	}
	s.t.release(s) // also wakes a Recv parked on s
}
