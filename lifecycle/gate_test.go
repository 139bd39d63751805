package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
)

func TestGate(t *testing.T) {
	t.Run("the zero value admits and drains", func(t *testing.T) {
		var g lifecycle.Gate
		p, err := g.Enter()
		if err != nil {
			t.Fatal(err)
		}
		if g.InFlight() != 1 {
			t.Fatalf("InFlight = %d", g.InFlight())
		}
		p.Release()
		p.Release() // idempotent
		if g.InFlight() != 0 {
			t.Fatalf("InFlight after double release = %d", g.InFlight())
		}
		if res := g.Wait(context.Background()); !res.Drained || res.Left != 0 {
			t.Fatalf("Wait = %+v", res)
		}
		var nilPermit *lifecycle.Permit
		nilPermit.Release() // no panic
	})

	t.Run("close refuses new work and lets admitted work finish", func(t *testing.T) {
		var g lifecycle.Gate
		p, _ := g.Enter()
		g.Close()
		g.Close() // idempotent
		if _, err := g.Enter(); !errors.Is(err, lifecycle.ErrGateClosed) {
			t.Fatalf("Enter after Close = %v", err)
		}
		res := make(chan lifecycle.DrainResult, 1)
		go func() { res <- g.Wait(context.Background()) }()
		p.Release()
		if r := waitFor(t, res, "the drain"); !r.Drained {
			t.Fatalf("Wait = %+v", r)
		}
	})

	t.Run("a deadline forces the drain and counts what is left", func(t *testing.T) {
		var g lifecycle.Gate
		for range 3 {
			if _, err := g.Enter(); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if res := g.Wait(ctx); res.Drained || res.Left != 3 || res.Waited <= 0 {
			t.Fatalf("Wait = %+v, want forced with 3 left", res)
		}
	})

	t.Run("the runtime closes its gate on shutdown and drains it on stop", func(t *testing.T) {
		b := newBus(t)
		drained := subscribe[lifecycle.GateDrainedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		p, err := rt.Gate().Enter()
		if err != nil {
			t.Fatal(err)
		}
		rt.InitiateShutdown("deploy", nil, 0)
		if _, err := rt.Gate().Enter(); !errors.Is(err, lifecycle.ErrGateClosed) {
			t.Fatalf("Enter during shutdown = %v", err)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- stopRuntime(t, rt) }()
		p.Release()
		if err := waitFor(t, stopped, "Stop"); err != nil {
			t.Fatal(err)
		}
		next(t, drained)
	})

	t.Run("the runtime reports a forced gate and goes on", func(t *testing.T) {
		b := newBus(t)
		forced := subscribe[lifecycle.GateForcedEvent](t, b)
		rt := newRuntime(t, b, lifecycle.WithConfig(lifecycle.Config{GateTimeout: 20 * time.Millisecond}))
		startRuntime(t, rt)
		p, _ := rt.Gate().Enter()
		defer p.Release()
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		if ev := next(t, forced); ev.Left != 1 {
			t.Fatalf("GateForced = %+v", ev)
		}
		if rt.State() != lifecycle.StateStopped {
			t.Fatalf("state = %v", rt.State())
		}
	})
}
