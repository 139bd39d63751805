package natsbridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// HeaderOrigin is the NATS header that carries the [Conn.Origin] of the
// Conn that published a message. An inbound route skips the messages that
// carry the origin of its own Conn or of another open Conn on the same
// bus.
const HeaderOrigin = "Natsbridge-Origin"

// Config is the connection configuration; [Module] reads it from the Fx
// graph:
//
//	fx.Supply(natsbridge.Config{URL: "nats://127.0.0.1:4222", Name: "orders"})
type Config struct {
	// URL is the server to connect to, or a comma-separated list of
	// servers. Required.
	URL string
	// Name is the connection name the server shows in its monitoring and
	// the bridge puts in [PeerShutdownEvent]; optional.
	Name string
	// CredentialsFile is a NATS credentials file (JWT and seed); optional.
	CredentialsFile string

	// ConnectTimeout bounds each dial to a server: the first connection
	// and every reconnect attempt. 0 means 2s. The first connection is
	// also bounded by the context given to [Conn.Start].
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts to a server.
	// 0 means 2s.
	ReconnectWait time.Duration
	// MaxReconnects is how many reconnect attempts the client makes per
	// server before it closes the connection; 0 means no limit.
	MaxReconnects int
	// ReconnectBufSize is how many bytes of messages the client holds
	// while reconnecting. Past it, forwarded events are dropped and
	// counted in [Stats.Dropped]. 0 means 8 MiB (the client's default); a
	// negative value means no buffer: every event forwarded while
	// disconnected is dropped.
	ReconnectBufSize int

	// PendingMsgs and PendingBytes bound what the client holds for each
	// inbound route: messages received and not yet decoded and emitted.
	// Past either limit the client discards the messages that arrive (the
	// route is a slow consumer) and the route counts them in
	// [Stats.Dropped]. 0 means the client's default (524,288 messages,
	// 64 MiB); a negative value means no limit.
	PendingMsgs  int
	PendingBytes int
}

// Option configures a [Conn] built by [New] or [Connect].
type Option interface {
	apply(*Conn)
}

type optionFunc func(*Conn)

func (f optionFunc) apply(c *Conn) { f(c) }

// WithLogger sets the logger; the default is the bus's logger.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(c *Conn) {
		if l != nil {
			c.log = l
		}
	})
}

// WithNATSOptions adds options for the NATS client, applied after the
// bridge's own, so they win: TLS (nats.Secure, nats.RootCAs,
// nats.ClientCert), authentication (nats.UserInfo, nats.Token, nats.Nkey,
// nats.UserJWT, nats.UserCredentials), and any other. Under Fx, pass them
// with [With]. Options that set the connection's handlers (disconnect,
// reconnect, closed, errors) or disable NoEcho break what the bridge
// reports: do not pass them.
func WithNATSOptions(opts ...nats.Option) Option {
	return optionFunc(func(c *Conn) { c.natsOpts = append(c.natsOpts, opts...) })
}

// Conn bridges a local [fxbus.Bus] to a NATS server: the routes declared
// with [Forward] and [Receive] carry events of one type each between the
// bus and a subject.
//
// Build it with [New] and start it with [Conn.Start], or do both with
// [Connect]; [Module] does it for an Fx application. Routes may be
// declared before or after Start. Every method is safe for concurrent use.
//
// A Conn built by New serves once: after [Conn.Close] it cannot be
// started again. The Conn of [Module] serves every run of the
// application: each start connects anew and each stop closes.
type Conn struct {
	bus    *fxbus.Bus
	cfg    Config
	log    *zap.Logger
	origin string // random, fixed at New
	// shared is what the Conns on bus share: joined at New and at each
	// new run, left at Close. Replaced under mu, read without it by the
	// inbound routes' callbacks.
	shared atomic.Pointer[busShared]

	natsOpts []nats.Option

	mu sync.Mutex // guards nc, ncClosed, routes, started, closing, again, end, run
	nc *nats.Conn // nil until Start succeeds, and again once a new run begins
	// ncClosed is closed by the ClosedHandler of nc; set with nc.
	ncClosed chan struct{}
	// routes only grows, in declaration order: readers copy the slice
	// under mu and read it without.
	routes  []route
	started bool
	closing bool // Close was called: no new routes, no Disconnected
	// again says that Start after Close begins a new run ([Module] sets
	// it); otherwise Close is final.
	again bool
	// end is the Close of the current run, replaced when a new run
	// begins.
	end *runEnd
	// run gates the current run's emits of received events and of
	// connection events (DisconnectedEvent, ReconnectedEvent,
	// ClosedEvent); replaced when a new run begins. Each inbound
	// subscription, and the connection handlers of each run's client, keep
	// the gate of the run they were made in: a Close cut short by its
	// context closes the connection without waiting for them, and under
	// Module the bus is then the next run's. A callback does its slow
	// work, decoding, before Enter.
	run *runhooks.Gate

	// outage counts the disconnects; a route logs its first drop of each
	// cause in each outage only.
	outage atomic.Uint64

	// onHandle, if set, is called by the inbound routes' callbacks with
	// each message before they handle it: a test hook, set before Start
	// and never changed after.
	onHandle func(*nats.Msg)
	// onConnHandler, if set, runs each of the client's connection handlers
	// (handle) in their stead, with the connection and the handler's
	// event, "disconnected", "reconnected" or "closed": a test hook, set
	// before Start and never changed after.
	onConnHandler func(nc *nats.Conn, event string, handle func())
}

