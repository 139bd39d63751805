package durable

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Handler handles one event. It returns nil when done with it, an error
// to have it delivered again later, or an error wrapped by [Permanent]
// when it must never be delivered again.
type Handler[E any] func(context.Context, E) error

// permanentError marks a handler's error as permanent.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that another delivery cannot fix (an
// event the handler refuses): the message is terminated, counted in
// [Stats.Terminated] and logged, never delivered again. Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ConsumerConfig declares a durable consumer.
type ConsumerConfig struct {
	// Stream is the stream to consume; it must exist (see [EnsureStream]).
	Stream string
	// Durable is the consumer's name. Every process that consumes with the
	// same name shares the consumer: each message goes to one of them.
	Durable string
	// Subject filters the stream's subjects; empty means all.
	Subject string

	// AckWait is how long the server waits for a message's acknowledgment
	// before delivering it again. A handler that runs longer keeps its
	// message in progress (the consumer tells the server every AckWait/3),
	// so AckWait bounds how late a crashed process's messages come back,
	// not how long a handler may run. 0 means 30s.
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of a message; 0 means no bound.
	// When the last delivery fails, the consumer terminates the message,
	// counts it in [Stats.Terminated] and logs it, rather than have the
	// server drop it silently.
	MaxDeliver int
	// Backoff are the delays before a message whose handler failed is
	// delivered again: the n-th failure of a message waits Backoff[n-1],
	// or the last one. Empty means 1s, 5s, 30s.
	Backoff []time.Duration
	// MaxAckPending bounds the messages delivered and not yet
	// acknowledged, over every process sharing the consumer: the most a
	// crash can make the server deliver twice. 0 means 1000.
	MaxAckPending int
	// Concurrency is the number of handlers that run at once in this
	// process; 0 means 1, which handles messages in stream order (as long
	// as none is delivered again).
	Concurrency int

	// Bus, if set, receives each event after its handler returned nil and
	// the message was acknowledged: the bus's subscribers see a copy, for
	// information, subject to the bus's own rules (a subscriber that lags
	// loses events, counted in the bus's stats). Only the handler's
	// success counts for delivery. A handler that returns after its run's
	// Stop has returned (cut short by its context) emits nothing, and
	// this is logged: under [Listen] the bus may already be the next
	// run's.
	Bus *fxbus.Bus
	// Logger logs terminated messages, decode failures and consumer
	// errors; the default is Bus's logger, else none.
	Logger *zap.Logger
}

var defaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}

