package natsbridge_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/internal/natstest"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// wait bounds every wait of the tests.
const wait = 10 * time.Second

// Test events.
type (
	Order struct {
		ID    string
		Items int
	}
	Ack struct {
		OrderID string
		By      string
	}
	Ping struct {
		N int
	}
)

// runServer starts a NATS server on 127.0.0.1, on port (-1: a random one),
// and shuts it down at the end of the test.
func runServer(t testing.TB, port int) *server.Server {
	t.Helper()
	return natstest.RunServer(t, &server.Options{Port: port})
}

func stopServer(s *server.Server) { natstest.StopServer(s) }

func newBus(t testing.TB, opts ...fxbus.Option) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// connect returns a started Conn, closed at the end of the test. setup
// declares routes before the start.
func connect(t testing.TB, bus *fxbus.Bus, cfg natsbridge.Config, setup func(*natsbridge.Conn) error) *natsbridge.Conn {
	t.Helper()
	c, err := natsbridge.New(bus, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(c); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeConn(t, c) })
	return c
}

// The helpers below are natstest's, under the names these tests use.
func closeConn(t testing.TB, c *natsbridge.Conn) { t.Helper(); natstest.CloseConn(t, c) }

func rawConn(t testing.TB, url string) *nats.Conn { t.Helper(); return natstest.RawConn(t, url) }

func recv[E any](t testing.TB, sub *fxbus.Subscription[E]) E {
	t.Helper()
	return natstest.Recv(t, sub)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	natstest.Eventually(t, what, cond)
}

func statsOf(t testing.TB, c *natsbridge.Conn, d natsbridge.Direction, subject string) natsbridge.Stats {
	t.Helper()
	return natstest.StatsOf(t, c, d, subject)
}

// flush makes sure the server has processed everything c sent, its
// subscriptions included.
func flush(t testing.TB, c *natsbridge.Conn) {
	t.Helper()
	if err := c.NATS().FlushTimeout(wait); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