// runEnd is the outcome of a run's Close: err is written by the first
// Close before it closes done, and read by later calls after done is
// closed.
type runEnd struct {
	err  error
	done chan struct{}
}

// route is a Forward or Receive route seen without its type.
type route interface {
	key() routeKey
	// start runs on Start, or at declaration on a started Conn, with c.mu
	// held.
	start(nc *nats.Conn) error
	// stop stops the route; outbound routes first forward what is
	// buffered for them, within ctx.
	stop(ctx context.Context) error
	stats() Stats
	// running returns a channel closed when the goroutine the route
	// started has returned, or nil if it has none; with c.mu held.
	running() <-chan struct{}
	// again readies the route for a new run, with c.mu held, once the
	// previous run's Close has returned and running is done: it
	// subscribes to the bus again, as at its declaration.
	again()
}

type routeKey struct {
	dir     Direction
	subject string
	typ     any // reflect.Type
}

// New returns a Conn for bus, not connected yet. It fails only on an
// invalid config. Routes declared before [Conn.Start] subscribe to the bus
// at once, so no event emitted between New and Start is missed (up to the
// bus capacity).
//
// Close the Conn when done with it, started or not: the Conns of a bus
// share what keeps them from passing events to each other (see the
// package documentation, "Echo"), and Close lets go of it.
func New(bus *fxbus.Bus, cfg Config, opts ...Option) (*Conn, error) {
	if bus == nil {
		return nil, errors.New("natsbridge: nil bus")
	}
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("natsbridge: Config.URL is empty")
	}
	if cfg.ConnectTimeout < 0 || cfg.ReconnectWait < 0 || cfg.MaxReconnects < 0 {
		return nil, fmt.Errorf("natsbridge: negative ConnectTimeout (%v), ReconnectWait (%v) or MaxReconnects (%d)",
			cfg.ConnectTimeout, cfg.ReconnectWait, cfg.MaxReconnects)
	}
	c := &Conn{
		bus:    bus,
		cfg:    cfg,
		log:    bus.Logger(),
		origin: newOrigin(),
		end:    &runEnd{done: make(chan struct{})},
		run:    &runhooks.Gate{},
	}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	c.shared.Store(joinBus(c))
	return c, nil
}

// Connect is [New] followed by [Conn.Start].
func Connect(ctx context.Context, bus *fxbus.Bus, cfg Config, opts ...Option) (*Conn, error) {
	c, err := New(bus, cfg, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		_ = c.Close(ctx) // not started: nothing to wait for
		return nil, err
	}
	return c, nil
}

func newOrigin() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Origin returns the Conn's id: 16 random hex digits, put in the
// [HeaderOrigin] header of every message it publishes.
func (c *Conn) Origin() string { return c.origin }

// NATS returns the underlying client connection, nil before Start. Use it
// for what the bridge does not do (requests, JetStream); closing it is
// Close's job. Under [Module] it is the current run's connection: each run
// connects anew, and between the runs it is the last run's, closed, or
// nil once the next run has begun and not yet connected.
func (c *Conn) NATS() *nats.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

