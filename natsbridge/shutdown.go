package natsbridge

import (
	"context"
	"reflect"
	"sync/atomic"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// ForwardShutdown publishes this process's fxbus.ShutdownInitiatedEvent to
// subject as a [PeerShutdownEvent], so that peers that [Receive] PeerShutdown
// on subject learn that this process is leaving.
//
// It publishes synchronously, from the bus's shutdown
// callback: under fxbus.Module that is before the first OnStop hook of the
// application runs, so the message is in the client's buffer before
// [Conn.Close] drains the connection, whatever the order of the hooks.
// A shutdown announced before c is started or after it is closed is not
// published (the first is counted in [Stats.Dropped]). Like [Forward], it
// fails with [ErrInvalidSubject] for a subject the server would not
// publish to.
func ForwardShutdown(c *Conn, subject string) error {
	if err := checkSubject(subject, false); err != nil {
		return err
	}
	s := &shutdownForwarder{conn: c, subject: subject}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.addRoute(s, Outbound, subject, reflect.TypeFor[fxbus.ShutdownInitiatedEvent]()); err != nil {
		return err
	}
	if c.started {
		s.nc.Store(c.nc)
	}
	s.listen()
	return nil
}

// listen registers publish to run when the bus announces a shutdown.
func (s *shutdownForwarder) listen() {
	s.remove = runhooks.Of(s.conn.bus).OnShutdown(func(reason string, cause error, exitCode int) {
		s.publish(fxbus.ShutdownInitiatedEvent{Reason: reason, Cause: cause, ExitCode: exitCode})
	})
}

// shutdownForwarder is the outbound route of ForwardShutdown.
type shutdownForwarder struct {
	conn    *Conn
	subject string
	n       counters
	nc      atomic.Pointer[nats.Conn] // set by start
	stopped atomic.Bool               // set by stop, which also unregisters the callback
	remove  func()                    // unregisters publish; set under Conn.mu, before Close can see the route or begins its run
}

func (s *shutdownForwarder) key() routeKey {
	return routeKey{dir: Outbound, subject: s.subject, typ: reflect.TypeFor[fxbus.ShutdownInitiatedEvent]()}
}

func (s *shutdownForwarder) start(nc *nats.Conn) error {
	s.nc.Store(nc)
	return nil
}

func (s *shutdownForwarder) running() <-chan struct{} { return nil }

// again registers the route again for the new run's announcement; stop
// unregistered it.
func (s *shutdownForwarder) again() {
	s.nc.Store(nil)
	s.stopped.Store(false)
	s.listen()
}

func (s *shutdownForwarder) stop(context.Context) error {
	s.stopped.Store(true)
	s.remove()
	return nil
}

func (s *shutdownForwarder) publish(ev fxbus.ShutdownInitiatedEvent) {
	if s.stopped.Load() {
		return
	}
	nc := s.nc.Load()
	if nc == nil {
		s.n.dropped.Add(1)
		s.conn.log.Warn("natsbridge: shutdown announced before the connection was up; peers are not told",
			zap.String("subject", s.subject))
		return
	}
	wire := PeerShutdownEvent{
		Origin:   s.conn.origin,
		Name:     s.conn.cfg.Name,
		Reason:   ev.Reason,
		ExitCode: ev.ExitCode,
	}
	if ev.Cause != nil {
		wire.Cause = ev.Cause.Error()
	}
	data, err := JSON[PeerShutdownEvent]{}.Encode(wire)
	if err != nil { // cannot happen: strings and an int
		s.n.encodeFailures.Add(1)
		return
	}
	msg := &nats.Msg{Subject: s.subject, Header: nats.Header{HeaderOrigin: {s.conn.origin}}, Data: data}
	if err := nc.PublishMsg(msg); err != nil {
		s.n.dropped.Add(1)
		s.conn.log.Warn("natsbridge: cannot tell peers of the shutdown",
			zap.String("subject", s.subject), zap.Error(err))
		return
	}
	s.n.forwarded.Add(1)
	if nc.IsReconnecting() {
		s.n.buffered.Add(1)
	}
	s.conn.log.Info("natsbridge: shutdown forwarded to peers",
		zap.String("subject", s.subject), zap.String("reason", ev.Reason))
}

func (s *shutdownForwarder) stats() Stats {
	return s.n.snapshot(Outbound, s.subject, reflect.TypeFor[fxbus.ShutdownInitiatedEvent]().String())
}
