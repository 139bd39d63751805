package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

type rvProbe struct{}

// A start that times out inside the runtime's own OnStart (a Boot), with a
// booted provider whose rollback Stop takes 1s: app.Stop afterwards must not
// return before the run has ended.
func TestStopAfterTimedOutBootWaitsForRollback(t *testing.T) {
	stopDone := make(chan struct{})
	var rt *lifecycle.Runtime
	var sub *fxbus.Subscription[rvProbe]
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("a", lifecycle.Early, lifecycle.Hooks{
				Stop: func(context.Context) error { time.Sleep(time.Second); close(stopDone); return nil },
			})
		}),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("b", lifecycle.Late, lifecycle.Hooks{
				Boot: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			})
		}),
		fx.Populate(&rt),
		fx.Invoke(func(b *fxbus.Bus) { sub = fxbus.Subscribe[rvProbe](b) }),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := app.Start(ctx); err == nil {
		t.Fatal("start succeeded")
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	begin := time.Now()
	err := app.Stop(sctx)
	took := time.Since(begin)
	_, rerr := sub.TryRecv()
	select {
	case <-stopDone:
		t.Logf("ok: provider a stopped before app.Stop returned")
	default:
		t.Errorf("app.Stop returned (%v, after %v) while provider a's rollback Stop still runs; state %v; bus: %v",
			err, took, rt.State(), rerr)
	}
	if !errors.Is(rerr, fxbus.ErrClosed) {
		t.Errorf("bus still open after app.Stop: TryRecv = %v", rerr)
	}
	<-stopDone
	time.Sleep(100 * time.Millisecond)
}
