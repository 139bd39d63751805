// Package fxbustest helps tests assert on the events of an fxbus.Bus
// without polling loops or sleeps, with or without Fx.
//
// # Recording events
//
// A [Recorder] records every event of one type from the moment it is made:
// [Record] on a bus, or [Provide] in an Fx application, where it is made
// with the application so that the events of its start are recorded too.
// Its waits take the test's testing.TB and a timeout, and on failure end
// the test with what was recorded (how many events of which types, and the
// last ones with their values) rather than only "timed out":
//
//	events := fxbustest.Record[lifecycle.Event](t, bus)
//	// ... start the runtime, make a task fail ...
//	failed := fxbustest.WaitFor(t, events, time.Second, func(ev lifecycle.TaskFailedEvent) bool {
//		return ev.Name == "indexer"
//	})
//
// Recording lifecycle.Event, the closed set of the runtime's events, sees
// every phase in the order the runtime went through them.
//
// # Waiting for handlers
//
// A handler registered with fxbus.Listen runs on its own goroutine; a test
// that emits an event and then checks the handler's effect must wait for
// it. [Listen] and [Handle] register the handler as fxbus does and return
// a [Handler] whose [Handler.Wait] returns once it has handled every event
// of its type emitted so far; [Settle] does it for several handlers that
// emit events for each other, until none is left to handle. They wake when
// the handler finishes an event: no sleep, no polling.
//
// They see only the handlers registered through this package: a handler
// that the application under test registers with fxbus.Listen itself
// cannot be waited for this way (wait for an event it emits, or for its
// effect, instead).
//
// # Fx and fxtest
//
// Everything works with fxtest and fxbus.Module: [Provide] and [Handle]
// are fx.Options, and under fxbus.Module the bus closes at the end of the
// application's stop, so [Recorder.WaitClosed] after app.RequireStop()
// returns every event of the run, the runtime's last ones included.
//
// # Time
//
// The bus and the lifecycle runtime run inside a testing/synctest bubble
// (Go 1.25 and later): a test of restart backoff or a reload timeout runs
// in fake time, deterministically and at once, without a fake clock. The
// waits of this package use timers, which in a bubble use the bubble's
// clock too; synctest.Wait is the bubble's own "everything is idle".
//
// # Failures
//
// The waits end the test with tb.Fatalf, so call them from the test's
// goroutine, as testing requires of FailNow.
package fxbustest
