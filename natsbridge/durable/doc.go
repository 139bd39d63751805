// Package durable carries typed events over NATS JetStream, for work that
// must not be lost: at-least-once where natsbridge's core NATS routes are
// at-most-once.
//
//	stream, err := durable.EnsureStream(ctx, js, durable.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
//	pub, err := durable.NewPublisher[OrderPlaced](js, "orders.placed")
//	ack, err := pub.Publish(ctx, OrderPlaced{ID: "42"}) // returns once stored
//	c, err := durable.Consume(ctx, js, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"}, bill)
//	defer c.Stop(ctx)
//
// Guarantees:
//
//   - [Publisher.Publish] returns nil only once the server has stored the
//     event; an error names the event ([PublishError]) and leaves it
//     stored or not. Events that implement [Identified] are stored once
//     per ID within the stream's duplicate window, so publishing again
//     after an error is safe. [AsyncPublisher] bounds the unacknowledged
//     publishes and gives every failure to OnError with the event.
//   - A message is acknowledged only after its handler returned nil, so
//     every stored event is handled at least once by some process sharing
//     the durable consumer. A process that dies (even SIGKILL) leaves its
//     unacknowledged messages to be delivered again after AckWait; the
//     events handled twice are at most those it had in flight
//     ([ConsumerConfig.MaxAckPending]). Handlers must therefore be
//     idempotent.
//   - Nothing is dropped silently: handler errors are retried with
//     backoff; a [Permanent] error, an undecodable message or one of
//     another type is terminated, logged and counted ([Stats]); a message
//     of a newer schema ([Versioned]) is given back for a process that
//     knows it.
//   - A stream or consumer that exists with another configuration than
//     the declared one is a [MismatchError] naming the field; nothing is
//     changed on the server.
//
// The events pass from the server to the handler directly, not through
// the bus, whose bounded rings may drop an event for a lagging
// subscriber; [ConsumerConfig.Bus] re-emits each event on the bus after
// its acknowledgment, for information only.
//
// Under Fx, [Module] gives a [Client] on natsbridge.Module's connection,
// [Stream] declares the streams it ensures at start, [ProvidePublisher]
// provides a Publisher, and [Listen] runs a consumer whose OnStop comes
// after fxbus.ShutdownInitiatedEvent and before the connection and the
// bus close. An application started again after a stop, on a
// *natsbridge.Conn that outlives its runs, gets all of them working
// again: the consumer of Listen binds the durable consumer again at each
// start and handles what the previous runs left, its [Stats] counting
// every run. A Consumer of [Consume] serves one run.
package durable
