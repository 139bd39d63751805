package natsbridge_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/fx"
)

// embeddedServer starts a NATS server on a random loopback port, as the
// examples need one; real programs connect to theirs.
func embeddedServer() (url string, stop func()) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		panic("nats server not ready")
	}
	return s.ClientURL(), func() { s.Shutdown(); s.WaitForShutdown() }
}

// Two buses, as in two processes: events of type Order emitted on the
// first arrive on the second as Order.
func ExampleForward() {
	url, stop := embeddedServer()
	defer stop()
	ctx := context.Background()

	// The shop forwards its orders.
	shopBus, _ := fxbus.New()
	defer shopBus.Close()
	shop, err := natsbridge.Connect(ctx, shopBus, natsbridge.Config{URL: url, Name: "shop"})
	if err != nil {
		panic(err)
	}
	defer shop.Close(ctx)
	if err := natsbridge.Forward[Order](shop, "orders"); err != nil {
		panic(err)
	}

	// The warehouse receives them.
	whBus, _ := fxbus.New()
	defer whBus.Close()
	wh, err := natsbridge.Connect(ctx, whBus, natsbridge.Config{URL: url, Name: "warehouse"})
	if err != nil {
		panic(err)
	}
	defer wh.Close(ctx)
	if err := natsbridge.Receive[Order](wh, "orders"); err != nil {
		panic(err)
	}
	_ = wh.NATS().Flush() // the server has the subscription
	orders := fxbus.Subscribe[Order](whBus)
	defer orders.Close()

	fxbus.Emit(shopBus, Order{ID: "42", Items: 3})

	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, err := orders.Recv(rctx)
	fmt.Printf("%T %+v %v\n", ev, ev, err)
	// Output:
	// natsbridge_test.Order {ID:42 Items:3} <nil>
}

// With Fx: two applications bridge Order both ways and tell each other
// when they leave.
func ExampleBridge() {
	url, stop := embeddedServer()
	defer stop()

	app := func(name string, bus **fxbus.Bus) *fx.App {
		return fx.New(
			fx.NopLogger,
			fxbus.Module,
			natsbridge.Module,
			fx.Supply(natsbridge.Config{URL: url, Name: name}),
			natsbridge.Bridge[Order]("orders"),
			natsbridge.BridgeShutdown("fleet.shutdown"),
			fx.Populate(bus),
		)
	}
	var busA, busB *fxbus.Bus
	a, b := app("a", &busA), app("b", &busB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		panic(err)
	}
	if err := b.Start(ctx); err != nil {
		panic(err)
	}
	orders := fxbus.Subscribe[Order](busB)
	defer orders.Close()
	peers := fxbus.Subscribe[natsbridge.PeerShutdownEvent](busB)
	defer peers.Close()

	fxbus.Emit(busA, Order{ID: "7", Items: 1})
	ev, _ := orders.Recv(ctx)
	fmt.Printf("b got order %s\n", ev.ID)

	_ = a.Stop(ctx)
	left, _ := peers.Recv(ctx)
	fmt.Printf("b learnt that %s left: %s\n", left.Name, left.Reason)
	_ = b.Stop(ctx)
	// Output:
	// b got order 7
	// b learnt that a left: fx: application stopping
}

// With passes options to the Conn of natsbridge.Module, as natsbridge.New
// takes them: here the user and password the server requires. TLS
// (nats.Secure, nats.RootCAs) and NKey or JWT credentials (nats.Nkey,
// nats.UserCredentials) are passed the same way.
func ExampleWith() {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Username: "shop", Password: "s3cret"})
	if err != nil {
		panic(err)
	}
	go s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(5 * time.Second) {
		panic("nats server not ready")
	}

	var conn *natsbridge.Conn
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: s.ClientURL(), Name: "shop"}),
		natsbridge.With(natsbridge.WithNATSOptions(nats.UserInfo("shop", "s3cret"))),
		fx.Populate(&conn),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	fmt.Println("connected:", conn.NATS().IsConnected())
	_ = app.Stop(ctx)
	// Output:
	// connected: true
}

// pingText is a codec of its own: a Ping as its number in decimal.
type pingText struct{}

func (pingText) Encode(p Ping) ([]byte, error) { return strconv.AppendInt(nil, int64(p.N), 10), nil }
func (pingText) Decode(b []byte) (Ping, error) {
	n, err := strconv.Atoi(string(b))
	return Ping{N: n}, err
}

// A route with its own codec; what the codec rejects is counted and
// skipped.
func ExampleWithCodec() {
	url, stop := embeddedServer()
	defer stop()
	ctx := context.Background()

	bus, _ := fxbus.New()
	defer bus.Close()
	c, err := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: url})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	if err := natsbridge.Receive(c, "pings", natsbridge.WithCodec[Ping](pingText{})); err != nil {
		panic(err)
	}
	_ = c.NATS().Flush()
	pings := fxbus.Subscribe[Ping](bus)
	defer pings.Close()

	// Another client publishes raw payloads on the subject.
	other, _ := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: url})
	defer other.Close(ctx)
	_ = other.NATS().Publish("pings", []byte("not a number"))
	_ = other.NATS().Publish("pings", []byte("12"))

	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, _ := pings.Recv(rctx)
	s := c.Stats()[0]
	fmt.Printf("got %+v; %s %s: received %d, decode failures %d\n", ev, s.Direction, s.Subject, s.Received, s.DecodeFailures)
	// Output:
	// got {N:12}; inbound pings: received 1, decode failures 1
}
