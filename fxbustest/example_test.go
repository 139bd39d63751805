package fxbustest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// OrderPlaced is the event of the examples.
type OrderPlaced struct{ ID string }

// exampleT stands in, in these examples, for the *testing.T of the test
// they would be part of: it prints failures, so that a failing example
// shows the message, and runs the cleanups when the example ends.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (*exampleT) Helper()                      {}
func (*exampleT) Logf(string, ...any)          {}
func (*exampleT) Errorf(f string, args ...any) { fmt.Printf(f+"\n", args...) }
func (*exampleT) Fatalf(f string, args ...any) { fmt.Printf(f+"\n", args...) }
func (*exampleT) FailNow()                     { fmt.Println("FailNow") }
func (e *exampleT) Cleanup(f func())           { e.cleanups = append(e.cleanups, f) }

func (e *exampleT) end() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func ExampleRecord() {
	t := &exampleT{} // in a test: t *testing.T
	defer t.end()

	bus, _ := fxbus.New()
	defer bus.Close()
	orders := fxbustest.Record[OrderPlaced](t, bus)

	fxbus.Emit(bus, OrderPlaced{ID: "1"})
	fxbus.Emit(bus, OrderPlaced{ID: "2"})
	fmt.Println(orders.WaitN(t, 2, time.Second))
	// Output: [{1} {2}]
}

// A failed wait ends the test with what was recorded.
func ExampleRecorder_WaitN_failure() {
	t := &exampleT{}
	defer t.end()

	bus, _ := fxbus.New()
	defer bus.Close()
	orders := fxbustest.Record[OrderPlaced](t, bus)

	fxbus.Emit(bus, OrderPlaced{ID: "1"})
	orders.WaitN(t, 2, 10*time.Millisecond)
	// Output:
	// fxbustest: Recorder[fxbustest_test.OrderPlaced]: after 10ms, still waiting for 2 fxbustest_test.OrderPlaced events
	// recorded 1 event(s): 1 fxbustest_test.OrderPlaced
	//   ->   0 fxbustest_test.OrderPlaced {ID:1}
}

// Recording lifecycle.Event sees every phase of the runtime in order;
// WaitFor picks the events of one type out of it.
func ExampleWaitFor() {
	t := &exampleT{}
	defer t.end()

	bus, _ := fxbus.New()
	defer bus.Close()
	events := fxbustest.Record[lifecycle.Event](t, bus)
	rt, _ := lifecycle.New(bus, lifecycle.WithoutSignals(), lifecycle.WithTasks(lifecycle.Task{
		Name:   "indexer",
		Policy: lifecycle.Ignore,
		Run:    func(context.Context) error { return errors.New("disk full") },
	}))
	_ = rt.Start(context.Background())
	defer rt.Stop(context.Background())

	failed := fxbustest.WaitFor(t, events, time.Second, func(ev lifecycle.TaskFailedEvent) bool {
		return ev.Name == "indexer"
	})
	fmt.Println(failed.Name, failed.Attempt, failed.Err)
	// Output: indexer 1 disk full
}

// Under Fx, Provide records from the moment the application is built, and
// WaitClosed after the stop returns the whole run.
func ExampleProvide() {
	t := &exampleT{}
	defer t.end()

	var events *fxbustest.Recorder[lifecycle.Event]
	app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module, // in a test: fxtest.New(t, ...)
		lifecycle.With(lifecycle.WithoutSignals()),
		fxbustest.Provide[lifecycle.Event](t),
		fx.Populate(&events))
	ctx := context.Background()
	_ = app.Start(ctx)
	_ = app.Stop(ctx)

	for _, ev := range events.WaitClosed(t, time.Second) {
		fmt.Println(strings.TrimPrefix(fmt.Sprintf("%T", ev), "lifecycle."))
	}
	// Output:
	// BootedEvent
	// ReadyEvent
	// GateDrainedEvent
	// DrainCompletedEvent
	// StoppedEvent
}

// Handler.Wait returns once the handler has handled every event emitted
// before the call: the test checks its effect without sleeping.
func ExampleHandle() {
	t := &exampleT{}
	defer t.end()

	var booked atomic.Int64
	var bus *fxbus.Bus
	var ledger *fxbustest.Handler[OrderPlaced]
	app := fx.New(fx.NopLogger, fxbus.Module,
		fxbustest.Handle(func(context.Context, OrderPlaced) error {
			booked.Add(1)
			return nil
		}),
		fx.Populate(&bus, &ledger))
	ctx := context.Background()
	_ = app.Start(ctx)
	defer app.Stop(ctx)

	for _, id := range []string{"1", "2", "3"} {
		fxbus.Emit(bus, OrderPlaced{ID: id})
	}
	ledger.Wait(t, time.Second)
	fmt.Println("booked", booked.Load())
	// Output: booked 3
}

// OrderShipped is emitted by the shipping handler of ExampleSettle.
type OrderShipped struct{ ID string }

// Settle waits for a chain of handlers: shipping handles OrderPlaced and
// emits OrderShipped, which mail handles.
func ExampleSettle() {
	t := &exampleT{}
	defer t.end()

	var mailed atomic.Int64
	var bus *fxbus.Bus
	var shipping *fxbustest.Handler[OrderPlaced]
	var mail *fxbustest.Handler[OrderShipped]
	app := fx.New(fx.NopLogger, fxbus.Module,
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			shipping = fxbustest.Listen(lc, b, func(_ context.Context, ev OrderPlaced) error {
				fxbus.Emit(b, OrderShipped(ev))
				return nil
			})
		}),
		fxbustest.Handle(func(context.Context, OrderShipped) error {
			mailed.Add(1)
			return nil
		}),
		fx.Populate(&bus, &mail))
	ctx := context.Background()
	_ = app.Start(ctx)
	defer app.Stop(ctx)

	fxbus.Emit(bus, OrderPlaced{ID: "1"})
	fxbus.Emit(bus, OrderPlaced{ID: "2"})
	fxbustest.Settle(t, time.Second, mail, shipping)
	fmt.Println("mailed", mailed.Load())
	// Output: mailed 2
}
