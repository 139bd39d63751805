package fxbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/claviron/fxruntime/fxbus"
)

type rvPing struct{}

// On a bus not built by Module (fxbus.New supplied to the graph), a
// restarted app's Listen handler silently receives nothing.
func TestPlainBusHandlerSurvivesRestart(t *testing.T) {
	var got atomic.Int32
	var bus *fxbus.Bus
	app := fx.New(fx.NopLogger,
		fx.Provide(func() (*fxbus.Bus, error) { return fxbus.New() }),
		fxbus.Handle(func(context.Context, rvPing) error { got.Add(1); return nil }),
		fx.Populate(&bus))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for run := 1; run <= 2; run++ {
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		n := fxbus.Emit(bus, rvPing{})
		time.Sleep(50 * time.Millisecond)
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: Emit reached %d subscribers; handler calls so far %d", run, n, got.Load())
	}
	if got.Load() != 2 {
		t.Errorf("handler ran %d times over two runs, want 2", got.Load())
	}
	bus.Close()
}
