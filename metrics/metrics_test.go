package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/metrics"
)

type (
	evA struct{ n int }
	evB struct{ n int }
	evC struct{ n int }
)

func TestBusInstrumentsAreReadFromStatsAtCollection(t *testing.T) {
	bus := newBus(t, fxbus.WithCapacity(4))
	mp, reader := newProvider(t)
	m, err := metrics.New(bus, nil, metrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })

	a := fxbus.Subscribe[evA](bus) // reads everything
	defer a.Close()
	fxbus.Subscribe[evB](bus).Close() // a ring, and nobody listening
	c := fxbus.Subscribe[evC](bus)    // never reads: lags
	defer c.Close()

	for i := range 3 {
		fxbus.Emit(bus, evA{i})
		if _, err := a.TryRecv(); err != nil {
			t.Fatal(err)
		}
	}
	fxbus.Emit(bus, evB{1})
	fxbus.Emit(bus, evB{2})
	for i := range 6 {
		fxbus.Emit(bus, evC{i})
	}
	var lagged *fxbus.LaggedError
	if _, err := c.TryRecv(); !errors.As(err, &lagged) || lagged.Missed != 2 {
		t.Fatalf("TryRecv after 6 emits into a ring of 4: %v, want 2 missed", err)
	}

	s := collect(t, reader)
	var (
		typeA = "fxbus.event.type=" + typeName[evA](bus)
		typeB = "fxbus.event.type=" + typeName[evB](bus)
		typeC = "fxbus.event.type=" + typeName[evC](bus)
	)
	s.want(t, "fxbus.emitted.events", map[string]float64{typeA: 3, typeB: 0, typeC: 6})
	s.want(t, "fxbus.dropped.events", map[string]float64{typeA: 0, typeB: 2, typeC: 0})
	s.want(t, "fxbus.missed.events", map[string]float64{typeA: 0, typeB: 0, typeC: 2})
	s.want(t, "fxbus.subscription.count", map[string]float64{typeA: 1, typeB: 0, typeC: 1})
	for name := range s {
		if strings.HasPrefix(name, "fxruntime.") {
			t.Errorf("without a runtime, %s was reported", name)
		}
	}

	// Each collection reads the bus anew.
	fxbus.Emit(bus, evA{4})
	a.Close()
	fxbus.Emit(bus, evA{5})
	s = collect(t, reader)
	s.want(t, "fxbus.emitted.events", map[string]float64{typeA: 4, typeB: 0, typeC: 6})
	s.want(t, "fxbus.dropped.events", map[string]float64{typeA: 1, typeB: 2, typeC: 0})
	s.want(t, "fxbus.subscription.count", map[string]float64{typeA: 0, typeB: 0, typeC: 1})
}

func TestNewRefusesNilBus(t *testing.T) {
	m, err := metrics.New(nil, nil)
	if err == nil || !strings.Contains(err.Error(), "*fxbus.Bus") || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("New(nil, nil) = %v, %v; want an error naming the nil bus", m, err)
	}
}

