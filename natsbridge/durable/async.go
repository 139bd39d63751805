package durable

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// AsyncConfig configures an [AsyncPublisher].
type AsyncConfig[E any] struct {
	// MaxPending bounds the events published and not yet acknowledged by
	// the server; [AsyncPublisher.Publish] waits for room. 0 means 256.
	MaxPending int
	// AckTimeout is how long an event may wait for the server's
	// acknowledgment before it counts as failed. 0 means 5s.
	AckTimeout time.Duration
	// OnError is called for each event that was not stored (refused by
	// the server, no acknowledgment within AckTimeout, connection lost
	// while waiting), with the event and a [*PublishError] naming it. It
	// runs on the client's goroutine: it must not block, nor publish.
	// Every failure is also counted in [AsyncStats.Failed] and logged.
	OnError func(ev E, err *PublishError)
	// Logger logs failures; the default logs nothing.
	Logger *zap.Logger
}

// AsyncPublisher publishes events of type E to one subject of a stream
// without waiting for each to be stored: the server's acknowledgments
// arrive in the background, a bounded number at a time. Safe for
// concurrent use.
//
// Every event Publish accepted ends in exactly one of: stored
// ([AsyncStats.Stored]) or failed ([AsyncStats.Failed], given to OnError
// with a [*PublishError] naming it, and logged). An event still awaiting
// its acknowledgment when the stop of an Fx application
// ([ProvideAsyncPublisher]) ends fails that way too, and the stop's error
// names it.
type AsyncPublisher[E any] struct {
	cfg     AsyncConfig[E]
	subject string
	encode  func(E) ([]byte, error)
	decode  func([]byte) (E, error)
	hdr     header
	log     *zap.Logger

	// mu guards js and state. Publish holds it for reading while it hands
	// one event to the client, so that once stop has set asyncStopping
	// under the write lock, every event Publish accepted is in pending.
	mu    sync.RWMutex
	js    jetstream.JetStream // its own, per run: the handlers are per JetStream value
	state asyncState

	// pmu guards pending and stopFailed. pending holds the events handed
	// to the client and not yet resolved (acknowledged or failed); the
	// one that removes an event counts and reports it, so each is resolved
	// once, whether by the client's handlers or by the end of a stop.
	pmu        sync.Mutex
	pending    map[*nats.Msg]struct{}
	stopping   bool     // a stop is flushing: failures are collected
	stopFailed []string // msg ids of the events failed during the stop

	published, stored, duplicates, failed atomic.Uint64
}

type asyncState uint8

const (
	asyncNotStarted asyncState = iota // built for Fx, before the start
	asyncRunning
	asyncStopping // the application stops: Publish refuses
)

// ErrStopped is wrapped by the errors of an [AsyncPublisher] built by
// [ProvideAsyncPublisher] that is used once the application's stop has
// begun: its pending events are being flushed before the connection
// closes, and a new one could not be.
var ErrStopped = errors.New("durable: stopped: the Fx application is stopping or has stopped")

// AsyncStats are the counters of an [AsyncPublisher]. Once
// [AsyncPublisher.Flush] has returned nil, Published = Stored + Failed.
type AsyncStats struct {
	// Published counts events handed to the client.
	Published uint64
	// Stored counts events the server acknowledged; Duplicates counts
	// those of them it had already stored with the same message ID.
	Stored, Duplicates uint64
	// Failed counts events not stored: each was given to OnError.
	Failed uint64
}

// NewAsyncPublisher returns an AsyncPublisher of E to subject on nc.
func NewAsyncPublisher[E any](nc *nats.Conn, subject string, cfg AsyncConfig[E], opts ...Option[E]) (*AsyncPublisher[E], error) {
	if nc == nil {
		return nil, errors.New("durable: nil connection")
	}
	p, err := newAsyncPublisher(subject, cfg, opts)
	if err != nil {
		return nil, err
	}
	js, err := p.newJetStream(nc)
	if err != nil {
		return nil, err
	}
	p.js, p.state = js, asyncRunning
	return p, nil
}

