package natsbridge_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats.go"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// An Fx application started again after a stop (app.Start, app.Stop,
// app.Start on one *fx.App) is bridged in every run: each run connects
// anew; outbound routes forward the new run's events from the reopened
// bus, those emitted by OnStart hooks that run before the bridge's
// included; inbound routes receive again; a received event is not sent
// back; the peers learn of each stop; and the counters go on counting.
func TestModuleBridgesEveryRunOfAnApplicationStartedAgain(t *testing.T) {
	srv := runServer(t, -1)

	// The peer: a standalone Conn that outlives the app's runs.
	busP := newBus(t)
	connect(t, busP, natsbridge.Config{URL: srv.ClientURL(), Name: "peer"}, func(c *natsbridge.Conn) error {
		if err := natsbridge.Receive[Order](c, "orders"); err != nil {
			return err
		}
		if err := natsbridge.Forward[Ack](c, "acks"); err != nil {
			return err
		}
		if err := natsbridge.Forward[Ping](c, "pings"); err != nil {
			return err
		}
		if err := natsbridge.Receive[Ping](c, "pings"); err != nil {
			return err
		}
		return natsbridge.Receive[natsbridge.PeerShutdownEvent](c, "fleet.shutdown")
	})
	peerOrders := fxbus.Subscribe[Order](busP)
	defer peerOrders.Close()
	peerPings := fxbus.Subscribe[Ping](busP)
	defer peerPings.Close()
	peerShutdowns := fxbus.Subscribe[natsbridge.PeerShutdownEvent](busP)
	defer peerShutdowns.Close()

	var (
		bus  *fxbus.Bus
		conn *natsbridge.Conn
		run  int
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		// Built before the *Conn, so its OnStart runs before the bridge's:
		// what it emits waits on the bus for the outbound route.
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			lc.Append(fx.Hook{OnStart: func(context.Context) error {
				fxbus.Emit(b, Order{ID: "boot", Items: run})
				return nil
			}})
		}),
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "shop"}),
		natsbridge.BridgeOut[Order]("orders"),
		natsbridge.BridgeIn[Ack]("acks"),
		natsbridge.Bridge[Ping]("pings"),
		natsbridge.BridgeShutdown("fleet.shutdown"),
		fx.Populate(&bus, &conn),
	)

	const runs = 2
	for run = 1; run <= runs; run++ {
		app.RequireStart()
		nc := conn.NATS()
		if nc == nil || !nc.IsConnected() {
			t.Fatalf("run %d: the Conn is not connected after the start", run)
		}
		acks := fxbus.Subscribe[Ack](bus)
		pings := fxbus.Subscribe[Ping](bus)

		// Outbound: the event of an earlier OnStart hook, then one
		// emitted once the app is up.
		if got := recv(t, peerOrders); got != (Order{ID: "boot", Items: run}) {
			t.Fatalf("run %d: the peer got %+v, want the boot order of this run", run, got)
		}
		fxbus.Emit(bus, Order{ID: "up", Items: run})
		if got := recv(t, peerOrders); got != (Order{ID: "up", Items: run}) {
			t.Fatalf("run %d: the peer got %+v, want the order emitted once up", run, got)
		}

		// Inbound: the server has the new run's subscriptions once the
		// start has returned.
		fxbus.Emit(busP, Ack{OrderID: "up", By: "peer-" + itoa(run)})
		if got := recv(t, acks); got != (Ack{OrderID: "up", By: "peer-" + itoa(run)}) {
			t.Fatalf("run %d: the app got %+v", run, got)
		}

		// Both ways: the peer's ping arrives and is not sent back; the
		// app's own goes out.
		fxbus.Emit(busP, Ping{N: 100 + run})
		if got := recv(t, pings); got.N != 100+run {
			t.Fatalf("run %d: the app got ping %+v", run, got)
		}
		fxbus.Emit(bus, Ping{N: run})
		if got := recv(t, peerPings); got.N != 100+run {
			t.Fatalf("run %d: the peer's bus got ping %+v first, want its own %d", run, got, 100+run)
		}
		if got := recv(t, peerPings); got.N != run {
			t.Fatalf("run %d: the peer got ping %+v, want the app's %d (its own must not come back)", run, got, run)
		}
		eventually(t, "the app's counters of this run", func() bool {
			out := statsOf(t, conn, natsbridge.Outbound, "orders")
			ack := statsOf(t, conn, natsbridge.Inbound, "acks")
			pin := statsOf(t, conn, natsbridge.Outbound, "pings")
			pout := statsOf(t, conn, natsbridge.Inbound, "pings")
			return out.Forwarded == uint64(2*run) && ack.Received == uint64(run) &&
				pin.Forwarded == uint64(run) && pin.Echoes == uint64(run) && pout.Received == uint64(run)
		})
		acks.Close()
		pings.Close()

		app.RequireStop()
		if got := recv(t, peerShutdowns); got.Origin != conn.Origin() || got.Reason != "fx: application stopping" {
			t.Fatalf("run %d: the peer got %+v, want the app's stop", run, got)
		}
		if n := peerPings.Len(); n != 0 {
			t.Errorf("run %d: %d more pings reached the peer: an echo", run, n)
		}
	}

	// Nothing was lost or counted twice over the runs.
	for _, s := range conn.Stats() {
		if s.Dropped != 0 || s.Missed != 0 || s.EncodeFailures != 0 || s.DecodeFailures != 0 {
			t.Errorf("route %+v lost events", s)
		}
	}
	if s := statsOf(t, conn, natsbridge.Outbound, "fleet.shutdown"); s.Forwarded != runs {
		t.Errorf("shutdown route %+v, want %d forwarded", s, runs)
	}
}