func TestCloseUnregistersTheInstrumentsAndIsIdempotent(t *testing.T) {
	bus := newBus(t)
	mp, reader := newProvider(t)
	rt, err := lifecycle.New(bus, lifecycle.WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(bus, rt, metrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	fxbus.Subscribe[evA](bus).Close()
	if s := collect(t, reader); len(s["fxbus.emitted.events"]) == 0 || len(s["fxruntime.state"]) != 5 {
		t.Fatalf("before Close: %v", s)
	}
	for i := range 2 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	s := collect(t, reader)
	for _, name := range []string{"fxbus.emitted.events", "fxbus.subscription.count", "fxruntime.state", "fxruntime.gate.in_flight"} {
		if len(s[name]) != 0 {
			t.Errorf("after Close, %s = %v", name, s[name])
		}
	}
	if n := fxbus.SubscriberCount[lifecycle.Event](bus); n != 0 {
		t.Errorf("after Close, %d subscriptions to lifecycle.Event remain", n)
	}
}

// runtimeWithFailures is a runtime whose run has, in order: task "flaky"
// (Restart) failing once and restarted; task "once" (Ignore) failing once;
// and a provider "config" whose validation refuses every reload.
func runtimeWithFailures(t *testing.T, bus *fxbus.Bus) (rt *lifecycle.Runtime, restarted <-chan struct{}) {
	t.Helper()
	var attempts atomic.Int32
	second := make(chan struct{})
	flaky := lifecycle.Task{
		Name:    "flaky",
		Policy:  lifecycle.Restart,
		Restart: lifecycle.RestartPolicy{Initial: time.Millisecond, Jitter: lifecycle.NoJitter},
		Run: func(ctx context.Context) error {
			if attempts.Add(1) == 1 {
				return errors.New("flaky: first run fails")
			}
			close(second)
			<-ctx.Done()
			return nil
		},
	}
	once := lifecycle.Task{Name: "once", Policy: lifecycle.Ignore, Run: func(context.Context) error {
		return errors.New("once: fails")
	}}
	config := lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{
		Validate: func(context.Context) error { return errors.New("config: invalid") },
	})
	rt, err := lifecycle.New(bus, lifecycle.WithoutSignals(),
		lifecycle.WithTasks(flaky, once), lifecycle.WithProviders(config))
	if err != nil {
		t.Fatal(err)
	}
	return rt, second
}

func TestRuntimeInstrumentsWithoutFx(t *testing.T) {
	bus := newBus(t)
	mp, reader := newProvider(t)
	rt, restarted := runtimeWithFailures(t, bus)
	m, err := metrics.New(bus, rt, metrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	failed := fxbus.Subscribe[lifecycle.TaskFailedEvent](bus)
	defer failed.Close()

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	collect(t, reader).want(t, "fxruntime.state", map[string]float64{
		"fxruntime.state=booting": 1, "fxruntime.state=running": 0, "fxruntime.state=reloading": 0,
		"fxruntime.state=shutting_down": 0, "fxruntime.state=stopped": 0,
	})
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-restarted:
	case <-ctx.Done():
		t.Fatal("task flaky was not restarted")
	}
	// A task that fails after shutdown began is stopped, not failed: wait
	// for both failures.
	for range 2 {
		if _, err := failed.Recv(ctx); err != nil {
			t.Fatalf("waiting for the tasks to fail: %v", err)
		}
	}
	var rerr *lifecycle.ReloadError
	if err := rt.Reload(ctx); !errors.As(err, &rerr) || rerr.Applied {
		t.Fatalf("Reload = %v, want a refused *ReloadError", err)
	}
	p1, err := rt.Gate().Enter()
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := rt.Gate().Enter()
	s := collect(t, reader)
	s.want(t, "fxruntime.state", map[string]float64{
		"fxruntime.state=booting": 0, "fxruntime.state=running": 1, "fxruntime.state=reloading": 0,
		"fxruntime.state=shutting_down": 0, "fxruntime.state=stopped": 0,
	})
	s.want(t, "fxruntime.gate.in_flight", map[string]float64{"": 2})
	p1.Release()
	p2.Release()

	if err := rt.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil { // records what the runtime emitted
		t.Fatal(err)
	}
	s = collect(t, reader)
	s.want(t, "fxruntime.task.starts", map[string]float64{
		"fxruntime.task.name=flaky": 2, "fxruntime.task.name=once": 1,
	})
	s.want(t, "fxruntime.task.failures", map[string]float64{
		"fxruntime.task.name=flaky,fxruntime.task.policy=restart": 1,
		"fxruntime.task.name=once,fxruntime.task.policy=ignore":   1,
	})
	s.want(t, "fxruntime.task.restarts", map[string]float64{
		"fxruntime.task.name=flaky,fxruntime.task.policy=restart": 1,
	})
	s.want(t, "fxruntime.reload.duration", map[string]float64{"fxruntime.reload.outcome=refused": 1})
	s.want(t, "fxruntime.drain.duration", map[string]float64{
		"fxruntime.drain.outcome=drained,fxruntime.drain.step=gate":  1,
		"fxruntime.drain.outcome=drained,fxruntime.drain.step=tasks": 1,
	})
	if _, ok := s["fxruntime.forced_exits"]; ok {
		t.Errorf("forced exits reported without one: %v", s["fxruntime.forced_exits"])
	}
}

func TestTaskNamesPastMaxTaskNamesShareOtherTasks(t *testing.T) {
	bus := newBus(t, fxbus.WithCapacity(1024)) // every event of the burst is kept
	mp, reader := newProvider(t)
	rt, err := lifecycle.New(bus, lifecycle.WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(bus, rt, metrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// MaxTaskNames+2 distinct names, then the first one again once it has
	// ended (a live task's name is taken).
	stopped := fxbus.Subscribe[lifecycle.TaskStoppedEvent](bus)
	defer stopped.Close()
	run := func(name string) {
		t.Helper()
		if err := rt.Go(name, func(context.Context) error { return nil }, lifecycle.WithPolicy(lifecycle.Ignore)); err != nil {
			t.Fatal(err)
		}
		if _, err := stopped.Recv(ctx); err != nil {
			t.Fatalf("task %s: %v", name, err)
		}
	}
	for i := range metrics.MaxTaskNames + 2 {
		run(fmt.Sprintf("job-%03d", i))
	}
	run("job-000")
	if err := rt.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	want := map[string]float64{}
	for i := range metrics.MaxTaskNames {
		want[fmt.Sprintf("fxruntime.task.name=job-%03d", i)] = 1
	}
	want["fxruntime.task.name=job-000"] = 2
	want["fxruntime.task.name="+metrics.OtherTasks] = 2
	collect(t, reader).want(t, "fxruntime.task.starts", want)
}
