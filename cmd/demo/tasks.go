package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// OrderPlaced is the shop's domain event: a customer placed an order.
type OrderPlaced struct {
	ID     int
	Shop   string
	Amount int // in cents
}

// newOrderTask returns the task that places orders on a schedule: a batch
// of Config.OrdersPerBatch orders, one every Config.OrderInterval, when
// the app starts and again after each reload of the configuration, which
// it learns of from the bus.
//
// It is critical: if it failed, the shop would be useless, so its failure
// would shut the service down.
func newOrderTask(bus *fxbus.Bus, cfg *configProvider) lifecycle.Task {
	// Subscribed here, before the app starts, so that no reload is missed.
	// The subscription ends with the bus; the task runs once (critical).
	reloads := fxbus.Subscribe[ConfigReloaded](bus)
	return lifecycle.Task{
		Name:   "orders",
		Policy: lifecycle.Critical,
		Run: func(ctx context.Context) error {
			defer reloads.Close()
			next := 1 // the next order ID; only this goroutine uses it
			c := cfg.Current()
			for {
				for range c.OrdersPerBatch {
					if err := sleep(ctx, time.Duration(c.OrderInterval)); err != nil {
						return nil // shutdown: stop placing orders
					}
					fxbus.Emit(bus, OrderPlaced{ID: next, Shop: c.Shop, Amount: 500 + 250*next})
					next++
				}
				ev, err := reloads.Recv(ctx)
				switch {
				case ctx.Err() != nil, errors.Is(err, fxbus.ErrClosed):
					return nil
				case errors.Is(err, fxbus.ErrLagged):
					c = cfg.Current() // missed some reloads: take the latest
				case err != nil:
					return err
				default:
					c = ev.New
				}
			}
		},
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// warehouseOutages is how many times the warehouse refuses the first
// connections: the warehouse task fails that many times, and the runtime
// restarts it with backoff, before it connects.
const warehouseOutages = 2

// WarehouseConnected is emitted when the warehouse task has connected.
type WarehouseConnected struct{ Attempt int }

// newWarehouseTask returns the task that keeps a connection to the
// warehouse. The warehouse is not up yet when the shop starts: the first
// two attempts fail, deterministically, and the Restart policy runs the
// task again after 20ms, then 40ms. Jitter cannot be zero (zero means the
// default, 0.2), so it is tiny: the delays stay 20ms and 40ms to the
// millisecond.
func newWarehouseTask(bus *fxbus.Bus) lifecycle.Task {
	attempts := 0 // the runtime calls Run again only after it returned: no race
	return lifecycle.Task{
		Name:   "warehouse",
		Policy: lifecycle.Restart,
		Restart: lifecycle.RestartPolicy{
			Initial:    20 * time.Millisecond,
			Multiplier: 2,
			Jitter:     lifecycle.NoJitter, // a timeline that reads the same every run
			Budget:     warehouseOutages + 1,
			Window:     time.Minute,
		},
		Run: func(ctx context.Context) error {
			attempts++
			if attempts <= warehouseOutages {
				return fmt.Errorf("warehouse unreachable: connection refused (outage %d of %d)", attempts, warehouseOutages)
			}
			fxbus.Emit(bus, WarehouseConnected{Attempt: attempts})
			<-ctx.Done() // stay connected until shutdown
			return nil
		},
	}
}

// tasksModule registers the shop's background tasks.
var tasksModule = fx.Module("tasks",
	lifecycle.AsTask(newOrderTask),
	lifecycle.AsTask(newWarehouseTask),
)
