package natsbridge_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
)

// gatedOrders decodes Orders as JSON, but not before its gate opens: until
// then, the route cannot keep up.
type gatedOrders struct{ gate <-chan struct{} }

func (gatedOrders) Encode(o Order) ([]byte, error) { return natsbridge.JSON[Order]{}.Encode(o) }
func (g gatedOrders) Decode(b []byte) (Order, error) {
	<-g.gate
	return natsbridge.JSON[Order]{}.Decode(b)
}

// slowRoute starts a Conn whose route on "orders" decodes nothing until
// the returned function is called (also at the end of the test), with
// room for pending messages waiting in the client.
func slowRoute(t *testing.T, url string, bus *fxbus.Bus, pending int) (*natsbridge.Conn, func()) {
	t.Helper()
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	c := connect(t, bus, natsbridge.Config{URL: url, PendingMsgs: pending}, func(c *natsbridge.Conn) error {
		return natsbridge.Receive(c, "orders", natsbridge.WithCodec[Order](gatedOrders{gate}))
	})
	t.Cleanup(open) // before the Conn's close: Close waits for the route
	return c, open
}

// publishOrders publishes n Orders to "orders" from a plain client and
// waits until c's client has them all, handed to the route or discarded.
func publishOrders(t *testing.T, url string, c *natsbridge.Conn, n int) {
	t.Helper()
	raw := rawConn(t, url)
	for i := range n {
		if err := raw.Publish("orders", []byte(`{"ID":"o-`+itoa(i)+`","Items":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route's client has every message", func() bool {
		return c.NATS().Stats().InMsgs == uint64(n)
	})
}

// Config.PendingMsgs bounds what the client holds for a route that cannot
// keep up; what it discards past the bound is counted in Dropped.
func TestPendingMsgsBoundsSlowRoute(t *testing.T) {
	srv := runServer(t, -1)
	const n, pending = 200, 10
	c, open := slowRoute(t, srv.ClientURL(), newBus(t), pending)
	publishOrders(t, srv.ClientURL(), c, n)
	// The route holds the message it decodes and pending-1 more.
	if s := statsOf(t, c, natsbridge.Inbound, "orders"); s.Dropped != n-pending {
		t.Errorf("stats %+v, want %d dropped", s, n-pending)
	}
	open()
	eventually(t, "the route decodes what it holds", func() bool {
		return statsOf(t, c, natsbridge.Inbound, "orders").Received == pending
	})
}

// The counters are final after Close, read then for the first time: every
// message the route's client got is in Received, DecodeFailures, Echoes or
// Dropped, the slow-consumer losses included.
func TestSlowConsumerDropsCountedAfterClose(t *testing.T) {
	srv := runServer(t, -1)
	const n, pending = 500, 20
	c, open := slowRoute(t, srv.ClientURL(), newBus(t), pending)
	publishOrders(t, srv.ClientURL(), c, n)
	open()
	closeConn(t, c)

	s := c.Stats()[0]
	if s.Dropped == 0 {
		t.Errorf("stats %+v: nothing dropped, yet the route held %d of %d messages", s, pending, n)
	}
	if sum := s.Received + s.DecodeFailures + s.Echoes + s.Dropped; sum != n {
		t.Errorf("stats %+v account for %d messages, want %d", s, sum, n)
	}
	// Read again: the same.
	if again := c.Stats()[0]; again != s {
		t.Errorf("stats changed after Close: %+v, then %+v", s, again)
	}
}

// When Close's context ends before the inbound routes are drained, Close
// says about how many received messages it discards, and Dropped is final
// all the same.
func TestCloseCutShortSaysWhatIsLost(t *testing.T) {
	srv := runServer(t, -1)
	const n, pending = 300, 20
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) }) // lets the stuck callback return
	c, err := natsbridge.New(newBus(t), natsbridge.Config{URL: srv.ClientURL(), PendingMsgs: pending})
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbridge.Receive(c, "orders", natsbridge.WithCodec[Order](gatedOrders{gate})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publishOrders(t, srv.ClientURL(), c, n)

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	err = c.Close(short)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "about 20 received messages were not emitted") {
		t.Errorf("Close: %v, want the deadline and the 20 messages held", err)
	}
	if s := c.Stats()[0]; s.Dropped != n-pending {
		t.Errorf("stats %+v, want %d dropped", s, n-pending)
	}
}
