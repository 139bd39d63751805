// Package fxbus is a process-local, typed publish/subscribe bus for Go
// programs, with an Uber Fx module that ties it to the application's
// lifecycle.
//
// Any package defines its own event type, any Go type, and emits or
// subscribes to it without touching this package:
//
//	type OrderPlaced struct{ ID string }
//
//	sub := fxbus.Subscribe[OrderPlaced](bus)
//	defer sub.Close()
//	fxbus.Emit(bus, OrderPlaced{ID: "42"})
//	ev, err := sub.Recv(ctx)
//
// It is a Go port of the events module of the Rust crate runtime-rs, which
// rides on tokio's sync::broadcast; the semantics are the same.
//
// # Rings
//
// Each event type has one bounded broadcast ring, created by the first
// [Subscribe] of that type. The type is the static type E, so
// `type Celsius float64` and float64 are different events. The ring retains
// the last capacity events of its type ([WithCapacity], default
// [DefaultCapacity]); every subscriber reads them at its own pace from its
// own position, so an event is stored once whatever the number of
// subscribers.
//
// [Emit] never blocks and never allocates. Emitting a type nobody subscribed
// to, or whose subscribers have all closed, does nothing and returns 0.
// Otherwise Emit returns the number of subscribers the event was queued
// for; its cost does not grow with that number, except for waking the
// subscribers that are parked waiting.
//
// # Ordering and lag
//
// A subscriber sees every event emitted after [Subscribe] returned, in emit
// order, and none emitted before it. Events from one goroutine keep their
// order; events from several goroutines are ordered as they reached the
// ring.
//
// A subscriber that falls more than capacity events behind has lost the
// oldest ones: its next receive returns a [*LaggedError] with the number
// missed (errors.Is(err, [ErrLagged])), and the receive after that returns
// the oldest event still retained. So every event is, for each subscriber
// that was live when it was emitted, either delivered or counted as missed:
// nothing is dropped silently. Choose the capacity from the longest burst a
// subscriber must absorb; [Bus.Stats] tells how many events were missed.
//
// # Receiving
//
// [Subscription.Recv] blocks until an event, the close of the bus or of the
// subscription, or the end of its context. [Subscription.TryRecv] never
// blocks. [Subscription.RecvMany] and [Subscription.TryRecvMany] take every
// waiting event under one acquisition of the ring's lock, much cheaper for
// a reader that has fallen behind. [Subscription.Ready] returns a channel
// to wait on in a select next to other channels, and [Subscription.All] an
// iterator for range loops. One goroutine at a time may receive from a
// subscription.
//
// # Closing and memory
//
// [Bus.Close] wakes every parked receiver. Subscribers first drain what was
// buffered for them, then get [ErrClosed]; later emits return 0 and later
// subscriptions are closed from the start. [Subscription.Close] stops
// counting the subscriber and releases its claim on every event it had not
// read. Once every subscriber that was live when an event was emitted has
// received it or closed, the bus holds no reference to it and the garbage
// collector can take it. Both Close methods are idempotent.
//
// # Fx
//
// [Module] provides one *Bus to an Fx application, built from an optional
// [Config] and *zap.Logger in the graph. [Listen] and [Handle] run a handler
// for a type for the life of the app; [ProvideEmitter] and
// [ProvideSubscriber] make who emits and who listens to what visible in
// the Fx graph.
//
// # Shutdown
//
// [Module] emits the built-in [ShutdownInitiatedEvent] event before the first
// OnStop hook of any module runs, so that every subscriber has it in its
// buffer when its own module starts to stop, and closes the bus after every
// other OnStop hook, so that events emitted while stopping still arrive.
// This holds for app.Stop, for a signal under app.Run and for
// fx.Shutdowner, whatever the order in which modules are given to fx.New.
// The lifecycle package announces the same event, with a cause, when it
// starts a shutdown; the bus makes sure one stop gives one
// event.
//
// How: Fx runs OnStop hooks in the reverse order of their OnStart hooks,
// and offers no hook that runs before all of them. Module therefore
// decorates fx.Lifecycle in the root scope: every hook appended through it
// gets its OnStop preceded by the announcement, and the first one to run
// announces (waiting, if another goroutine is announcing, for it to
// finish); its OnStart is followed by a count, so the bus knows when the
// last one has returned. The decorator also appends
// the application's very first hook to the undecorated lifecycle; it stops
// last and closes the bus. The costs:
//
//   - Pass Module at the top level of fx.New. Inside a user's fx.Module it
//     decorates only that module's scope; the application's start then
//     fails with an error saying so, as soon as a hook was appended
//     outside that scope.
//   - fx.Lifecycle can no longer be decorated or replaced at the root by the
//     application (Fx refuses a second decoration of a type in one scope).
//   - Fx's event log names the hook's own OnStart and OnStop functions
//     (its "callee"), for hooks built as fx.Hook values as for those
//     built with fx.StartHook, fx.StopHook and fx.StartStopHook. It names
//     this package as every hook's caller: Fx records the frame that
//     calls its Append, and has no way to set it. One form loses a name:
//     a hook made with fx.StartHook(f) (or StopHook) for an f that is not
//     a func(context.Context) error, whose other function is then set by
//     assignment; Fx records names only through those constructors, so
//     its log shows that other function as the bus's wrapper, and the bus
//     logs its execution (debug) and failure (error) under its real name.
//   - Hooks appended to an fx.Lifecycle obtained some other way than from
//     the graph (none are, in ordinary Fx code) are not covered.
//
// # Runs and failures
//
// Under [Module] the bus follows the application's runs. When the start
// fails, in whatever way (a hook's error, the start timeout, a panic or a
// call of runtime.Goexit in a hook, which the decoration turns into
// errors), [ShutdownInitiatedEvent] is announced once ("fx: start failed"),
// and the run ends: Fx rolls back the hooks that started, and when it
// cannot (its start context is done) the bus ends the run itself, so that
// the bus closes and every handler ends without app.Stop. When a stop
// passes its deadline, Fx skips the OnStop hooks left: the bus closes at
// once, waking every reader. A run ends with the bus closed; an
// application started again gets it open again, with no ring and no
// subscription of the old run, and every [Listen] handler subscribed
// anew. [Listen] documents until when a handler runs.
//
// # Panics
//
// A handler run by [Listen] that panics, or calls runtime.Goexit, has the
// failure logged with the stack and goes on with its next event; a hook
// of the application that does so under [Module] fails the start or the
// stop with an error instead of crashing the process. errgroup lets a
// panic crash the process and conc re-raises it at Wait; a bus has no
// Wait, and one handler's bug must not take down the components that
// share the process with it, so the failure is reported where the
// service's logs and start or stop errors already go.
//
// # Logging
//
// Emit logs at debug level with the event type; with debug disabled the
// check costs one call and allocates nothing. Handlers run by [Listen] log
// their errors, panics (with the stack) and lags at error and warn level.
package fxbus