// A stop that passes its deadline before the bridge's OnStop makes Fx skip
// it; the run's end closes the Conn instead, and the application started
// again is bridged.
func TestModuleBridgesTheRunAfterAStopThatSkippedTheBridge(t *testing.T) {
	srv := runServer(t, -1)
	busP := newBus(t)
	connect(t, busP, natsbridge.Config{URL: srv.ClientURL(), Name: "peer"}, func(c *natsbridge.Conn) error {
		return natsbridge.Receive[Order](c, "orders")
	})
	peerOrders := fxbus.Subscribe[Order](busP)
	defer peerOrders.Close()

	var (
		bus   *fxbus.Bus
		conn  *natsbridge.Conn
		stuck atomic.Bool
	)
	stuck.Store(true)
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "shop"}),
		natsbridge.BridgeOut[Order]("orders"),
		// Takes the *Conn, so it stops before it: in the first run, until
		// the stop's deadline.
		fx.Invoke(func(lc fx.Lifecycle, _ *natsbridge.Conn) {
			lc.Append(fx.StopHook(func(ctx context.Context) error {
				if stuck.Load() {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}))
		}),
		fx.Populate(&bus, &conn),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		// After a stop that returned at its deadline, Fx refuses a start
		// until its own stop goroutine has finished.
		for {
			err := app.Start(ctx)
			if err == nil {
				break
			}
			if run == 1 || !strings.Contains(err.Error(), "state: stopping") || ctx.Err() != nil {
				cancel()
				t.Fatalf("run %d: %v", run, err)
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		fxbus.Emit(bus, Order{ID: "up", Items: run})
		if got := recv(t, peerOrders); got != (Order{ID: "up", Items: run}) {
			t.Fatalf("run %d: the peer got %+v", run, got)
		}
		stopTimeout := wait
		if stuck.Load() {
			stopTimeout = 200 * time.Millisecond
		}
		ctx, cancel = context.WithTimeout(context.Background(), stopTimeout)
		err := app.Stop(ctx)
		cancel()
		if stuck.Load() != (err != nil) {
			t.Fatalf("run %d: stop: %v", run, err)
		}
		stuck.Store(false)
	}
	if s := statsOf(t, conn, natsbridge.Outbound, "orders"); s.Forwarded != 2 {
		t.Errorf("outbound %+v, want 2 forwarded", s)
	}
}

// A received message reaches the subscribers of the run it arrived in, or
// none: when a stop's deadline cuts the bridge's Close short while an
// inbound route's callback is still handling a message, and the
// application is started again before that callback emits, the message is
// not emitted on the new run's bus; it is counted in Stats.Dropped.
func TestInboundMessageOfAnEndedRunNeverReachesTheNextRun(t *testing.T) {
	srv := runServer(t, -1)
	pub := rawConn(t, srv.ClientURL())
	var (
		bus  *fxbus.Bus
		conn *natsbridge.Conn
	)
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "shop"}),
		natsbridge.BridgeIn[Order]("orders"),
		fx.Populate(&bus, &conn),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}

	// The callback that gets the first run's order is held until the
	// second run has begun.
	oldData := mustJSON(t, Order{ID: "old", Items: 1})
	held, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // on a failure, so that the callback returns
	natsbridge.SetOnHandle(conn, func(m *nats.Msg) {
		if string(m.Data) == string(oldData) {
			close(held)
			<-release
		}
	})

	start := func(run int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		// After a stop that returned at its deadline, Fx refuses a start
		// until its own stop goroutine has finished.
		for {
			err := app.Start(ctx)
			if err == nil {
				return
			}
			if run == 1 || !strings.Contains(err.Error(), "state: stopping") || ctx.Err() != nil {
				t.Fatalf("run %d: start: %v", run, err)
			}
			time.Sleep(time.Millisecond)
		}
	}

	start(1)
	if err := pub.Publish("orders", oldData); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(wait):
		t.Fatal("the first run's order never reached the inbound route")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := app.Stop(ctx)
	cancel()
	if err == nil {
		t.Fatal("the first run's stop returned nil; its deadline should have cut the drain short")
	}

	start(2)
	orders := fxbus.Subscribe[Order](bus)
	defer orders.Close()
	free()
	eventually(t, "the first run's order handled", func() bool {
		s := statsOf(t, conn, natsbridge.Inbound, "orders")
		return s.Received+s.Dropped == 1
	})
	if err := pub.Publish("orders", mustJSON(t, Order{ID: "new", Items: 2})); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, orders); got.ID != "new" {
		t.Fatalf("the second run's subscriber got %+v, an order of the first run", got)
	}
	if n := orders.Len(); n != 0 {
		t.Fatalf("the second run's subscriber has %d more orders", n)
	}
	if s := statsOf(t, conn, natsbridge.Inbound, "orders"); s.Received != 1 || s.Dropped != 1 {
		t.Errorf("inbound %+v, want the second run's order received and the first run's dropped", s)
	}

	ctx, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// The connection events of a run, DisconnectedEvent, ReconnectedEvent and
