package natsbridge

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/claviron/fxruntime/fxbus"
)

// Forward publishes every event of type E emitted on c's bus to subject,
// encoded with the route's codec ([JSON] unless [WithCodec] says
// otherwise), with c's [Conn.Origin] in the [HeaderOrigin] header:
//
//	natsbridge.Forward[OrderPlaced](c, "orders.placed")
//
// The route subscribes to the bus at once: it forwards every E emitted
// after Forward returns, in emit order, once c is started. One goroutine per
// route encodes and publishes; if it falls more than the bus capacity
// behind, the events it missed are counted in [Stats.Missed]. Events that c,
// or another Conn on the same bus, received from NATS are not forwarded
// (see the package documentation, "Echo").
//
// Forward fails with [ErrInvalidSubject] if the server would not publish
// to subject (a wildcard token is one reason; see the package
// documentation, "Subjects"), if c already forwards E to subject, or if c
// is closed ([ErrClosed]). E may not be fxbus.ShutdownInitiatedEvent with the
// JSON codec: use [ForwardShutdown].
func Forward[E any](c *Conn, subject string, opts ...RouteOption[E]) error {
	if err := checkSubject(subject, false); err != nil {
		return err
	}
	rc := newRouteConfig(opts)
	if isShutdownInitiated[E]() && isJSON(rc.codec) {
		return errors.New("natsbridge: fxbus.ShutdownInitiatedEvent does not survive JSON (its Cause is an error): use ForwardShutdown")
	}
	f := &forwarder[E]{
		conn:    c,
		subject: subject,
		typ:     reflect.TypeFor[E]().String(),
		codec:   rc.codec,
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.addRoute(f, Outbound, subject, reflect.TypeFor[E]()); err != nil {
		return err
	}
	guardOf[E](c).subscribe(f)
	if c.started {
		return f.start(c.nc)
	}
	return nil
}

// Receive emits on c's bus, as E, every message that arrives on subject,
// decoded with the route's codec ([JSON] unless [WithCodec] says
// otherwise):
//
//	natsbridge.Receive[OrderPlaced](c, "orders.placed")
//
// subject may contain wildcards: "*" for one token, ">" as the last token
// for all the rest. Messages are emitted in the order the server delivers
// them, which keeps each publisher's order. A message published by c, or
// by another Conn on the same bus, is skipped and counted in
// [Stats.Echoes]. A message the
// codec rejects is logged with the subject and the error, counted in
// [Stats.DecodeFailures] and skipped. Local subscribers see received events
// exactly as they see local ones: same ordering, lag and close rules.
//
// On a started c the subscription is made at once (without waiting for the
// server to register it); otherwise at [Conn.Start]. Receive fails with
// [ErrInvalidSubject] if the server would refuse to subscribe to subject
// (see the package documentation, "Subjects"), if c already receives E
// from subject, or if c is closed ([ErrClosed]). E may not be
// fxbus.ShutdownInitiatedEvent: a peer's shutdown is not this process's;
// receive [PeerShutdownEvent].
func Receive[E any](c *Conn, subject string, opts ...RouteOption[E]) error {
	if err := checkSubject(subject, true); err != nil {
		return err
	}
	if isShutdownInitiated[E]() {
		return errors.New("natsbridge: a peer's shutdown is not this process's: receive natsbridge.PeerShutdown, not fxbus.ShutdownInitiatedEvent")
	}
	rc := newRouteConfig(opts)
	r := &receiver[E]{
		conn:    c,
		subject: subject,
		typ:     reflect.TypeFor[E]().String(),
		codec:   rc.codec,
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.addRoute(r, Inbound, subject, reflect.TypeFor[E]()); err != nil {
		return err
	}
	r.guard.Store(guardOf[E](c))
	if c.started {
		return r.start(c.nc)
	}
	return nil
}

// addRoute records r, with c.mu held.
func (c *Conn) addRoute(r route, d Direction, subject string, t reflect.Type) error {
	if c.closing {
		return ErrClosed
	}
	k := routeKey{dir: d, subject: subject, typ: t}
	for _, have := range c.routes {
		if have.key() == k {
			return fmt.Errorf("%w: %s %s on %q", ErrDuplicateRoute, d, t, subject)
		}
	}
	c.routes = append(c.routes, r)
	return nil
}

func isShutdownInitiated[E any]() bool {
	return reflect.TypeFor[E]() == reflect.TypeFor[fxbus.ShutdownInitiatedEvent]()
}

func isJSON[E any](c Codec[E]) bool {
	_, ok := c.(JSON[E])
	return ok
}