// Start connects to the server, subscribes the inbound routes, waits until
// the server has registered them, and starts the outbound routes. One
// attempt is made per server in Config.URL, each bounded by
// Config.ConnectTimeout and by ctx's deadline; if none answers, Start
// returns an error that names the URL (without its password). The client
// reconnects by itself after a later loss.
//
// Start may be tried again after it failed; after it succeeded it
// returns an error. After [Conn.Close], it fails with an error that wraps
// [ErrClosed]: a Conn built by [New] or [Connect] serves once, and a new
// one is needed. The Conn of [Module] instead begins a new run: it waits,
// within ctx, for the previous run's Close, then connects anew, with
// every route declared.
func (c *Conn) Start(ctx context.Context) error {
	if err := c.waitRunEnded(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing && c.again && c.runEnded() {
		c.runAgain()
	}
	switch {
	case c.closing && c.again:
		return errors.New("natsbridge: the previous run of the Conn is still closing") // waitRunEnded raced a Close
	case c.closing:
		return fmt.Errorf("%w: a closed Conn cannot be started again; make a new one with natsbridge.New or natsbridge.Connect (the Conn of natsbridge.Module is started again with each run of the application)", ErrClosed)
	case c.started:
		return errors.New("natsbridge: already started")
	}
	url := redactURLs(c.cfg.URL)

	timeout := c.cfg.ConnectTimeout
	if timeout == 0 {
		timeout = nats.DefaultTimeout
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("natsbridge: connect to %s: %w", url, context.DeadlineExceeded)
		}
		timeout = min(timeout, left)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("natsbridge: connect to %s: %w", url, err)
	}

	ncClosed := make(chan struct{})
	nc, err := nats.Connect(c.cfg.URL, c.clientOptions(timeout, ncClosed, c.run)...)
	if err != nil {
		return fmt.Errorf("natsbridge: cannot connect to NATS at %s: %w", url, err)
	}
	// Inbound routes subscribe, the flush makes sure the server has the
	// subscriptions, and only then do outbound routes start: a failed
	// Start leaves no goroutine behind and may be tried again.
	for _, r := range c.routes {
		if r.key().dir == Inbound {
			if err := r.start(nc); err != nil {
				nc.Close()
				return err
			}
		}
	}
	// The client's FlushWithContext insists on a deadline.
	fctx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		fctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		nc.Close()
		return fmt.Errorf("natsbridge: subscribe on %s: %w", url, err)
	}
	for _, r := range c.routes {
		if r.key().dir == Outbound {
			_ = r.start(nc) // outbound routes start a goroutine; they cannot fail
		}
	}
	c.nc, c.ncClosed, c.started = nc, ncClosed, true
	c.log.Info("natsbridge: connected",
		zap.String("url", nc.ConnectedUrlRedacted()), zap.String("name", c.cfg.Name),
		zap.String("origin", c.origin), zap.Int("routes", len(c.routes)))
	return nil
}

// clientOptions returns the options of the client of one run: its
// connection handlers close that run's ncClosed and emit through that
// run's gate, never the state of a later run, since the client may run
// them after the run has ended.
func (c *Conn) clientOptions(timeout time.Duration, ncClosed chan struct{}, run *runhooks.Gate) []nats.Option {
	opts := []nats.Option{
		nats.Name(c.cfg.Name),
		nats.Timeout(timeout),
		nats.RetryOnFailedConnect(false),
		// The server does not send this connection its own messages; the
		// origin header is the check that does not depend on it.
		nats.NoEcho(),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			c.connHandler(nc, "disconnected", func() { c.onDisconnect(nc, err, run) })
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.connHandler(nc, "reconnected", func() { c.onReconnect(nc, run) })
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			c.connHandler(nc, "closed", func() {
				c.onClosed(nc, run)
				close(ncClosed)
			})
		}),
		nats.ErrorHandler(c.onAsyncError),
	}
	if c.cfg.ReconnectWait > 0 {
		opts = append(opts, nats.ReconnectWait(c.cfg.ReconnectWait))
	}
	if c.cfg.MaxReconnects == 0 {
		opts = append(opts, nats.MaxReconnects(-1))
	} else {
		opts = append(opts, nats.MaxReconnects(c.cfg.MaxReconnects))
	}
	switch {
	case c.cfg.ReconnectBufSize > 0:
		opts = append(opts, nats.ReconnectBufSize(c.cfg.ReconnectBufSize))
	case c.cfg.ReconnectBufSize < 0:
		opts = append(opts, nats.ReconnectBufSize(-1))
	}
	if c.cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.cfg.CredentialsFile))
	}
	return append(opts, c.natsOpts...)
}

