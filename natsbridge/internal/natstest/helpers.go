package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats.go"
)

// CloseConn closes c within Wait, reporting an error of Close.
func CloseConn(tb testing.TB, c *natsbridge.Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		tb.Errorf("close: %v", err)
	}
}

// RawConn is a plain client connected to url, for publishing what a
// bridge would not; it is closed, and its close awaited, at the end of
// the test.
func RawConn(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		done := make(chan struct{})
		nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		nc.Close()
		select {
		case <-done:
		case <-time.After(Wait):
			tb.Error("raw connection not closed")
		}
	})
	return nc
}

// Recv returns the next event of sub, failing the test after Wait.
func Recv[E any](tb testing.TB, sub *fxbus.Subscription[E]) E {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	ev, err := sub.Recv(ctx)
	if err != nil {
		tb.Fatalf("receive %T: %v", ev, err)
	}
	return ev
}

// Eventually polls cond until it holds, failing the test after Wait.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", Wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// StatsOf returns the counters of c's route in direction d on subject.
func StatsOf(tb testing.TB, c *natsbridge.Conn, d natsbridge.Direction, subject string) natsbridge.Stats {
	tb.Helper()
	for _, s := range c.Stats() {
		if s.Direction == d && s.Subject == subject {
			return s
		}
	}
	tb.Fatalf("no %s route on %q in %+v", d, subject, c.Stats())
	return natsbridge.Stats{}
}