func (cfg *ConsumerConfig) fill() error {
	switch {
	case cfg.Stream == "":
		return errors.New("durable: ConsumerConfig.Stream is empty")
	case cfg.Durable == "":
		return fmt.Errorf("durable: consumer of stream %q: ConsumerConfig.Durable is empty", cfg.Stream)
	case cfg.AckWait < 0 || cfg.MaxDeliver < 0 || cfg.MaxAckPending < 0 || cfg.Concurrency < 0:
		return fmt.Errorf("durable: consumer %q: negative AckWait (%v), MaxDeliver (%d), MaxAckPending (%d) or Concurrency (%d)",
			cfg.Durable, cfg.AckWait, cfg.MaxDeliver, cfg.MaxAckPending, cfg.Concurrency)
	}
	for _, d := range cfg.Backoff {
		if d < 0 {
			return fmt.Errorf("durable: consumer %q: negative Backoff %v", cfg.Durable, d)
		}
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if len(cfg.Backoff) == 0 {
		cfg.Backoff = defaultBackoff
	}
	if cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = 1000
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Logger == nil {
		if cfg.Bus != nil {
			cfg.Logger = cfg.Bus.Logger()
		} else {
			cfg.Logger = zap.NewNop()
		}
	}
	return nil
}

func (cfg ConsumerConfig) jetstream() jetstream.ConsumerConfig {
	maxDeliver := cfg.MaxDeliver
	if maxDeliver == 0 {
		maxDeliver = -1
	}
	return jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		FilterSubject: cfg.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Consumer runs a [Handler] for every message of a durable JetStream
// consumer. Build it with [Consume], or [Listen] under Fx; stop it with
// [Consumer.Stop]. It works in runs, each from a start that binds the
// server's consumer to a stop: a Consumer of Consume has one run, a
// Consumer of Listen one per run of the application.
//
// For each message: a message whose [HeaderType] names another type, or
// that the codec cannot decode, is terminated and counted in
// [Stats.DecodeFailures] (never delivered again: no delivery can decode
// it); one whose [HeaderSchema] is newer than E's is given back to the
// server, to be delivered again after the backoff (to a process that
// knows the version, during a rolling upgrade), and counted in
// [Stats.NewerSchema]. Otherwise the handler runs: nil acknowledges
// the message, an error asks for it again after the backoff, and a
// [Permanent] error terminates it.
//
// Events handled here do not pass through the bus on their way in: a bus
// subscriber that lags loses events, which a message acknowledged on its
// behalf must not be.
type Consumer[E any] struct {
	cfg ConsumerConfig
	h   Handler[E]

	decode func([]byte) (E, error)
	hdr    header
	schema int
	log    *zap.Logger

	// runMu guards run and last. run is the current run, or the last one
	// once it has stopped; nil before the first start. A run's own fields
	// are guarded as consumerRun says.
	// last is the last run whose start succeeded (the current one, or one
	// before it): a new run waits for its handlers.
	runMu sync.Mutex
	run   *consumerRun[E]
	last  *consumerRun[E]

	// n counts over every run.
	n consumerCounters
}

// consumerRun is one run of a Consumer: from a start that binds the
// server's consumer to the Stop that ends the fetching and the handlers.
// [Consume] makes one; [Listen] makes one at each start of the
// application.
type consumerRun[E any] struct {
	c *Consumer[E]

	// startMu guards cons and nc, set once by start; the fetch loop and
	// the workers start after they are set and read them without it.
	startMu sync.Mutex
	cons    jetstream.Consumer
	nc      *nats.Conn

	// handlerCtx is given to handlers; cancelled when Stop's context
	// ends, or once Stop has seen every handler return.
	handlerCtx    context.Context
	cancelHandler context.CancelFunc

	stopping atomic.Bool // set by Stop: fetched messages go back unhandled
	iterMu   sync.Mutex  // guards iter
	iter     jetstream.MessagesContext
	stopOnce sync.Once
	// done is closed when the fetch loop and every worker have returned;
	// only after a successful start.
	done    chan struct{}
	workers sync.WaitGroup
	work    chan jetstream.Msg

	// emits gates the emits of handled events on ConsumerConfig.Bus;
	// Stop ends it when it returns. Once the run's Stop has returned (or
	// the application's run has ended), the bus may be the next run's: a
	// handler that outlived the stop must not emit on it.
	emits runhooks.Gate
}

type consumerCounters struct {
	delivered, acked, redelivered, retried, terminated atomic.Uint64
	decodeFailures, newerSchema, returned              atomic.Uint64
}

// Consume creates the durable consumer declared by cfg on its stream, or
// binds to it if it exists with the same configuration (a different one
// is a [*MismatchError] naming the field, and nothing is changed), and
// starts handling its messages with h. ctx bounds the setup only.
//
// The Consumer serves one run: once [Consumer.Stop] is called, it
// does not start again; call Consume again for another (the durable
// consumer keeps its place on the server: what was acknowledged is not
// delivered again).
func Consume[E any](ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, h Handler[E], opts ...Option[E]) (*Consumer[E], error) {
	if js == nil {
		return nil, errors.New("durable: nil JetStream")
	}
	c, err := newConsumer(cfg, h, opts)
	if err != nil {
		return nil, err
	}
	r := c.newRun()
	c.run = r
	if err := r.start(ctx, js); err != nil {
		return nil, err
	}
	return c, nil
}

// newConsumer checks and completes cfg; the consumer does nothing until
// a run of it starts.
func newConsumer[E any](cfg ConsumerConfig, h Handler[E], opts []Option[E]) (*Consumer[E], error) {
	if h == nil {
		return nil, fmt.Errorf("durable: consumer %q: nil handler", cfg.Durable)
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	c := &Consumer[E]{
		cfg:    cfg,
		h:      h,
		decode: o.codec.Decode,
		hdr:    headerFor[E](),
		schema: schemaOf[E](),
		log:    cfg.Logger.With(zap.String("stream", cfg.Stream), zap.String("consumer", cfg.Durable)),
	}
	return c, nil
}

// newRun makes a run of c that does nothing until its start.
func (c *Consumer[E]) newRun() *consumerRun[E] {
	r := &consumerRun[E]{c: c, done: make(chan struct{}), work: make(chan jetstream.Msg)}
	r.handlerCtx, r.cancelHandler = context.WithCancel(context.Background())
	return r
}

// startRun begins a new run of c within ctx, as [Listen]'s OnStart. Fx
// starts an application only once it has stopped, so a run still going
// is one whose OnStop Fx skipped (the stop's deadline passed first):
// startRun stops it within ctx. It waits (within ctx) for the handlers
// of the last run that started to return (they outlive a stop that ran
// out of budget), and then starts a new run, which becomes the current
// one even if its start fails (nothing of it runs then, and the next
// startRun replaces it). Fx does not call OnStart twice at once.
func (c *Consumer[E]) startRun(ctx context.Context, js jetstream.JetStream) error {
	c.runMu.Lock()
	prev := c.last
	c.runMu.Unlock()
	if prev != nil && !prev.stopping.Load() {
		c.log.Warn("durable: the previous run was not stopped (its stop hook was skipped); stopping it")
		if err := prev.stop(ctx); err != nil {
			return err
		}
	}
	c.runMu.Lock()
	r := c.newRun()
	c.run = r
	c.runMu.Unlock()
	if prev != nil {
		select {
		case <-prev.done:
		case <-ctx.Done():
			r.cancelHandler()
			return fmt.Errorf("durable: consumer %q: handlers of the previous run still running: %w", c.cfg.Durable, ctx.Err())
		}
	}
	if err := r.start(ctx, js); err != nil {
		return err
	}
	c.runMu.Lock()
	c.last = r
	c.runMu.Unlock()
	return nil
}

// current returns the current run, nil before the first.
func (c *Consumer[E]) current() *consumerRun[E] {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	return c.run
}

// started reports whether r's start succeeded; then it stays true.
func (r *consumerRun[E]) started() bool {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	return r.cons != nil
}

// start creates or binds the server's consumer within ctx and starts
// fetching and handling. It fails after Stop, when called twice, and when
// ctx has ended by the time the consumer is bound. On failure the run is
// done with: nothing of it runs.
func (r *consumerRun[E]) start(ctx context.Context, js jetstream.JetStream) error {
	c := r.c
	r.startMu.Lock()
	defer r.startMu.Unlock()
	// Stop sets stopping before it takes startMu: either it sees the
	// consumer started, or this sees it stopping.
	fail := func(err error) error {
		r.cancelHandler()
		return err
	}
	switch {
	case r.stopping.Load():
		return fail(fmt.Errorf("durable: consumer %q: stopped before it started", c.cfg.Durable))
	case r.cons != nil:
		return fmt.Errorf("durable: consumer %q: already started", c.cfg.Durable)
	}
	cons, err := ensureConsumer(ctx, js, c.cfg)
	if err != nil {
		return fail(err)
	}
	it, err := messages(cons, c.cfg)
	if err != nil {
		return fail(err)
	}
	// A start whose context has ended counts as failed (under Fx, the
	// start timeout has passed and no OnStop will come): nothing may run.
	if err := ctx.Err(); err != nil {
		it.Stop()
		return fail(fmt.Errorf("durable: consumer %q of stream %q: %w", c.cfg.Durable, c.cfg.Stream, err))
	}
	r.cons, r.nc = cons, js.Conn()
	r.iterMu.Lock()
	r.iter = it
	r.iterMu.Unlock()
	for range c.cfg.Concurrency {
		r.workers.Add(1)
		go r.worker()
	}
	go r.fetch()
	return nil
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (jetstream.Consumer, error) {
	want := cfg.jetstream()
	cons, err := js.CreateConsumer(ctx, cfg.Stream, want)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerExists) {
		return nil, fmt.Errorf("durable: consumer %q of stream %q: %w", cfg.Durable, cfg.Stream, err)
	}
	cons, err = js.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("durable: consumer %q of stream %q: %w", cfg.Durable, cfg.Stream, err)
	}
	have := cons.CachedInfo().Config
	mismatch := func(field string, declared, existing any) error {
		return &MismatchError{Kind: "consumer", Name: cfg.Durable, Field: field, Declared: declared, Existing: existing}
	}
	switch {
	case want.FilterSubject != have.FilterSubject:
		return nil, mismatch("Subject", want.FilterSubject, have.FilterSubject)
	case want.AckWait != have.AckWait:
		return nil, mismatch("AckWait", want.AckWait, have.AckWait)
	case want.MaxDeliver != have.MaxDeliver:
		return nil, mismatch("MaxDeliver", cfg.MaxDeliver, have.MaxDeliver)
	case want.MaxAckPending != have.MaxAckPending:
		return nil, mismatch("MaxAckPending", want.MaxAckPending, have.MaxAckPending)
	case want.AckPolicy != have.AckPolicy:
		return nil, mismatch("AckPolicy", want.AckPolicy, have.AckPolicy)
	}
	// Something this package does not declare differs (the deliver
	// policy, say): report the server's refusal.
	return nil, fmt.Errorf("durable: consumer %q of stream %q exists with another configuration: %w", cfg.Durable, cfg.Stream, jetstream.ErrConsumerExists)
}

// pullHeartbeat is how often the server confirms a pull request it holds
// and has nothing for; after two missing confirmations the iterator
// reports ErrNoHeartbeat, forgets what it asked for and asks again. That
// bounds, to twice this, how long the consumer can sit idle while the
// server has messages for it but no pull request of its: one lost on the
// way, or one the iterator counted as asked and never sent (nats.go skips
// a pull while its previous one is still being sent, and checks again only
// when something arrives). nats.go's default, half the 30s expiry, would
// leave such a consumer idle for 30s.
const pullHeartbeat = 2 * time.Second

// messages starts a pull iterator. The client buffers at most twice the
// handlers' worth of messages, so that few wait unhandled in a process
// that dies.
func messages(cons jetstream.Consumer, cfg ConsumerConfig) (jetstream.MessagesContext, error) {
	it, err := cons.Messages(
		jetstream.PullMaxMessages(min(2*cfg.Concurrency+8, cfg.MaxAckPending)),
		jetstream.PullHeartbeat(pullHeartbeat),
	)
	if err != nil {
		return nil, fmt.Errorf("durable: consumer %q of stream %q: %w", cfg.Durable, cfg.Stream, err)
	}
	return it, nil
}

// fetch reads messages and hands them to the workers until Stop, then
// gives back what the client had fetched and no worker took. When it and
// the workers have returned, it closes done.
func (r *consumerRun[E]) fetch() {
	c := r.c
	defer func() {
		close(r.work)
		r.workers.Wait()
		close(r.done)
	}()
	for {
		r.iterMu.Lock()
		it := r.iter
		r.iterMu.Unlock()
		msg, err := next(it)
		if err != nil {
			if r.stopping.Load() {
				return
			}
			// The iterator ended on its own (the connection closed for
			// good, the consumer was deleted) or reported a problem.
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				c.log.Warn("durable: consumer error", zap.Error(err))
				continue
			}
			if r.nc.IsClosed() {
				c.log.Error("durable: connection closed; the consumer stops", zap.Error(err))
				return
			}
			c.log.Error("durable: consumer ended; starting again in 1s", zap.Error(err))
			if !r.restartIterator() {
				return
			}
			continue
		}
		c.n.delivered.Add(1)
		if r.stopping.Load() {
			c.giveBack(msg)
			continue
		}
		r.work <- msg
	}
}

// recheckPull bounds the first wait of [next]. A wait that ends empty
// costs one timer; one that should not have been empty costs this much.
const recheckPull = 20 * time.Millisecond

// next returns the iterator's next message. nats.go's pull iterator asks
// the server for more only at the start of a Next call, and not while its
// previous request is still being sent: a Next that starts in that moment
// can consume what the previous request brought and then wait with nothing
// requested, until its missed-heartbeat timer (two heartbeats, 30 s by
// default) resets it. So the first wait is short, and a Next that comes
// back empty is called again, which asks for more when nothing is
// requested. The second Next waits without a bound, so that the
// iterator's heartbeat check (which lives for one Next call) still detects
// a pull request the server lost.
func next(it jetstream.MessagesContext) (jetstream.Msg, error) {
	msg, err := it.Next(jetstream.NextMaxWait(recheckPull))
	if errors.Is(err, nats.ErrTimeout) {
		return it.Next()
	}
	return msg, err
}

// restartIterator waits a second and makes a new iterator; false if Stop
// came meanwhile or the connection is closed.
func (r *consumerRun[E]) restartIterator() bool {
	for {
		select {
		case <-time.After(time.Second):
		case <-r.handlerCtx.Done():
			return false
		}
		if r.stopping.Load() || r.nc.IsClosed() {
			return false
		}
		it, err := messages(r.cons, r.c.cfg)
		if err != nil {
			r.c.log.Error("durable: cannot start the consumer again; retrying in 1s", zap.Error(err))
			continue
		}
		r.iterMu.Lock()
		defer r.iterMu.Unlock()
		if r.stopping.Load() {
			it.Stop()
			return false
		}
		r.iter = it
		return true
	}
}

// giveBack returns a fetched message to the server unhandled, for
// immediate redelivery (rather than after AckWait).
func (c *Consumer[E]) giveBack(msg jetstream.Msg) {
	c.n.returned.Add(1)
	_ = msg.Nak()
}

func (r *consumerRun[E]) worker() {
	defer r.workers.Done()
	for msg := range r.work {
		if r.stopping.Load() {
			r.c.giveBack(msg)
			continue
		}
		r.handle(msg)
	}
}

func (r *consumerRun[E]) handle(msg jetstream.Msg) {
	c := r.c
	meta, err := msg.Metadata()
	if err != nil { // not a JetStream message: cannot happen on a pull consumer
		c.log.Error("durable: message without metadata, terminated", zap.Error(err))
		c.n.terminated.Add(1)
		_ = msg.Term()
		return
	}
	if meta.NumDelivered > 1 {
		c.n.redelivered.Add(1)
	}
	ev, ok := c.decodeMsg(msg, meta)
	if !ok {
		return
	}

	// Tell the server the message is in progress while the handler runs,
	// so that it is not delivered again under it.
	// mu guards done and tick against the timer's function.
	var (
		mu   sync.Mutex
		done bool
		tick *time.Timer
	)
	every := c.cfg.AckWait / 3
	mu.Lock()
	tick = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		_ = msg.InProgress()
		tick.Reset(every)
	})
	mu.Unlock()
	err = callHandler(r.handlerCtx, c.h, ev)
	mu.Lock()
	done = true
	tick.Stop()
	mu.Unlock()

	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			c.log.Warn("durable: acknowledgment not sent; the message will be delivered again",
				zap.Uint64("seq", meta.Sequence.Stream), zap.Error(aerr))
			return
		}
		c.n.acked.Add(1)
		if c.cfg.Bus != nil {
			r.emit(ev, meta.Sequence.Stream)
		}
	case IsPermanent(err):
		c.n.terminated.Add(1)
		c.log.Error("durable: handler failed permanently; message terminated",
			zap.Uint64("seq", meta.Sequence.Stream), zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.TermWithReason(truncate(err.Error(), 256))
	case c.cfg.MaxDeliver > 0 && meta.NumDelivered >= uint64(c.cfg.MaxDeliver):
		c.n.terminated.Add(1)
		c.log.Error("durable: handler failed on the last delivery (MaxDeliver); message terminated",
			zap.Uint64("seq", meta.Sequence.Stream), zap.String("subject", msg.Subject()),
			zap.Uint64("deliveries", meta.NumDelivered), zap.Error(err))
		_ = msg.TermWithReason("max deliver: " + truncate(err.Error(), 240))
	default:
		c.n.retried.Add(1)
		delay := c.backoff(meta.NumDelivered)
		if r.stopping.Load() {
			delay = 0
		}
		c.log.Warn("durable: handler failed; the message will be delivered again",
			zap.Uint64("seq", meta.Sequence.Stream), zap.Uint64("deliveries", meta.NumDelivered),
			zap.Duration("after", delay), zap.Error(err))
		_ = msg.NakWithDelay(delay)
	}
}

