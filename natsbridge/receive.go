package natsbridge

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"

	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// A receiver is an inbound route: a NATS subscription whose callback
// decodes each message and emits it on the bus. The client runs the
// callback on one goroutine per subscription, so messages are emitted in
// the order they arrive.
type receiver[E any] struct {
	conn    *Conn
	subject string
	typ     string
	codec   Codec[E]
	n       counters

	// guard is the echo guard of E on the bus in the current run: set at
	// declaration and by again, read by the client's callback.
	guard atomic.Pointer[guard[E]]
	// sub is the current run's subscription: set by start.
	sub atomic.Pointer[subscription]
	// late counts the messages handled after their run had ended, so not
	// emitted; Stats reports them in Dropped. (n.dropped is the client's
	// count of its discards, which noteDropped sets, not adds to.)
	late atomic.Uint64
}

// subscription is an inbound route's subscription in one run; base is
// what the route's Dropped counted before it, in earlier runs.
type subscription struct {
	*nats.Subscription
	base uint64
}

func (r *receiver[E]) key() routeKey {
	return routeKey{dir: Inbound, subject: r.subject, typ: reflect.TypeFor[E]()}
}

func (r *receiver[E]) start(nc *nats.Conn) error {
	run := r.conn.run // c.mu is held
	s, err := nc.Subscribe(r.subject, func(m *nats.Msg) { r.handle(m, run) })
	if err != nil {
		return fmt.Errorf("natsbridge: subscribe to %q: %w", r.subject, err)
	}
	msgs, bytes := r.conn.cfg.PendingMsgs, r.conn.cfg.PendingBytes
	if msgs == 0 {
		msgs = nats.DefaultSubPendingMsgsLimit
	}
	if bytes == 0 {
		bytes = nats.DefaultSubPendingBytesLimit
	}
	if err := s.SetPendingLimits(msgs, bytes); err != nil {
		_ = s.Unsubscribe()
		return fmt.Errorf("natsbridge: pending limits of %q: %w", r.subject, err)
	}
	r.sub.Store(&subscription{Subscription: s, base: r.n.dropped.Load()})
	return nil
}

func (r *receiver[E]) running() <-chan struct{} { return nil }

// again takes the new run's echo guard; start subscribes to the subject
// on the new run's connection.
func (r *receiver[E]) again() { r.guard.Store(guardOf[E](r.conn)) }

// stop does nothing: draining the connection unsubscribes, after the
// messages already delivered have been handled.
func (r *receiver[E]) stop(context.Context) error { return nil }

// handle decodes m and emits it on the bus, if run, the run in which the
// subscription was made, has not ended.
func (r *receiver[E]) handle(m *nats.Msg, run *runhooks.Gate) {
	if h := r.conn.onHandle; h != nil {
		h(m)
	}
	// The client discards messages only while messages wait for this
	// callback, so a call follows the last discard, and reading the count
	// here makes it final once the subscription is drained: the client
	// forgets it when the subscription closes.
	r.noteDropped(m.Sub)
	if r.conn.shared.Load().published(m.Header.Get(HeaderOrigin)) {
		r.n.echoes.Add(1)
		return
	}
	ev, err := r.codec.Decode(m.Data)
	if err != nil {
		r.n.decodeFailures.Add(1)
		r.conn.log.Error("natsbridge: cannot decode a message; skipped",
			zap.String("subject", m.Subject), zap.String("type", r.typ),
			zap.String("origin", m.Header.Get(HeaderOrigin)), zap.Int("bytes", len(m.Data)),
			zap.Error(err))
		return
	}
	if !run.Enter() {
		r.late.Add(1)
		r.conn.log.Warn("natsbridge: a message arrived in a run that has ended; dropped, not emitted into the next run",
			zap.String("subject", m.Subject), zap.String("type", r.typ))
		return
	}
	// Counted first, so that whoever gets the event sees it counted.
	r.n.received.Add(1)
	r.guard.Load().emit(ev)
	run.Leave()
}

// noteDropped records the client's count of the messages it discarded for
// sub, if sub is the current run's subscription and still open, on top of
// what earlier runs counted. The count only grows; a stale read never
// lowers it.
func (r *receiver[E]) noteDropped(sub *nats.Subscription) {
	cur := r.sub.Load()
	if sub == nil || cur == nil || cur.Subscription != sub {
		return
	}
	d, err := sub.Dropped()
	if err != nil || d <= 0 {
		return
	}
	total := cur.base + uint64(d)
	for {
		old := r.n.dropped.Load()
		if total <= old || r.n.dropped.CompareAndSwap(old, total) {
			return
		}
	}
}

// current returns the current run's subscription, or nil.
func (r *receiver[E]) current() *nats.Subscription {
	if cur := r.sub.Load(); cur != nil {
		return cur.Subscription
	}
	return nil
}

// abandon is called when Close gives up draining: it records the drops and
// returns how many messages the client still holds for the route, which
// the close discards.
func (r *receiver[E]) abandon() int {
	s := r.current()
	r.noteDropped(s)
	if s == nil {
		return 0
	}
	n, _, _ := s.Pending()
	return max(n, 0)
}

func (r *receiver[E]) stats() Stats {
	r.noteDropped(r.current())
	s := r.n.snapshot(Inbound, r.subject, r.typ)
	s.Dropped += r.late.Load()
	return s
}
