// Command quickstart is the README's quick start: a service whose task
// emits an event every second, a handler in another module that reacts to
// it, and a graceful shutdown on Ctrl-C.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
)

// OrderPlaced is an event: any Go type is one, no registration needed.
type OrderPlaced struct{ ID int }

func main() {
	// Main adds fxbus.Module and lifecycle.Module, runs the app until
	// SIGINT/SIGTERM, and returns the exit code.
	os.Exit(lifecycle.Main(
		// A supervised background task that emits on the bus.
		lifecycle.AsTask(func(bus *fxbus.Bus) lifecycle.Task {
			return lifecycle.Task{Name: "orders", Run: func(ctx context.Context) error {
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for id := 1; ; id++ {
					select {
					case <-ctx.Done(): // the shutdown token
						return nil
					case <-tick.C:
						fxbus.Emit(bus, OrderPlaced{ID: id})
					}
				}
			}}
		}),
		// Handlers run for the life of the app; errors and panics are logged.
		fxbus.Handle(func(ctx context.Context, ev OrderPlaced) error {
			log.Printf("audit: order %d placed", ev.ID)
			return nil
		}),
		fxbus.Handle(func(ctx context.Context, ev fxbus.ShutdownInitiatedEvent) error {
			log.Printf("audit: flushing before shutdown (%s)", ev.Reason)
			return nil
		}),
	))
}