// emit emits ev on the bus while the run lasts. A handler that returns
// after its run's Stop has returned (cut short by its context) is logged
// instead: the bus may already be the next run's.
func (r *consumerRun[E]) emit(ev E, seq uint64) {
	if !r.emits.Enter() {
		r.c.log.Warn("durable: handler returned after its run's stop; message acknowledged, event not emitted on the bus",
			zap.Uint64("seq", seq))
		return
	}
	fxbus.Emit(r.c.cfg.Bus, ev)
	r.emits.Leave()
}

// decodeMsg checks the headers and decodes the payload; on failure it
// settles the message and returns false.
func (c *Consumer[E]) decodeMsg(msg jetstream.Msg, meta *jetstream.MsgMetadata) (E, bool) {
	var zero E
	h := msg.Headers()
	if t := h.Get(HeaderType); t != "" && t != c.hdr.typ {
		c.refuse(msg, meta, fmt.Errorf("message of type %s, consumer of %s", t, c.hdr.typ))
		return zero, false
	}
	if s := h.Get(HeaderSchema); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			c.refuse(msg, meta, fmt.Errorf("bad %s header %q", HeaderSchema, s))
			return zero, false
		}
		if v > c.schema {
			c.n.newerSchema.Add(1)
			delay := c.backoff(meta.NumDelivered)
			c.log.Warn("durable: message of a newer schema than this process knows; given back",
				zap.Uint64("seq", meta.Sequence.Stream), zap.Int("schema", v), zap.Int("known", c.schema),
				zap.Duration("after", delay))
			_ = msg.NakWithDelay(delay)
			return zero, false
		}
	}
	ev, err := c.decode(msg.Data())
	if err != nil {
		c.refuse(msg, meta, err)
		return zero, false
	}
	return ev, true
}