// reconnectBufSize returns the effective limit, for logs.
func (c *Conn) reconnectBufSize() int {
	if c.cfg.ReconnectBufSize == 0 {
		return nats.DefaultReconnectBufSize
	}
	return max(c.cfg.ReconnectBufSize, 0)
}

// connHandler runs handle, a connection handler of the client, through the
// test hook onConnHandler if it is set.
func (c *Conn) connHandler(nc *nats.Conn, event string, handle func()) {
	if h := c.onConnHandler; h != nil {
		h(nc, event, handle)
		return
	}
	handle()
}

// The connection handlers below are those of the client of run. Each
// emits its event, and touches the Conn's state, only inside run's gate
// (see Conn.run): a handler that the client runs after run has ended is
// logged, and does nothing else. The emit is made under the gate's read
// lock and never blocks; the logs are written outside it.

func (c *Conn) onDisconnect(_ *nats.Conn, err error, run *runhooks.Gate) {
	c.mu.Lock()
	// The current run's: if that is a later run than run, run has ended
	// and enter refuses below.
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return // Close ends the connection: ClosedEvent tells it
	}
	if !run.Enter() {
		c.log.Info("natsbridge: disconnected after the connection's run ended; DisconnectedEvent not emitted into the next run",
			zap.Error(err))
		return
	}
	c.outage.Add(1)
	fxbus.Emit(c.bus, DisconnectedEvent{Err: err})
	run.Leave()
	c.log.Warn("natsbridge: disconnected; the client reconnects by itself",
		zap.Error(err), zap.Int("reconnectBufSize", c.reconnectBufSize()))
}

func (c *Conn) onReconnect(nc *nats.Conn, run *runhooks.Gate) {
	u := nc.ConnectedUrlRedacted()
	if !run.Enter() {
		c.log.Info("natsbridge: reconnected after the connection's run ended; ReconnectedEvent not emitted into the next run",
			zap.String("url", u))
		return
	}
	fxbus.Emit(c.bus, ReconnectedEvent{URL: u})
	run.Leave()
	c.log.Info("natsbridge: reconnected", zap.String("url", u))
}

func (c *Conn) onClosed(nc *nats.Conn, run *runhooks.Gate) {
	err := nc.LastError()
	if !run.Enter() {
		c.log.Info("natsbridge: connection closed after its run ended; ClosedEvent not emitted into the next run",
			zap.Error(err))
		return
	}
	fxbus.Emit(c.bus, ClosedEvent{Err: err})
	run.Leave()
	c.log.Info("natsbridge: connection closed", zap.Error(err))
}

func (c *Conn) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	fields := []zap.Field{zap.Error(err)}
	if sub != nil {
		fields = append(fields, zap.String("subject", sub.Subject))
	}
	c.log.Error("natsbridge: client error", fields...)
}

