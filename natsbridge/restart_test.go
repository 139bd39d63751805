package natsbridge_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
)

// The server goes away mid-stream and comes back on the same port: events
// emitted during the outage are buffered up to the reconnect buffer's
// limit and counted as dropped past it, the bridge reports the disconnect
// and the reconnect on the bus, and delivery resumes.
func TestServerRestart(t *testing.T) {
	srv := runServer(t, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	cfg := natsbridge.Config{
		URL:              srv.ClientURL(),
		ReconnectWait:    20 * time.Millisecond,
		ReconnectBufSize: 2048, // room for about twenty events
	}
	busA := newBus(t, fxbus.WithCapacity(1024))
	busB := newBus(t)
	a := connect(t, busA, cfg, func(c *natsbridge.Conn) error { return natsbridge.Forward[Order](c, "orders") })
	b := connect(t, busB, cfg, func(c *natsbridge.Conn) error { return natsbridge.Receive[Order](c, "orders") })
	downA, downB := fxbus.Subscribe[natsbridge.DisconnectedEvent](busA), fxbus.Subscribe[natsbridge.DisconnectedEvent](busB)
	upA, upB := fxbus.Subscribe[natsbridge.ReconnectedEvent](busA), fxbus.Subscribe[natsbridge.ReconnectedEvent](busB)
	closedA := fxbus.Subscribe[natsbridge.ClosedEvent](busA)
	orders := fxbus.Subscribe[Order](busB)
	for _, s := range []interface{ Close() }{downA, downB, upA, upB, closedA, orders} {
		defer s.Close()
	}

	fxbus.Emit(busA, Order{ID: "before"})
	if got := recv(t, orders); got.ID != "before" {
		t.Fatalf("got %+v", got)
	}
	// B may get the event before A's route has counted it; counted after
	// the server stops, it could be taken for a buffered one.
	eventually(t, "A counts the event forwarded", func() bool {
		return statsOf(t, a, natsbridge.Outbound, "orders").Forwarded == 1
	})

	stopServer(srv)
	recv(t, downA)
	recv(t, downB)

	const n = 300
	for i := range n {
		fxbus.Emit(busA, Order{ID: fmt.Sprintf("outage-%03d", i), Items: i})
	}
	eventually(t, "every outage event forwarded or dropped", func() bool {
		s := statsOf(t, a, natsbridge.Outbound, "orders")
		return s.Forwarded+s.Dropped == n+1
	})
	out := statsOf(t, a, natsbridge.Outbound, "orders")
	if out.Dropped == 0 || out.Buffered == 0 || out.Buffered != out.Forwarded-1 || out.Missed != 0 {
		t.Fatalf("outage stats %+v: want some buffered, the rest dropped, none missed", out)
	}
	t.Logf("outage: %d buffered, %d dropped", out.Buffered, out.Dropped)

	runServer(t, port)
	if got := recv(t, upA); got.URL == "" {
		t.Errorf("Reconnected without a URL: %+v", got)
	}
	recv(t, upB)
	flush(t, b) // the server has B's subscription again

	fxbus.Emit(busA, Order{ID: "after"})
	// Buffered events were flushed on A's reconnect: B gets those it was
	// subscribed in time for, in order, then the event emitted after.
	var outage []Order
	for {
		got := recv(t, orders)
		if got.ID == "after" {
			break
		}
		if len(outage) > 0 && got.Items <= outage[len(outage)-1].Items {
			t.Fatalf("out of order: %+v after %+v", got, outage[len(outage)-1])
		}
		outage = append(outage, got)
	}
	if uint64(len(outage)) > out.Buffered {
		t.Errorf("B got %d outage events, more than the %d buffered", len(outage), out.Buffered)
	}
	t.Logf("B got %d of the %d buffered outage events", len(outage), out.Buffered)

	closeConn(t, a)
	recv(t, closedA)
	if n := downA.Len(); n != 0 {
		t.Errorf("Close emitted %d Disconnected; it should emit Closed only", n)
	}
}