func (c *Consumer[E]) refuse(msg jetstream.Msg, meta *jetstream.MsgMetadata, err error) {
	c.n.decodeFailures.Add(1)
	c.log.Error("durable: cannot decode; message terminated",
		zap.Uint64("seq", meta.Sequence.Stream), zap.String("subject", msg.Subject()), zap.Error(err))
	_ = msg.TermWithReason("decode: " + truncate(err.Error(), 240))
}

func (c *Consumer[E]) backoff(deliveries uint64) time.Duration {
	i := int(min(max(deliveries, 1)-1, uint64(len(c.cfg.Backoff)-1)))
	return c.cfg.Backoff[i]
}

// callHandler runs h, turning a panic into an error so that the message
// is delivered again rather than the process crashing.
func callHandler[E any](ctx context.Context, h Handler[E], ev E) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("durable: handler panicked: %v", r)
		}
	}()
	return h(ctx, ev)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Stop stops fetching, gives the messages fetched and not yet handled
// back to the server for immediate redelivery, lets the handlers running
// finish within ctx, settles their messages as they return, and makes sure
// the server has every acknowledgment (a flush of the connection). When
// ctx ends first, the handlers' context is cancelled and Stop returns an
// error without waiting further: their messages are delivered again after
// AckWait unless they settle them meanwhile. Messages the server was
// sending at the moment the client stopped asking are not seen by this
// process: the server delivers them again after AckWait. Stop does not
// close the connection. Later calls return at once.
//
// Stop ends the current run. A Consumer of [Consume] has one run: once
// stopped, it is done with (call Consume again). A Consumer of [Listen]
// starts a new run at each start of the application; before the first,
// or between a stop and the next start, Stop returns nil at once and the
// next start is not affected.
func (c *Consumer[E]) Stop(ctx context.Context) error {
	r := c.current()
	if r == nil {
		return nil
	}
	return r.stop(ctx)
}

