package fxbus_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/claviron/fxruntime/fxbus"
)

type neverEvent struct{}

// A last OnStart hook that returns nil just before the start deadline
// makes Fx report the deadline (it prefers the context's error) while the
// bus saw every hook start: app.Stop after the failed start still ends the
// run, with the bus closed.
func TestStopAfterAStartFailedAtItsDeadlineEndsTheRun(t *testing.T) {
	hits := 0
	for i := 0; i < 60 && hits == 0; i++ {
		var bus *fxbus.Bus
		var deadline time.Time
		app := fx.New(fx.NopLogger, fxbus.Module, fx.Populate(&bus),
			fx.Invoke(func(lc fx.Lifecycle) {
				lc.Append(fx.StartHook(func(ctx context.Context) error {
					deadline, _ = ctx.Deadline()
					time.Sleep(time.Until(deadline) - time.Duration(i%40)*25*time.Microsecond)
					return nil
				}))
			}))
		sub := fxbus.Subscribe[neverEvent](bus)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := app.Start(ctx)
		cancel()
		if err != nil {
			waitFxStartReturned(t)
		}
		// The stop's budget only bounds a failure: a run that ends is
		// ended long before it, even on a loaded machine.
		sctx, scancel := context.WithTimeout(context.Background(), waitLimit)
		stopBegan := time.Now()
		serr := app.Stop(sctx)
		stopTook := time.Since(stopBegan)
		scancel()
		if err != nil {
			// app.Stop after a failed start returns once the run has ended,
			// whichever side of the deadline the last hook returned on.
			if _, rerr := sub.TryRecv(); !errors.Is(rerr, fxbus.ErrClosed) {
				hits++
				t.Errorf("try %d: app.Start = %v, and after app.Stop (%v, returned %v) the bus is still open (%v): the failed start was not ended",
					i, err, stopTook, serr, rerr)
			}
		}
	}
}

// waitFxStartReturned waits until the goroutine in which Fx runs the start
// hooks has returned. When the start context expires, app.Start returns at
// once and leaves that goroutine to finish the hook in progress; Fx
// (v1.24.0, internal/lifecycle) then counts the hook as started outside its
// mutex, so an app.Stop in that window is a data race inside Fx that no
// code in fxbus can order. The goroutine's last step takes that mutex, so
// once it is gone app.Stop is ordered after it.
func waitFxStartReturned(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(waitLimit); ; {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("go.uber.org/fx.withTimeout.func1")) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("Fx's start goroutine still runs %v after app.Start returned:\n%s", waitLimit, buf[:n])
		}
		time.Sleep(time.Millisecond)
	}
}
