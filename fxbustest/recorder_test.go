package fxbustest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

type ping struct{ N int }

func TestRecorderRecordsFromItsCreationInOrder(t *testing.T) {
	bus := newBus(t)
	fxbus.Emit(bus, ping{N: -1}) // before: not recorded
	rec := fxbustest.Record[ping](t, bus)
	for i := range 5 {
		fxbus.Emit(bus, ping{N: i})
	}
	if got := rec.WaitN(t, 3, wait); !slices.Equal(got, []ping{{0}, {1}, {2}}) {
		t.Fatalf("WaitN(3) = %v, want the first three", got)
	}
	// Events sees every event emitted before the call, without waiting.
	if got := rec.Events(); !slices.Equal(got, []ping{{0}, {1}, {2}, {3}, {4}}) || rec.Len() != 5 {
		t.Fatalf("Events = %v, Len %d", got, rec.Len())
	}
	for i := range 5 {
		if got := rec.Next(t, wait); got.N != i {
			t.Fatalf("Next = %v, want %d", got, i)
		}
	}
	if rec.Missed() != 0 {
		t.Fatalf("Missed = %d", rec.Missed())
	}
}

func TestRecorderKeepsMoreThanTheBusCapacity(t *testing.T) {
	bus := newBus(t, fxbus.WithCapacity(2))
	rec := fxbustest.Record[ping](t, bus)
	// Emitted slower than the recorder takes them, but more than the ring
	// holds: each WaitN proves the ring was emptied into the recorder.
	for i := range 10 {
		fxbus.Emit(bus, ping{N: i})
		rec.WaitN(t, i+1, wait)
	}
	if got := rec.Events(); len(got) != 10 || got[9].N != 9 || rec.Missed() != 0 {
		t.Fatalf("Events = %v, missed %d", got, rec.Missed())
	}
}