func (r *consumerRun[E]) stop(ctx context.Context) error {
	c := r.c
	first := false
	r.stopOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	r.stopping.Store(true)
	// Once Stop returns, however it returns, the run's handlers emit
	// nothing: the next run may reopen the bus.
	defer r.emits.End()
	if !r.started() { // and never will be: start sees stopping
		r.cancelHandler()
		return nil
	}
	r.iterMu.Lock()
	r.iter.Drain()
	r.iterMu.Unlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancelHandler()
		return fmt.Errorf("durable: consumer %q: handlers still running at the end of the stop: %w", c.cfg.Durable, ctx.Err())
	}
	r.cancelHandler()
	if r.nc.IsClosed() {
		return nil
	}
	// The client's flush insists on a deadline; an acknowledgment that
	// arrives after AckWait is too late to matter anyway.
	fctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, c.cfg.AckWait)
		defer cancel()
	}
	if err := r.nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("durable: consumer %q: acknowledgments not confirmed: %w", c.cfg.Durable, err)
	}
	return nil
}

// Stats are the counters of a [Consumer], for logs and metrics; see
// [Consumer.Stats]. The counters only grow; those of a Consumer of
// [Listen] count over every run of the application.
//
// Every delivery counted in Delivered ends in exactly one of Acked,
// Retried, Terminated, DecodeFailures, NewerSchema or Returned, once its
// handler has returned; a delivery whose acknowledgment could not be sent
// (logged) is in none.
type Stats struct {
	Stream, Consumer string
	// Type is the event type, as in [HeaderType].
	Type string

	// Delivered counts the messages received from the server, each
	// redelivery again.
	Delivered uint64
	// Redelivered counts the deliveries of messages delivered before
	// (after a handler's error, a crash, a timeout or a stop).
	Redelivered uint64
	// Acked counts the messages whose handler returned nil.
	Acked uint64
	// Retried counts the handler errors after which the message was given
	// back to be delivered again after the backoff.
	Retried uint64
	// Terminated counts messages never to be delivered again: their
	// handler returned a [Permanent] error, or failed on the last delivery
	// MaxDeliver allows. Each is logged.
	Terminated uint64
	// DecodeFailures counts messages terminated because they were of
	// another type or the codec could not decode them. Each is logged.
	DecodeFailures uint64
	// NewerSchema counts deliveries given back because their schema
	// version was newer than the consumer's.
	NewerSchema uint64
	// Returned counts messages fetched but not handled when Stop came,
	// given back for immediate redelivery.
	Returned uint64

	// Pending is the server's count of messages not yet delivered to the
	// consumer: its lag. AckPending is the count delivered and not yet
	// acknowledged, over every process sharing the consumer.
	Pending    uint64
	AckPending uint64
}

