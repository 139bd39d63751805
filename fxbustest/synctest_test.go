//go:build go1.25

package fxbustest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// These tests run the bus and the runtime inside a testing/synctest
// bubble: time is the bubble's fake clock, which moves only when every
// goroutine of the bubble is blocked, so waits of seconds take none and
// every duration is exact.

// start starts rt and stops it when the test ends, within the bubble, so
// that a failed test leaves no goroutine blocked for the bubble to report.
func start(t *testing.T, rt *lifecycle.Runtime) {
	t.Helper()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Stop(context.Background()) })
}

func TestRecorderDrainsTheRingAsEventsArrive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t, fxbus.WithCapacity(2))
		rec := fxbustest.Record[ping](t, bus)
		for i := range 10 {
			fxbus.Emit(bus, ping{N: i})
			if i%2 == 1 {
				// Everything is blocked: the recorder has taken the two
				// events, so the next two fit in the ring.
				synctest.Wait()
			}
		}
		if got := rec.Events(); len(got) != 10 || rec.Missed() != 0 {
			t.Fatalf("recorded %v, missed %d: want all 10", got, rec.Missed())
		}
	})
}

func TestRestartBackoffRunsInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		events := fxbustest.Record[lifecycle.Event](t, bus)
		begin := time.Now()
		var mu sync.Mutex
		var starts []time.Duration // when each attempt began
		rt, err := lifecycle.New(bus, lifecycle.WithoutSignals(), lifecycle.WithTasks(lifecycle.Task{
			Name:   "sync",
			Policy: lifecycle.Restart,
			Restart: lifecycle.RestartPolicy{
				Initial: time.Second, Multiplier: 2, Jitter: lifecycle.NoJitter, Budget: 10, Window: time.Hour,
			},
			Run: func(ctx context.Context) error {
				mu.Lock()
				starts = append(starts, time.Since(begin))
				n := len(starts)
				mu.Unlock()
				if n <= 3 {
					return errors.New("upstream 503")
				}
				<-ctx.Done()
				return nil
			},
		}))
		if err != nil {
			t.Fatal(err)
		}
		start(t, rt)
		fxbustest.WaitFor(t, events, time.Minute, func(ev lifecycle.TaskStartedEvent) bool { return ev.Attempt == 4 })
		synctest.Wait() // the event comes just before the call: let the fourth attempt block
		mu.Lock()
		got := slices.Clone(starts)
		mu.Unlock()
		if want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}; !slices.Equal(got, want) {
			t.Fatalf("attempts began at %v, want exactly %v", got, want)
		}
		var delays []time.Duration
		for _, ev := range events.Events() {
			if r, ok := ev.(lifecycle.TaskRestartingEvent); ok {
				delays = append(delays, r.Delay)
			}
		}
		if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(delays, want) {
			t.Fatalf("restart delays %v, want %v", delays, want)
		}
		if err := rt.Stop(context.Background()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})
}

func TestReloadTimeoutRunsInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		completed := fxbustest.Record[lifecycle.ReloadCompletedEvent](t, bus)
		stuck := lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{
			Reload: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		})
		rt, err := lifecycle.New(bus, lifecycle.WithoutSignals(), lifecycle.WithProviders(stuck),
			lifecycle.WithConfig(lifecycle.Config{ReloadTimeout: 30 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		start(t, rt)
		begin := time.Now()
		err = rt.Reload(context.Background())
		if d := time.Since(begin); d != 30*time.Second {
			t.Fatalf("Reload returned after %v, want exactly the 30s timeout", d)
		}
		var re *lifecycle.ReloadError
		if !errors.As(err, &re) || len(re.Errors) != 1 || re.Errors[0].Provider != "config" ||
			!errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Reload = %v, want a *ReloadError for config wrapping context.DeadlineExceeded", err)
		}
		if ev := completed.Next(t, time.Minute); ev.Duration != 30*time.Second || !ev.Applied {
			t.Fatalf("ReloadCompletedEvent = %+v, want Duration 30s, Applied", ev)
		}
		if err := rt.Stop(context.Background()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})
}

// TestFxAppRunsInFakeTime runs an Fx application under fxtest in a bubble:
// fxbus.Module, the runtime, a handler and a gate that the stop gives up on
// after exactly its timeout.
func TestFxAppRunsInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			bus    *fxbus.Bus
			gate   *lifecycle.Gate
			events *fxbustest.Recorder[lifecycle.Event]
			pings  seen[ping]
			h      *fxbustest.Handler[ping]
		)
		app := fxtest.New(t, fx.NopLogger, fxbus.Module, lifecycle.Module,
			lifecycle.With(lifecycle.WithoutSignals()),
			fx.Supply(lifecycle.Config{GateTimeout: 10 * time.Second}),
			fxbustest.Provide[lifecycle.Event](t),
			fxbustest.Handle(pings.add),
			fx.Populate(&bus, &gate, &events, &h))
		app.RequireStart()
		t.Cleanup(func() { _ = app.Stop(context.Background()) }) // if the test fails half way
		fxbustest.WaitFor[lifecycle.ReadyEvent](t, events, time.Minute, nil)
		fxbus.Emit(bus, ping{N: 1})
		h.Wait(t, time.Minute)
		if got := pings.all(); len(got) != 1 {
			t.Fatalf("handler saw %v", got)
		}

		permit, err := gate.Enter() // never released before the stop gives up
		if err != nil {
			t.Fatal(err)
		}
		defer permit.Release()
		begin := time.Now()
		app.RequireStop()
		if d := time.Since(begin); d != 10*time.Second {
			t.Fatalf("the stop took %v, want exactly the 10s gate timeout", d)
		}
		forced := fxbustest.WaitFor[lifecycle.GateForcedEvent](t, events, time.Minute, nil)
		if forced.Waited != 10*time.Second || forced.Left != 1 {
			t.Fatalf("GateForcedEvent = %+v", forced)
		}
		fxbustest.WaitFor[lifecycle.StoppedEvent](t, events, time.Minute, nil)
	})
}
