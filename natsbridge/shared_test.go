package natsbridge

import (
	"context"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
)

// What the Conns of a bus share is let go when the last of them is
// closed, whether it was started or not, and when Connect fails.
func TestConnsLeaveTheirBus(t *testing.T) {
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	shared := func() *busShared {
		buses.mu.Lock()
		defer buses.mu.Unlock()
		return buses.m[bus]
	}
	ctx := context.Background()
	a, err := New(bus, Config{URL: "nats://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(bus, Config{URL: "nats://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Forward[int](a, "n"); err != nil {
		t.Fatal(err)
	}
	if sh := shared(); sh == nil || len(*sh.origins.Load()) != 2 || len(sh.guards) != 1 {
		t.Fatalf("shared state %+v, want both origins and the guard of int", sh)
	}
	_ = a.Close(ctx)
	if sh := shared(); sh == nil || !sh.published(b.Origin()) || sh.published(a.Origin()) {
		t.Fatalf("after A's close, shared state %+v, want B's origin only", sh)
	}
	_ = b.Close(ctx)
	if sh := shared(); sh != nil {
		t.Fatalf("after both closed, shared state %+v remains", sh)
	}
	if _, err := Connect(ctx, bus, Config{URL: "nats://127.0.0.1:1", ConnectTimeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("connected to port 1")
	}
	if sh := shared(); sh != nil {
		t.Fatalf("after a failed Connect, shared state %+v remains", sh)
	}
}
