// Command nofx uses the bus without Fx.
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/claviron/fxruntime/fxbus"
)

type OrderPlaced struct{ ID int }

func main() {
	bus, err := fxbus.New(fxbus.WithCapacity(256)) // events retained per type
	if err != nil {
		panic(err)
	}
	sub := fxbus.Subscribe[OrderPlaced](bus)
	defer sub.Close()

	fxbus.Emit(bus, OrderPlaced{ID: 1}) // returns how many subscribers it reached
	fxbus.Emit(bus, OrderPlaced{ID: 2})
	bus.Close() // subscribers drain what was buffered, then the loop ends

	for ev, err := range sub.All(context.Background()) {
		var lag *fxbus.LaggedError
		if errors.As(err, &lag) {
			fmt.Println("missed", lag.Missed, "events") // too slow: told, not silent
			continue
		}
		fmt.Println("order", ev.ID)
	}
}