// Stats returns the counters and asks the server for the consumer's lag,
// through the current run's binding (the last run's, between a stop and
// the next start). The counters of a Consumer of [Listen] count every run
// of the application, not only the current one. When the server does not
// answer within ctx, the counters are returned with the error; before a
// Consumer built by [Listen] has started, and while the current run's
// start has failed, the error wraps [ErrNotStarted].
func (c *Consumer[E]) Stats(ctx context.Context) (Stats, error) {
	s := Stats{
		Stream:         c.cfg.Stream,
		Consumer:       c.cfg.Durable,
		Type:           c.hdr.typ,
		Delivered:      c.n.delivered.Load(),
		Redelivered:    c.n.redelivered.Load(),
		Acked:          c.n.acked.Load(),
		Retried:        c.n.retried.Load(),
		Terminated:     c.n.terminated.Load(),
		DecodeFailures: c.n.decodeFailures.Load(),
		NewerSchema:    c.n.newerSchema.Load(),
		Returned:       c.n.returned.Load(),
	}
	var cons jetstream.Consumer
	if r := c.current(); r != nil {
		r.startMu.Lock()
		cons = r.cons
		r.startMu.Unlock()
	}
	if cons == nil {
		return s, fmt.Errorf("durable: consumer %q: %w", c.cfg.Durable, ErrNotStarted)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return s, fmt.Errorf("durable: consumer %q: %w", c.cfg.Durable, err)
	}
	s.Pending = info.NumPending
	s.AckPending = uint64(info.NumAckPending)
	return s, nil
}
