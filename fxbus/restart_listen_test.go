package fxbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/claviron/fxruntime/fxbus"
)

type rvJob struct{ n int }

// Listen promises one goroutine calling h "for each event, in order". A
// handler that overran run 1's stop deadline must not be called
// concurrently by run 2's goroutine after a restart.
func TestRestartNeverRunsAHandlerConcurrently(t *testing.T) {
	var inside, maxInside atomic.Int32
	h := func(_ context.Context, ev rvJob) error {
		n := inside.Add(1)
		defer inside.Add(-1)
		if n > maxInside.Load() {
			maxInside.Store(n)
		}
		time.Sleep(150 * time.Millisecond) // slow, does not watch ctx
		return nil
	}
	var bus *fxbus.Bus
	app := fx.New(fx.NopLogger, fxbus.Module, fxbus.Handle(h), fx.Populate(&bus))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		fxbus.Emit(bus, rvJob{i})
	}
	sctx, scancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	t.Logf("run 1 stop: %v", app.Stop(sctx))
	scancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fxbus.Emit(bus, rvJob{100})
	time.Sleep(400 * time.Millisecond)
	_ = app.Stop(ctx)
	time.Sleep(500 * time.Millisecond) // let run 1's goroutine drain
	if m := maxInside.Load(); m > 1 {
		t.Errorf("the handler ran %d times at once", m)
	}
}