// ClosedEvent, reach the subscribers of that run or none: when a stop's
// deadline cuts the bridge's Close short before the client has run its
// connection handlers, and the application is started again before they
// run, the old connection's events are not emitted on the new run's bus,
// where they would tell of the new run's connection. The new run's own
// events still arrive.
func TestConnectionEventsOfAnEndedRunNeverReachTheNextRun(t *testing.T) {
	srv := runServer(t, -1)
	var (
		bus  *fxbus.Bus
		conn *natsbridge.Conn
	)
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "shop"}),
		fx.Populate(&bus, &conn),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}

	// The handlers of the first run's connection are held, from the
	// first, until the second run has begun; the ClosedHandler, the last,
	// holding the Close of the first run past its deadline.
	var old atomic.Pointer[nats.Conn]
	held, release, oldClosed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var heldOnce, releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // on a failure, so that the handlers return
	natsbridge.SetOnConnHandler(conn, func(nc *nats.Conn, event string, handle func()) {
		if nc != old.Load() {
			handle()
			return
		}
		heldOnce.Do(func() { close(held) })
		<-release
		handle()
		if event == "closed" {
			close(oldClosed)
		}
	})

	start := func(run int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		// After a stop that returned at its deadline, Fx refuses a start
		// until its own stop goroutine has finished.
		for {
			err := app.Start(ctx)
			if err == nil {
				return
			}
			if run == 1 || !strings.Contains(err.Error(), "state: stopping") || ctx.Err() != nil {
				t.Fatalf("run %d: start: %v", run, err)
			}
			time.Sleep(time.Millisecond)
		}
	}

	start(1)
	old.Store(conn.NATS())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := app.Stop(ctx)
	cancel()
	if err == nil {
		t.Fatal("the first run's stop returned nil; its deadline should have cut the Close short")
	}
	select {
	case <-held:
	default:
		t.Fatal("the first run's stop returned before the client ran a connection handler")
	}

	start(2)
	closed := fxbus.Subscribe[natsbridge.ClosedEvent](bus)
	defer closed.Close()
	disconnected := fxbus.Subscribe[natsbridge.DisconnectedEvent](bus)
	defer disconnected.Close()
	free()
	select {
	case <-oldClosed:
	case <-time.After(wait):
		t.Fatal("the first run's ClosedHandler never returned")
	}
	if ev, err := closed.TryRecv(); err == nil {
		t.Errorf("the second run's subscriber got %T%+v, of the first run's connection", ev, ev)
	}
	if ev, err := disconnected.TryRecv(); err == nil {
		t.Errorf("the second run's subscriber got %T%+v, of the first run's connection", ev, ev)
	}

	ctx, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if ev := recv(t, closed); ev.Err != nil {
		t.Errorf("the second run's ClosedEvent at its stop: %+v, want no error", ev)
	}
	if n := closed.Len(); n != 0 {
		t.Errorf("the second run's subscriber has %d more ClosedEvents", n)
	}
	if ev, err := disconnected.TryRecv(); err == nil {
		t.Errorf("the second run's subscriber got %T%+v at its own stop; a Close emits ClosedEvent only", ev, ev)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