func TestWaitForMatchesTheTypesBehindAnInterface(t *testing.T) {
	bus := newBus(t)
	rec := fxbustest.Record[lifecycle.Event](t, bus)
	boom := errors.New("boom")
	rt, err := lifecycle.New(bus, lifecycle.WithoutSignals(), lifecycle.WithTasks(lifecycle.Task{
		Name: "flaky", Policy: lifecycle.Ignore,
		Run: func(context.Context) error { return boom },
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	failed := fxbustest.WaitFor(t, rec, wait, func(ev lifecycle.TaskFailedEvent) bool { return ev.Name == "flaky" })
	if failed.Err != boom || failed.Attempt != 1 {
		t.Fatalf("TaskFailedEvent = %+v", failed)
	}
	// The read position is past the failure: the stop comes after it.
	stopped := fxbustest.WaitFor[lifecycle.TaskStoppedEvent](t, rec, wait, nil)
	if stopped.Name != "flaky" || stopped.Err != boom {
		t.Fatalf("TaskStoppedEvent = %+v", stopped)
	}
	if err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	fxbustest.WaitFor[lifecycle.StoppedEvent](t, rec, wait, nil)
	// Events skipped by WaitFor stay recorded.
	if evs := rec.Events(); len(evs) < 6 {
		t.Fatalf("only %d events recorded: %v", len(evs), evs)
	}
}

func TestFailedWaitReportsWhatWasRecorded(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		bus := newBus(t)
		rec := fxbustest.Record[lifecycle.Event](t, bus)
		fxbus.Emit[lifecycle.Event](bus, lifecycle.TaskStartedEvent{Name: "indexer", Attempt: 1})
		fxbus.Emit[lifecycle.Event](bus, lifecycle.TaskStartedEvent{Name: "mailer", Attempt: 1})
		fxbus.Emit[lifecycle.Event](bus, lifecycle.ReadyEvent{})
		ft := &failTB{TB: t}
		got := fxbustest.WaitFor(ft, rec, 20*time.Millisecond, func(ev lifecycle.TaskFailedEvent) bool { return ev.Name == "indexer" })
		if got.Name != "" {
			t.Fatalf("a failed wait returned %+v", got)
		}
		contains(t, ft.message(t),
			"Recorder[lifecycle.Event]", "after 20ms", "lifecycle.TaskFailedEvent that matches",
			"recorded 3 event(s): 2 lifecycle.TaskStartedEvent, 1 lifecycle.ReadyEvent",
			"0 lifecycle.TaskStartedEvent {Name:indexer Attempt:1}", "2 lifecycle.ReadyEvent {}")
	})

	t.Run("bus closed: fails at once, not at the timeout", func(t *testing.T) {
		bus := newBus(t)
		rec := fxbustest.Record[ping](t, bus)
		fxbus.Emit(bus, ping{N: 7})
		bus.Close()
		ft := &failTB{TB: t}
		begin := time.Now()
		rec.WaitN(ft, 2, time.Hour)
		if d := time.Since(begin); d > wait {
			t.Fatalf("WaitN took %v", d)
		}
		contains(t, ft.message(t), "waiting for 2 fxbustest_test.ping events, but the recorder stopped (the bus closed)",
			"recorded 1 event(s): 1 fxbustest_test.ping", "fxbustest_test.ping {N:7}")
	})

	t.Run("long lists keep the last events", func(t *testing.T) {
		bus := newBus(t, fxbus.WithCapacity(64))
		rec := fxbustest.Record[ping](t, bus)
		for i := range 50 {
			fxbus.Emit(bus, ping{N: i})
		}
		ft := &failTB{TB: t}
		rec.WaitN(ft, 51, 20*time.Millisecond)
		msg := ft.message(t)
		contains(t, msg, "recorded 50 event(s)", "... 30 earlier event(s)", " 30 fxbustest_test.ping {N:30}", " 49 fxbustest_test.ping {N:49}")
		if strings.Contains(msg, "{N:29}") {
			t.Errorf("message lists more than the last 20 events:\n%s", msg)
		}
	})

	t.Run("nil bus", func(t *testing.T) {
		ft := &failTB{TB: t}
		if rec := fxbustest.Record[ping](ft, nil); rec != nil {
			t.Errorf("Record(nil) = %v", rec)
		}
		contains(t, ft.message(t), "fxbustest.Record[fxbustest_test.ping]: nil bus")
	})
}

func TestWaitClosedReturnsTheWholeRunUnderFx(t *testing.T) {
	var events *fxbustest.Recorder[lifecycle.Event]
	app := fxtest.New(t, fx.NopLogger, fxbus.Module, lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{})
		}),
		fxbustest.Provide[lifecycle.Event](t), fx.Populate(&events))
	app.RequireStart()
	app.RequireStop()
	var names []string
	for _, ev := range events.WaitClosed(t, wait) {
		names = append(names, strings.TrimPrefix(typeString(ev), "lifecycle."))
	}
	want := []string{"ProviderBootedEvent", "BootedEvent", "ReadyEvent", "GateDrainedEvent", "DrainCompletedEvent", "ProviderStoppedEvent", "StoppedEvent"}
	if !slices.Equal(names, want) {
		t.Fatalf("events of the run: %v, want %v", names, want)
	}
}

func TestCloseStopsRecordingAndKeepsTheEvents(t *testing.T) {
	bus := newBus(t)
	rec := fxbustest.Record[ping](t, bus)
	fxbus.Emit(bus, ping{N: 1})
	rec.WaitN(t, 1, wait)
	rec.Close()
	rec.Close() // idempotent
	if n := fxbus.Emit(bus, ping{N: 2}); n != 0 {
		t.Fatalf("Emit after Close queued for %d subscribers", n)
	}
	if got := rec.Events(); !slices.Equal(got, []ping{{1}}) {
		t.Fatalf("Events after Close = %v", got)
	}
	rec.Next(t, wait)
	ft := &failTB{TB: t}
	rec.Next(ft, wait)
	contains(t, ft.message(t), "the recorder stopped (Close was called)")
}
