// Package natsbridge carries the typed events of an [fxbus.Bus] between
// processes over NATS (https://nats.io), with the bus's API: a process
// emits an event with fxbus.Emit, another receives the same Go type from
// its own bus.
//
// Each event type is bridged by a declaration, one line per type and
// direction:
//
//	c, err := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: "nats://127.0.0.1:4222"})
//	natsbridge.Forward[OrderPlaced](c, "orders.placed") // local -> NATS
//	natsbridge.Receive[OrderShipped](c, "orders.shipped") // NATS -> local
//
// or, in an Fx application, with [Module] and [Bridge], [BridgeOut],
// [BridgeIn] and [BridgeShutdown].
//
// # Routes
//
// A route joins one event type to one subject in one direction. An
// outbound route ([Forward]) subscribes to its type on the bus and
// publishes each event from one goroutine, in emit order. An inbound route
// ([Receive]) subscribes to its subject (wildcards allowed) and emits each
// message on the bus, in arrival order. Local subscribers cannot tell a
// received event from a local one: ordering, lag and close are the bus's.
//
// # Subjects
//
// A subject the server refuses makes it close the connection for good,
// ending every route of the Conn, so [Forward], [Receive] and
// [ForwardShutdown] check it first and fail with [ErrInvalidSubject],
// naming the subject and the rule: not empty and at most
// [MaxSubjectLength] bytes; tokens separated by single dots (no empty
// token, no dot at either end); no white space or control character;
// valid UTF-8. Receive accepts the wildcard tokens "*" (one token) and
// ">" (the rest, so last only); Forward, which publishes to one subject,
// accepts neither. "*" or ">" inside a longer token is an ordinary
// character.
//
// # Codecs
//
// A route encodes with [JSON] unless given another [Codec] with
// [WithCodec]. All processes bridging a subject must agree on its codec.
// JSON decodes strictly: a payload that is not the JSON of E (an unknown
// or missing field, null for a value, a value of another type) is a
// decode failure, counted and logged, never a zero or partial E; set
// [JSON].Lenient while peers change E.
// A type bridged both ways needs a deterministic codec (equal events,
// equal bytes): see "Echo".
//
// # Echo
//
// Every message carries the [Conn.Origin] of its sender in the
// [HeaderOrigin] header, and an inbound route skips the messages of its
// own Conn (the client also asks the server not to send them) and of the
// other Conns on the same bus. A process also never sends back what it
// received, however far its outbound routes lag: when A and B both bridge
// a type both ways, an event emitted on A reaches B once and stops there
// ([Stats.Echoes] counts the events not sent back). This holds across the
// Conns of one bus too: an event one of them received is forwarded by
// none, so two Conns on one bus bridging the same subject (one would do)
// cannot pass events back and forth; they only duplicate what they both
// send and both receive.
//
// The bus carries bare values, so an outbound route tells a received
// event from a local one by its position in the bus's ring; a received
// event the route fell too far behind to read is counted in
// [Stats.Missed], like a local one. Only when a local event
// of the same type is emitted at the very moment a received one is do
// positions not tell them apart, and their encodings decide: a codec for a
// type bridged both ways must therefore be deterministic (equal events,
// equal bytes), and of a local event and an equal received one emitted at
// the same moment, one is sent.
//
// # Delivery
//
// Core NATS delivers at most once: a message reaches the subscribers
// connected when the server routes it, or nobody; there is no
// acknowledgment, persistence or redelivery. What the bridge loses, it
// counts in [Conn.Stats] when it can know:
//
//   - an event the client refuses (reconnect buffer full, connection
//     closed or draining, payload too large): outbound [Stats.Dropped];
//   - an event the outbound route never read because it fell more than the
//     bus capacity behind: [Stats.Missed];
//   - a payload the codec cannot encode or decode: [Stats.EncodeFailures],
//     [Stats.DecodeFailures] (each logged with the subject and the error);
//   - a message the client discarded because an inbound route could not
//     keep up (a slow consumer, past [Config.PendingMsgs] or
//     [Config.PendingBytes]): inbound [Stats.Dropped];
//   - a message an inbound route was still handling when [Conn.Close],
//     cut short by its context, returned (or, under [Module], when the
//     run ended): inbound [Stats.Dropped], and logged (see "Runs");
//   - a received event a slow local subscriber missed: the bus's own
//     fxbus.Stats Missed, as for any event.
//
// Once [Conn.Close] has returned nil the counters are final (under
// [Module], until the next run). Not counted,
// because no one can see them: messages written to a socket the moment the
// connection broke, messages published while a receiver was disconnected
// or not yet subscribed, the reconnect buffer ([Stats.Buffered]) when the
// connection is closed before it reconnects, and what the client still
// held for inbound routes when Close's context ended before the drain did
// (Close's error says about how many, counting the messages the routes
// were handling, which are counted as said above).
// A system that needs every event needs acknowledgments and replay
// (JetStream), which this package does not do.
//
// # Connection
//
// [Conn.Start] connects once per server of the URL, within
// [Config.ConnectTimeout] and the context's deadline, and fails with an
// error naming the URL (without its password): it does not retry a first
// connection. Afterwards the client reconnects by itself, and the bridge
// emits [DisconnectedEvent], [ReconnectedEvent] and [ClosedEvent] on the bus. While
// disconnected, forwarded events go to the client's reconnect buffer
// ([Config.ReconnectBufSize]) and are sent on reconnect; past its limit
// they are dropped and counted.
//
// # Runs
//
// A Conn built by [New] or [Connect] serves once: after [Conn.Close],
// [Conn.Start] fails (the error wraps [ErrClosed]) and a new Conn is
// needed. The Conn of [Module] serves every run of the application: an
// application started again after a stop (app.Start, app.Stop, app.Start
// on one *fx.App, as fxtest and some supervisors do) is bridged again with
// the routes declared at construction. fxbus.Module opens the bus again,
// empty, when the new run begins; before any other OnStart hook, the
// outbound routes subscribe to it again, so they forward every event of
// the new run, those of the hooks that start before the bridge's
// included; the bridge's OnStart connects anew and the inbound routes
// subscribe again. The echo guard and what the Conns of the bus share are
// the new run's. [Conn.Stats] counters go on counting across the runs;
// [Conn.Origin] stays the same; [Conn.NATS] returns the current run's
// connection. A run whose stop passed its deadline before the bridge's
// OnStop (Fx then skips it) is closed at once when the run ends. A
// message received in a run reaches that run's subscribers or none: when
// a stop's deadline cut the bridge's Close short while an inbound route
// was still handling a message, the route does not emit it once the run
// has ended, so never into the next run; it counts it in [Stats.Dropped]
// and logs it. The same holds for [DisconnectedEvent], [ReconnectedEvent]
// and [ClosedEvent]: the client may run its connection handlers after
// such a Close has returned, and an event of a run that has ended is
// logged, not emitted, so that the next run's subscribers never take the
// old connection's close for their own. One case
// forwards less: when a stop deadline cut the bridge's own Close short and
// the application is started again while that run's outbound goroutines
// are still ending, the outbound routes subscribe at the bridge's OnStart
// instead, and the events of the OnStart hooks that ran before it are not
// forwarded.
//
// # Shutdown
//
// fxbus.ShutdownInitiatedEvent carries an error, which JSON cannot carry; it has
// a wire form, [PeerShutdownEvent], published by [ForwardShutdown] and received
// as a type of its own (a peer leaving is not this process shutting down).
// ForwardShutdown publishes from the bus's announcement itself, which
// fxbus.Module makes before the first OnStop hook; [Conn.Close] (the
// module's OnStop) then forwards what is waiting and drains the
// connection, so peers learn that the process leaves whatever the hook
// order. The PeerShutdownEvent is a message of its own subject: it may reach a
// peer before events emitted just before the shutdown, which Close still
// forwards.
package natsbridge