// Close stops the bridge. The outbound routes first forward every event
// already waiting for them, then the connection is drained: inbound
// messages already delivered by the server are emitted, published messages
// are flushed, and the connection is closed. All within ctx; when ctx ends
// first the connection is closed at once and Close returns an error. An
// inbound route still handling a message then emits it only if it gets
// there before Close returns; after, the message is dropped and counted
// in [Stats.Dropped]. So is the [ClosedEvent] of the connection: emitted
// only if the client gets to it before Close returns, and logged
// otherwise.
//
// If the client is reconnecting at that moment, draining is impossible:
// the connection is closed and what the reconnect buffer held is lost.
//
// Close is idempotent: later calls wait for the first and return its
// result. Under [Module], Close ends the application's run, and the
// next start begins another.
func (c *Conn) Close(ctx context.Context) error {
	c.mu.Lock()
	end, run := c.end, c.run
	if c.closing {
		c.mu.Unlock()
		select {
		case <-end.done:
			return end.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.closing = true
	routes := c.routes
	nc, ncClosed := c.nc, c.ncClosed
	c.mu.Unlock()

	var errs []error
	// Outbound routes forward what is waiting for them; inbound ones
	// unsubscribe when the connection drains.
	for _, r := range routes {
		if err := r.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if nc != nil {
		if err := c.drain(ctx, nc, ncClosed, routes); err != nil {
			errs = append(errs, err)
		}
	}
	// The drain has handled every message, or was cut short: a callback
	// still running then must not emit into a later run.
	run.End()
	leaveBus(c)
	end.err = errors.Join(errs...)
	close(end.done)
	return end.err
}

// waitRunEnded waits, within ctx, until the run that Close ended is over
// (see runEnded), if the Conn begins runs again. It waits without c.mu:
// Close's drain runs client callbacks that take it.
func (c *Conn) waitRunEnded(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing || !c.again {
		c.mu.Unlock()
		return nil
	}
	waits := []<-chan struct{}{c.end.done}
	names := []string{"the previous run's Close"}
	for _, r := range c.routes {
		if ch := r.running(); ch != nil {
			k := r.key()
			waits = append(waits, ch)
			names = append(names, fmt.Sprintf("the previous run's %s route of %s on %q", k.dir, k.typ, k.subject))
		}
	}
	c.mu.Unlock()
	for i, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("natsbridge: cannot begin a new run: %s has not returned: %w", names[i], ctx.Err())
		}
	}
	return nil
}

// runEnded reports, with c.mu held, whether the run that Close ended is
// over: Close has returned and no route's goroutine is left.
func (c *Conn) runEnded() bool {
	if !isDone(c.end.done) {
		return false
	}
	for _, r := range c.routes {
		if ch := r.running(); ch != nil && !isDone(ch) {
			return false
		}
	}
	return true
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// runAgain begins a new run of a Conn whose previous run is over, with
// c.mu held: the Conn joins its bus again, and every route subscribes to
// the bus again. The counters go on.
func (c *Conn) runAgain() {
	c.closing, c.started = false, false
	c.nc, c.ncClosed = nil, nil
	c.end = &runEnd{done: make(chan struct{})}
	c.run = &runhooks.Gate{}
	c.shared.Store(joinBus(c))
	for _, r := range c.routes {
		r.again()
	}
}

// endRun ends the current run's gate: no received message is emitted on
// the bus after it returns. [Module] calls it when the application's run
// ends, before the bus closes, even when a Close cut short by the stop's
// deadline has not returned yet.
func (c *Conn) endRun() {
	c.mu.Lock()
	run := c.run
	c.mu.Unlock()
	run.End()
}

// beginRun begins a new run at once if the previous one is over; Start
// does it otherwise. [Module] calls it when the application begins a run
// again, before any OnStart hook, so that the outbound routes miss no
// event of the new run.
func (c *Conn) beginRun() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing && c.again && c.runEnded() {
		c.runAgain()
	}
}

func (c *Conn) drain(ctx context.Context, nc *nats.Conn, ncClosed <-chan struct{}, routes []route) error {
	url := redactURLs(c.cfg.URL)
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		// Reconnecting: the client closed the connection instead.
		c.log.Warn("natsbridge: closed while reconnecting; the reconnect buffer is lost", zap.String("url", url))
	}
	select {
	case <-ncClosed:
		return nil
	case <-ctx.Done():
		held := 0
		for _, r := range routes {
			if a, ok := r.(interface{ abandon() int }); ok {
				held += a.abandon()
			}
		}
		nc.Close()
		if held == 0 {
			return fmt.Errorf("natsbridge: drain of the connection to %s: %w", url, ctx.Err())
		}
		c.log.Warn("natsbridge: closed before the inbound routes were drained; the messages the client held for them are lost, not counted",
			zap.String("url", url), zap.Int("held", held))
		return fmt.Errorf("natsbridge: drain of the connection to %s: %w; about %d received messages were not emitted", url, ctx.Err(), held)
	}
}

// Stats returns the counters of every route, sorted by subject, then
// direction, then type.
func (c *Conn) Stats() []Stats {
	c.mu.Lock()
	routes := c.routes
	c.mu.Unlock()
	out := make([]Stats, 0, len(routes))
	for _, r := range routes {
		out = append(out, r.stats())
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		if a.Direction != b.Direction {
			return a.Direction < b.Direction
		}
		return a.Type < b.Type
	})
	return out
}

// redactURLs hides the passwords of a comma-separated list of server URLs.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				p = u.Redacted()
			}
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
