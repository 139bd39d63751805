// Package natsmetrics reports the counters of a [natsbridge.Conn] as
// OpenTelemetry instruments, for dashboards and alerts: per route, the
// events forwarded, buffered, dropped, missed, received, skipped as echoes
// and the codec's failures, and the state of the connection.
//
// It lives in the natsbridge module, on the OpenTelemetry metric API
// (go.opentelemetry.io/otel/metric), so that the metrics module does not
// depend on NATS and the core fxruntime module on neither. Bring the SDK and
// the exporter of your choice; see the package example for Prometheus.
//
// # Wiring
//
// With Fx, add [Module] next to natsbridge.Module. It takes the
// metric.MeterProvider from the graph, or else the global one
// (otel.GetMeterProvider):
//
//	fx.New(
//		fxbus.Module,
//		natsbridge.Module,
//		natsmetrics.Module,
//		fx.Supply(natsbridge.Config{URL: url}),
//		fx.Provide(fx.Annotate(newMeterProvider, fx.As(new(metric.MeterProvider)))),
//	)
//
// Without Fx, call [New] with the Conn, at any time, and [Metrics.Close]
// when the instruments should no longer be read:
//
//	m, err := natsmetrics.New(conn, natsmetrics.WithMeterProvider(mp))
//
// # Instruments
//
// The meter is named [ScopeName]. Every instrument is observable: a
// collection reads [natsbridge.Conn.Stats] and the client's status, and
// nothing is added to the routes' paths, which cost the same with metrics on
// as off. Prometheus names, through the OpenTelemetry Prometheus exporter,
// are in parentheses.
//
// The route counters are counters of the route's fields of
// [natsbridge.Stats], by natsbridge.subject (the route's subject, wildcards
// included), natsbridge.direction (outbound or inbound) and
// natsbridge.event.type (Stats.Type). A route reports the counters of its
// direction:
//
//   - natsbridge.forwarded.events, {event}, outbound
//     (natsbridge_forwarded_events_total): Stats.Forwarded.
//   - natsbridge.buffered.events, {event}, outbound
//     (natsbridge_buffered_events_total): Stats.Buffered, the forwarded
//     events that went to the reconnect buffer.
//   - natsbridge.missed.events, {event}, outbound
//     (natsbridge_missed_events_total): Stats.Missed.
//   - natsbridge.encode.failures, {failure}, outbound
//     (natsbridge_encode_failures_total): Stats.EncodeFailures.
//   - natsbridge.received.events, {event}, inbound
//     (natsbridge_received_events_total): Stats.Received.
//   - natsbridge.decode.failures, {failure}, inbound
//     (natsbridge_decode_failures_total): Stats.DecodeFailures.
//   - natsbridge.dropped.events, {event}, both
//     (natsbridge_dropped_events_total): Stats.Dropped; outbound, events the
//     client refused; inbound, messages it discarded for a slow route.
//   - natsbridge.echoes.skipped, {event}, both
//     (natsbridge_echoes_skipped_total): Stats.Echoes.
//
// And the connection:
//
//   - natsbridge.connection.state, updowncounter, {state}, by
//     natsbridge.connection.state (natsbridge_connection_state): 1 for the
//     current state, 0 for the others. The states are not_started (no
//     client connection: Conn.Start not called yet, or failed), connecting,
//     connected, reconnecting, disconnected, draining (Conn.Close is
//     draining the connection) and closed.
//
// # Durable consumers
//
// [NewConsumer] reports the [durable.Stats] of a consumer of the durable
// package (a *durable.Consumer[E], from durable.Consume or durable.Listen)
// on the same meter, by natsbridge.durable.stream,
// natsbridge.durable.consumer and natsbridge.event.type (Stats.Type):
//
//   - counters, {message}: natsbridge.durable.delivered.messages,
//     redelivered.messages, acked.messages, retried.messages,
//     terminated.messages, newer_schema.messages and returned.messages
//     (Prometheus: natsbridge_durable_delivered_messages_total, ...), and
//     natsbridge.durable.decode.failures, {failure};
//   - updowncounters read from the server at each collection (within 2s):
//     natsbridge.durable.pending.messages, the consumer's lag, and
//     natsbridge.durable.ack_pending.messages. When the server does not
//     answer they are not reported and the collection returns the error;
//     before the consumer starts and once its connection is closed they
//     are not reported either, without an error.
//
// Under Fx, call it next to durable.Listen:
//
//	cons, err := durable.Listen(lc, client, cfg, handle)
//	if err != nil {
//		return err
//	}
//	_, err = natsmetrics.NewConsumer(cons, natsmetrics.WithMeterProvider(mp))
//
// # Cardinality
//
// No attribute takes a per-message value: the routes are the ones the
// program declares, and the states a fixed set. The subject of an inbound
// route is its subscription, "orders.>", never the subject a message came
// on.
//
// # Limits
//
//   - Stats.Type is reflect.Type.String, which types of two packages of
//     the same name share: the routes of such types on one subject and
//     direction are summed under that one name, so no event goes
//     uncounted, but they cannot be told apart.
//   - The data points carry no attribute of the Conn. The Metrics of
//     several Conns on one MeterProvider report under the same attributes,
//     which the OpenTelemetry SDK sums: the counts of routes alike are
//     added, and natsbridge.connection.state counts the Conns in each
//     state. To tell Conns apart, give each a MeterProvider of its own.
//   - The instruments of [Module] stay registered after the application
//     stops, so that a last collection sees the closed connection and the
//     final counts. An application started again gets a new Conn whose
//     counters start from zero, which Prometheus reads as a counter reset.
package natsmetrics
