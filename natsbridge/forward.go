package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// A forwarder is an outbound route: a bus subscription read by one
// goroutine that encodes and publishes each event.
type forwarder[E any] struct {
	conn    *Conn
	subject string
	typ     string
	codec   Codec[E]
	sub     *fxbus.Subscription[E]
	guard   *guard[E]
	n       counters

	// pending holds the received events to skip, oldest first; guarded
	// by guard.mu, as is queued. npending is its length, readable without
	// the lock.
	pending  []receivedEvent
	npending atomic.Int64
	queued   bool // guard.emit queued the event it emits for this route

	// Set by start, with conn.mu held; read by stop, which Close calls
	// after taking and releasing conn.mu. Cleared by again, for a new run,
	// once done is closed.
	quit chan struct{} // closed by stop: forward what is waiting, then return
	done chan struct{} // closed by the goroutine when it returns

	// The position in the bus's ring of E of the next event the route
	// reads lies in [next, next+slack]; slack is 0 once known (see guard).
	// Set by guard.subscribe, then owned by the goroutine.
	next, slack uint64
	// floor and ceil are next and next+slack as of the last read, for
	// guard.forget: written by the goroutine before each read.
	floor, ceil atomic.Uint64

	// Owned by the goroutine.
	nc      *nats.Conn
	msg     nats.Msg // reused: PublishMsg does not keep it
	lastLog string   // the last drop logged, to log once per outage and cause
}

func (f *forwarder[E]) key() routeKey {
	return routeKey{dir: Outbound, subject: f.subject, typ: reflect.TypeFor[E]()}
}

func (f *forwarder[E]) start(nc *nats.Conn) error {
	f.nc = nc
	f.msg = nats.Msg{Subject: f.subject, Header: nats.Header{HeaderOrigin: {f.conn.origin}}}
	f.quit = make(chan struct{})
	f.done = make(chan struct{})
	go f.run()
	return nil
}

func (f *forwarder[E]) running() <-chan struct{} { return f.done }

// again subscribes to the bus again: the previous run's Close closed the
// subscription (and, under fxbus.Module, the bus its ring). The guard is
// the new run's: the Conns of the bus left the old one at Close.
func (f *forwarder[E]) again() {
	f.quit, f.done = nil, nil
	f.nc, f.lastLog = nil, ""
	guardOf[E](f.conn).subscribe(f)
}

func (f *forwarder[E]) stop(ctx context.Context) error {
	defer f.sub.Close()
	if f.done == nil {
		f.guard.remove(f) // never started
		return nil
	}
	close(f.quit)
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		// Closing the subscription (deferred) ends the goroutine's drain.
		return fmt.Errorf("natsbridge: forwarding %s to %q did not finish before the stop deadline: %w",
			f.typ, f.subject, ctx.Err())
	}
}

func (f *forwarder[E]) run() {
	defer close(f.done)
	// The goroutine leaves the guard itself, even when stop gave up
	// waiting: an event it is still handling must find its queue.
	defer f.guard.remove(f)
	for {
		select {
		case <-f.sub.Ready():
			if !f.drain() {
				return
			}
		case <-f.quit:
			f.drain()
			return
		}
	}
}

// locate learns the exact position of the route's next event, if nothing
// is emitted meanwhile: the number of events written to the ring less the
// number waiting for the route. Only the reader of f.sub may call it,
// between two reads.
func (f *forwarder[E]) locate() {
	for range 3 {
		before := f.guard.emitted()
		waiting := f.sub.Len()
		if f.guard.emitted() == before {
			f.next, f.slack = before-uint64(waiting), 0
			return
		}
	}
}

// drain forwards every event waiting and reports whether more may come.
func (f *forwarder[E]) drain() bool {
	if f.slack > 0 {
		f.locate()
	}
	for {
		f.floor.Store(f.next)
		f.ceil.Store(f.next + f.slack)
		ev, err := f.sub.TryRecv()
		switch {
		case err == nil:
			pos := f.next
			f.next++
			f.forward(ev, pos, pos+f.slack)
		case errors.Is(err, fxbus.ErrEmpty):
			return true
		case errors.Is(err, fxbus.ErrLagged):
			var lag *fxbus.LaggedError
			errors.As(err, &lag)
			f.next += lag.Missed
			f.n.missed.Add(lag.Missed)
			f.conn.log.Warn("natsbridge: forwarder lagged behind the bus and missed events",
				zap.String("subject", f.subject), zap.String("type", f.typ), zap.Uint64("missed", lag.Missed))
		default: // ErrClosed
			return false
		}
	}
}

// forward publishes ev, read at a position in [lo, hi], unless it is a
// received event.
func (f *forwarder[E]) forward(ev E, lo, hi uint64) {
	data, err := f.codec.Encode(ev)
	if err != nil {
		f.n.encodeFailures.Add(1)
		f.conn.log.Error("natsbridge: cannot encode an event; not forwarded",
			zap.String("subject", f.subject), zap.String("type", f.typ), zap.Error(err))
		return
	}
	if f.guard.skip(f, lo, hi, data) {
		f.n.echoes.Add(1)
		return
	}
	f.msg.Data = data
	err = f.nc.PublishMsg(&f.msg)
	f.msg.Data = nil
	if err != nil {
		f.n.dropped.Add(1)
		f.logDrop(err)
		return
	}
	f.n.forwarded.Add(1)
	if f.nc.IsReconnecting() {
		f.n.buffered.Add(1)
	}
}

// logDrop logs the first drop of each cause in each outage: a full
// reconnect buffer would otherwise log once per event.
func (f *forwarder[E]) logDrop(err error) {
	key := fmt.Sprint(f.conn.outage.Load(), err)
	if key == f.lastLog {
		return
	}
	f.lastLog = key
	fields := []zap.Field{zap.String("subject", f.subject), zap.String("type", f.typ), zap.Error(err)}
	if errors.Is(err, nats.ErrReconnectBufExceeded) {
		fields = append(fields, zap.Int("reconnectBufSize", f.conn.reconnectBufSize()))
	}
	f.conn.log.Warn("natsbridge: event dropped (counted in Stats.Dropped); further drops for the same cause are not logged until the next disconnect", fields...)
}

func (f *forwarder[E]) stats() Stats {
	return f.n.snapshot(Outbound, f.subject, f.typ)
}
