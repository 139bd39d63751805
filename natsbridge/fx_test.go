package natsbridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// Two Fx apps on one server: orders go from the shop to the warehouse,
// acks come back, and when the shop stops, the warehouse learns it from a
// PeerShutdown that was published before the shop's connection drained.
func TestModuleTwoApps(t *testing.T) {
	srv := runServer(t, -1)
	var (
		shopBus, whBus *fxbus.Bus
		shopConn       *natsbridge.Conn
	)
	shop := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "shop"}),
		natsbridge.BridgeOut[Order]("orders"),
		natsbridge.BridgeIn[Ack]("acks"),
		natsbridge.BridgeShutdown("fleet.shutdown"),
		fx.Populate(&shopBus, &shopConn),
	)
	warehouse := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "warehouse"}),
		natsbridge.Bridge[Order]("orders"), // both ways: the shop ignores what comes back
		natsbridge.BridgeOut[Ack]("acks"),
		natsbridge.BridgeShutdown("fleet.shutdown"),
		fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus) {
			fxbus.Listen(lc, bus, func(_ context.Context, o Order) error {
				fxbus.Emit(bus, Ack{OrderID: o.ID, By: "warehouse"})
				return nil
			})
		}),
		fx.Populate(&whBus),
	)
	acks := fxbus.Subscribe[Ack](shopBus)
	defer acks.Close()
	peers := fxbus.Subscribe[natsbridge.PeerShutdown](whBus)
	defer peers.Close()
	shop.RequireStart()
	defer shop.RequireStop()
	warehouse.RequireStart()
	defer warehouse.RequireStop()

	fxbus.Emit(shopBus, Order{ID: "A-1", Items: 2})
	if got, want := recv(t, acks), (Ack{OrderID: "A-1", By: "warehouse"}); got != want {
		t.Fatalf("shop got %+v, want %+v", got, want)
	}

	shop.RequireStop()
	got := recv(t, peers)
	if got.Origin != shopConn.Origin() || got.Name != "shop" || got.Reason != "fx: application stopping" {
		t.Errorf("warehouse got %+v, want the shop's stop", got)
	}
}

func TestModuleStartFailsNamingURL(t *testing.T) {
	port := freePort(t)
	url := "nats://127.0.0.1:" + itoa(port)
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: url}),
		natsbridge.Bridge[Order]("orders"),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err := app.Start(ctx)
	if err == nil {
		_ = app.Stop(ctx)
		t.Fatal("started without a server")
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("start error %q does not name %s", err, url)
	}
}

func TestModuleNeedsConfig(t *testing.T) {
	app := fx.New(fx.NopLogger, fxbus.Module, natsbridge.Module, natsbridge.Bridge[Order]("orders"))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "natsbridge.Config") {
		t.Errorf("err = %v, want a missing natsbridge.Config", err)
	}
}