// newAsyncPublisher checks and completes cfg; the publisher has no
// JetStream until NewAsyncPublisher or its start gives it one.
func newAsyncPublisher[E any](subject string, cfg AsyncConfig[E], opts []Option[E]) (*AsyncPublisher[E], error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	if cfg.MaxPending < 0 || cfg.AckTimeout < 0 {
		return nil, fmt.Errorf("durable: negative MaxPending (%d) or AckTimeout (%v)", cfg.MaxPending, cfg.AckTimeout)
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 256
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	o := newOptions(opts)
	return &AsyncPublisher[E]{
		cfg: cfg, subject: subject, encode: o.codec.Encode, decode: o.codec.Decode, hdr: headerFor[E](),
		log: cfg.Logger, pending: make(map[*nats.Msg]struct{}),
	}, nil
}

func (p *AsyncPublisher[E]) newJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(p.cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(p.cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(p.onAck),
		jetstream.WithPublishAsyncErrHandler(p.onFail),
	)
	if err != nil {
		return nil, fmt.Errorf("durable: %w", err)
	}
	return js, nil
}

// resolve removes msg from pending; false if it was no longer there (the
// end of a stop has already counted it as failed).
func (p *AsyncPublisher[E]) resolve(msg *nats.Msg) bool {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	if _, ok := p.pending[msg]; !ok {
		return false
	}
	delete(p.pending, msg)
	return true
}

func (p *AsyncPublisher[E]) onAck(_ jetstream.JetStream, msg *nats.Msg, ack *jetstream.PubAck) {
	if !p.resolve(msg) {
		return
	}
	p.stored.Add(1)
	if ack.Duplicate {
		p.duplicates.Add(1)
	}
}

func (p *AsyncPublisher[E]) onFail(_ jetstream.JetStream, msg *nats.Msg, err error) {
	if !p.resolve(msg) {
		return
	}
	p.fail(msg, err)
}

// fail counts, logs and reports to OnError an event that was not stored.
// It may run with the client's lock held: it must not call into the
// client.
func (p *AsyncPublisher[E]) fail(msg *nats.Msg, err error) {
	p.failed.Add(1)
	perr := &PublishError{Subject: p.subject, Type: p.hdr.typ, MsgID: msg.Header.Get(jetstream.MsgIDHeader), Err: err}
	p.pmu.Lock()
	if p.stopping {
		p.stopFailed = append(p.stopFailed, perr.MsgID)
	}
	p.pmu.Unlock()
	p.log.Error("durable: event not stored", zap.String("subject", p.subject), zap.String("type", p.hdr.typ),
		zap.String("msgID", perr.MsgID), zap.Error(err))
	if p.cfg.OnError != nil {
		ev, derr := p.decode(msg.Data)
		if derr != nil { // a codec that cannot decode what it encoded
			perr.Err = errors.Join(err, fmt.Errorf("the event cannot be decoded back: %w", derr))
		}
		p.cfg.OnError(ev, perr)
	}
}

// Publish hands ev to the client, waiting while MaxPending events await
// their acknowledgment, until ctx ends. An error means ev was not sent
// (and OnError is not called for it); nil means it was sent, and its
// outcome is counted in [AsyncStats], a failure given to OnError.
//
// Under Fx ([ProvideAsyncPublisher]), Publish fails with an error
// wrapping [ErrNotStarted] before the application has started, and
// [ErrStopped] once its stop has begun.
func (p *AsyncPublisher[E]) Publish(ctx context.Context, ev E) error {
	msg, err := buildMsg(p.subject, p.hdr, p.encode, ev)
	if err != nil {
		return err
	}
	for {
		sent, err := p.publishOnce(msg)
		if sent {
			return nil
		}
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
			return &PublishError{Subject: p.subject, Type: p.hdr.typ, MsgID: msg.Header.Get(jetstream.MsgIDHeader),
				Err: errors.Join(err, ctx.Err())}
		}
	}
}

