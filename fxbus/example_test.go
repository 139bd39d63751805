package fxbus_test

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/fx"

	"github.com/claviron/fxruntime/fxbus"
)

// OrderPlaced is an event type. Any type works; no registration is needed.
type OrderPlaced struct{ ID string }

func Example() {
	bus, err := fxbus.New()
	if err != nil {
		panic(err)
	}
	defer bus.Close()

	// Nobody listens yet: the event goes nowhere, and Emit says so.
	fmt.Println("queued for", fxbus.Emit(bus, OrderPlaced{ID: "1"}))

	sub := fxbus.Subscribe[OrderPlaced](bus)
	defer sub.Close()
	fmt.Println("queued for", fxbus.Emit(bus, OrderPlaced{ID: "2"}))

	ev, err := sub.Recv(context.Background())
	fmt.Println(ev.ID, err)
	// Output:
	// queued for 0
	// queued for 1
	// 2 <nil>
}

// A subscriber more than the capacity behind learns how many events it
// missed, then goes on from the oldest event still retained.
func ExampleLaggedError() {
	bus, _ := fxbus.New(fxbus.WithCapacity(2))
	defer bus.Close()
	sub := fxbus.Subscribe[int](bus)
	defer sub.Close()

	for i := 1; i <= 5; i++ {
		fxbus.Emit(bus, i)
	}
	for {
		v, err := sub.TryRecv()
		var lag *fxbus.LaggedError
		switch {
		case errors.As(err, &lag):
			fmt.Println("missed", lag.Missed)
			continue
		case errors.Is(err, fxbus.ErrEmpty):
			return
		}
		fmt.Println("got", v)
	}
	// Output:
	// missed 3
	// got 4
	// got 5
}

// Ready waits for events in a select beside other channels.
func ExampleSubscription_Ready() {
	bus, _ := fxbus.New()
	sub := fxbus.Subscribe[string](bus)
	defer sub.Close()

	quit := make(chan struct{})
	fxbus.Emit(bus, "hello")
	bus.Close()
	for {
		select {
		case <-sub.Ready():
			for {
				msg, err := sub.TryRecv()
				if errors.Is(err, fxbus.ErrEmpty) {
					break
				}
				if errors.Is(err, fxbus.ErrClosed) {
					fmt.Println("closed")
					return
				}
				fmt.Println(msg)
			}
		case <-quit:
			return
		}
	}
	// Output:
	// hello
	// closed
}

// All reads a subscription with range; the loop ends when the bus closes.
func ExampleSubscription_All() {
	bus, _ := fxbus.New()
	sub := fxbus.Subscribe[int](bus)
	defer sub.Close()
	for i := range 3 {
		fxbus.Emit(bus, i)
	}
	bus.Close()
	for v, err := range sub.All(context.Background()) {
		if err != nil { // a *LaggedError
			continue
		}
		fmt.Println(v)
	}
	// Output:
	// 0
	// 1
	// 2
}

// An Fx application: one module emits, another listens, and both hear of
// the shutdown before their OnStop hooks run.
func Example_module() {
	type Shop struct{ emit fxbus.Emitter[OrderPlaced] }
	done := make(chan struct{})

	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fx.Supply(fxbus.Config{Capacity: 128}),
		fxbus.ProvideEmitter[OrderPlaced](),
		fx.Provide(func(e fxbus.Emitter[OrderPlaced]) *Shop { return &Shop{emit: e} }),
		fxbus.Handle(func(_ context.Context, ev OrderPlaced) error {
			fmt.Println("audit: order", ev.ID)
			close(done)
			return nil
		}),
		fxbus.Handle(func(_ context.Context, ev fxbus.ShutdownInitiatedEvent) error {
			fmt.Println("audit: shutting down:", ev.Reason)
			return nil
		}),
		fx.Invoke(func(lc fx.Lifecycle, s *Shop) {
			lc.Append(fx.StartHook(func() { s.emit.Emit(OrderPlaced{ID: "42"}) }))
		}),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	<-done
	if err := app.Stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// audit: order 42
	// audit: shutting down: fx: application stopping
}

// Listen runs a method of a component as a handler, with the component's
// dependencies at hand.
func ExampleListen() {
	type Mailer struct{ sent []string }
	m := &Mailer{}
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fx.Provide(func(lc fx.Lifecycle, bus *fxbus.Bus) *Mailer {
			fxbus.Listen(lc, bus, func(_ context.Context, ev OrderPlaced) error {
				m.sent = append(m.sent, "receipt for "+ev.ID)
				return nil
			})
			return m
		}),
		fx.Invoke(func(*Mailer) {}),
		fx.Invoke(func(bus *fxbus.Bus) { fxbus.Emit(bus, OrderPlaced{ID: "7"}) }),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	// Stop lets the handler finish what is buffered before it returns.
	if err := app.Stop(ctx); err != nil {
		panic(err)
	}
	fmt.Println(m.sent)
	// Output:
	// [receipt for 7]
}
