// Package metrics reports the counters of an [fxbus.Bus] and of a
// [lifecycle.Runtime] as OpenTelemetry instruments, for dashboards and
// alerts: events emitted, dropped and missed per event type, the runtime's
// state, task failures and restarts, reloads, drains and forced exits.
//
// It is a module of its own, on the OpenTelemetry metric API
// (go.opentelemetry.io/otel/metric), so that the core fxruntime module keeps
// fx, dig and zap as its only dependencies. Bring the SDK and the exporter
// of your choice; the example under examples/prometheus serves /metrics for
// Prometheus.
//
// # Wiring
//
// With Fx, add [Module] next to fxbus.Module and lifecycle.Module. It takes
// the metric.MeterProvider from the graph, or else the global one
// (otel.GetMeterProvider):
//
//	fx.New(
//		fxbus.Module,
//		lifecycle.Module,
//		metrics.Module,
//		fx.Provide(fx.Annotate(newMeterProvider, fx.As(new(metric.MeterProvider)))),
//	)
//
// Without Fx, call [New] before the runtime starts, and [Metrics.Close] once
// it has stopped:
//
//	m, err := metrics.New(bus, rt, metrics.WithMeterProvider(mp))
//
// A nil runtime, or an application without lifecycle.Module, gives the bus
// instruments only.
//
// # Instruments
//
// The meter is named [ScopeName]. Prometheus names, through the
// OpenTelemetry Prometheus exporter, are in parentheses.
//
//   - fxbus.emitted.events, counter, {event}, by fxbus.event.type
//     (fxbus_emitted_events_total): emits that found a live subscriber.
//   - fxbus.dropped.events, counter, {event}, by fxbus.event.type
//     (fxbus_dropped_events_total): emits of a subscribed-to type that found
//     none.
//   - fxbus.missed.events, counter, {event}, by fxbus.event.type
//     (fxbus_missed_events_total): events lagging subscribers lost.
//   - fxbus.subscription.count, updowncounter, {subscription}, by
//     fxbus.event.type (fxbus_subscription_count): live subscriptions.
//   - fxruntime.state, updowncounter, {state}, by fxruntime.state
//     (fxruntime_state): 1 for the current state (booting, running,
//     reloading, shutting_down, stopped), 0 for the others.
//   - fxruntime.gate.in_flight, updowncounter, {permit}
//     (fxruntime_gate_in_flight): work admitted by the runtime's gate and not
//     yet released.
//   - fxruntime.task.starts, counter, {start}, by fxruntime.task.name
//     (fxruntime_task_starts_total): runs of tasks begun, restarts included.
//   - fxruntime.task.failures, counter, {failure}, by fxruntime.task.name and
//     fxruntime.task.policy (fxruntime_task_failures_total).
//   - fxruntime.task.restarts, counter, {restart}, by fxruntime.task.name and
//     fxruntime.task.policy (fxruntime_task_restarts_total).
//   - fxruntime.reload.duration, histogram, s, by fxruntime.reload.outcome:
//     success, refused (validation failed, nothing reloaded) or failed
//     (fxruntime_reload_duration_seconds); its count is the number of reloads.
//   - fxruntime.drain.duration, histogram, s, by fxruntime.drain.step (gate,
//     tasks) and fxruntime.drain.outcome (drained, timeout)
//     (fxruntime_drain_duration_seconds): the stop's waits.
//   - fxruntime.forced_exits, counter, {exit} (fxruntime_forced_exits_total):
//     exits forced by a second signal during shutdown.
//
// # Cost
//
// The bus instruments and the runtime's state and in-flight work are
// observable: a collection reads them from [fxbus.Bus.Stats], the runtime
// and its gate. Nothing runs on the emit path, which costs the same with
// metrics on as off (BenchmarkEmit compares the two). The other runtime
// instruments are recorded by one handler of lifecycle.Event, the closed set
// of the runtime's events, on its own goroutine.
//
// # Cardinality
//
// No attribute takes a per-event value. Event types and states are fixed by
// the program; task names too, except for tasks started with per-job names
// with lifecycle.Runtime.Go: past [MaxTaskNames] distinct names, tasks are
// counted under the name [OtherTasks].
//
// # Event type names
//
// fxbus.event.type is [fxbus.Stats.Type]: the type named by the full
// import path of each named type in it ("github.com/acme/shop/orders.Placed"),
// so that two packages named orders are told apart. (Two types declared
// inside functions of one package may share a name: their counts are
// summed under it, so that no event goes uncounted.)
//
// # Limits
//
//   - The instruments of [Module] stay registered after the application
//     stops, so that a last collection sees the stopped runtime. An
//     application started again gets a bus with no ring of the old run: the
//     bus counters start again from zero, which Prometheus reads as a counter
//     reset (rate and increase handle it).
//   - If the handler of lifecycle.Event falls more than the bus capacity
//     behind, the events it lost are not recorded; the bus counts them in
//     fxbus.missed.events for the type lifecycle.Event.
//   - A push exporter exports at the MeterProvider's shutdown what was
//     recorded by then.
package metrics