// publishOnce makes one attempt to hand msg to the client, waiting at
// most 50ms for room.
func (p *AsyncPublisher[E]) publishOnce(msg *nats.Msg) (bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	switch p.state {
	case asyncNotStarted:
		return false, ErrNotStarted
	case asyncStopping:
		return false, ErrStopped
	}
	// In pending before the client has it: its acknowledgment may come
	// before PublishMsgAsync returns.
	p.pmu.Lock()
	p.pending[msg] = struct{}{}
	p.pmu.Unlock()
	if _, err := p.js.PublishMsgAsync(msg, jetstream.WithStallWait(50*time.Millisecond)); err != nil {
		// The client registered nothing: no handler will see msg.
		p.resolve(msg)
		return false, err
	}
	p.published.Add(1)
	return true, nil
}

// Flush waits until every event published has been acknowledged or has
// failed, or until ctx ends: then the error gives the count of events
// still awaiting their acknowledgment, with their message IDs. They stay
// pending (they may yet be stored, or fail after AckTimeout).
func (p *AsyncPublisher[E]) Flush(ctx context.Context) error {
	p.mu.RLock()
	js := p.js
	p.mu.RUnlock()
	if js == nil {
		return nil // never started: nothing was published
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		ids := p.pendingIDs()
		return fmt.Errorf("durable: %d events to %q still awaiting acknowledgment (msg ids %s): %w",
			len(ids), p.subject, listIDs(ids), ctx.Err())
	}
}

// pendingIDs returns the message IDs of the pending events, sorted.
func (p *AsyncPublisher[E]) pendingIDs() []string {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	ids := make([]string, 0, len(p.pending))
	for m := range p.pending {
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	sort.Strings(ids)
	return ids
}

// listIDs names at most 10 ids, and the count of the others.
func listIDs(ids []string) string {
	const most = 10
	if len(ids) <= most {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:most], ", "), len(ids)-most)
}

// start gives the publisher of [ProvideAsyncPublisher] a JetStream on the
// connection of this run, and lets Publish through.
func (p *AsyncPublisher[E]) start(nc *nats.Conn) error {
	js, err := p.newJetStream(nc)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.js, p.state = js, asyncRunning
	return nil
}

// stop refuses new events, waits for the pending ones within AckTimeout
// and three quarters of ctx's time, and fails those still pending then. The error
// counts and names the events not stored: failed during the stop, or
// given up at its end.
func (p *AsyncPublisher[E]) stop(ctx context.Context) error {
	p.mu.Lock()
	if p.state != asyncRunning {
		p.mu.Unlock()
		return nil
	}
	p.state = asyncStopping
	js := p.js
	p.mu.Unlock()
	p.pmu.Lock()
	p.stopping, p.stopFailed = true, nil
	p.pmu.Unlock()

	// The wait ends with three quarters of the stop's time left, keeping
	// the rest for the Conn's close: Fx skips the hooks left, and drops
	// their errors, once the stop's context has ended.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-time.Until(dl)/4))
		defer cancel()
	}
	var cause error
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		cause = ctx.Err()
	}
	// At the end of the stop the connection closes, and the client
	// reports nothing for the events it was still waiting on: fail them
	// here, each once.
	p.pmu.Lock()
	var left []*nats.Msg
	for m := range p.pending {
		left = append(left, m)
		delete(p.pending, m)
	}
	p.pmu.Unlock()
	for _, m := range left {
		p.fail(m, fmt.Errorf("no acknowledgment by the end of the stop (the event may or may not be stored; publish it again with the same ID to be sure): %w", cause))
	}
	// Unsubscribe from the acknowledgments: the connection may outlive the
	// run (a Conn not closed by the application), and the next start
	// makes a JetStream of its own. The events it still held are no
	// longer pending: its error handler's calls for them are ignored.
	js.CleanupPublisher()
	p.pmu.Lock()
	failed := p.stopFailed
	p.stopping, p.stopFailed = false, nil
	p.pmu.Unlock()
	if len(failed) == 0 {
		return nil
	}
	sort.Strings(failed)
	err := fmt.Errorf("durable: %d events to %q not stored at the stop (msg ids %s); each was given to OnError",
		len(failed), p.subject, listIDs(failed))
	if cause != nil {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// Stats returns the counters.
func (p *AsyncPublisher[E]) Stats() AsyncStats {
	return AsyncStats{
		Published:  p.published.Load(),
		Stored:     p.stored.Load(),
		Duplicates: p.duplicates.Load(),
		Failed:     p.failed.Load(),
	}
}
