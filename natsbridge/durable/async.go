package durable

import (
	"context"
	"errors"
	"fmt"
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
type AsyncPublisher[E any] struct {
	js      jetstream.JetStream // its own: the handlers are per JetStream value
	subject string
	encode  func(E) ([]byte, error)
	decode  func([]byte) (E, error)
	hdr     header
	onError func(E, *PublishError)
	log     *zap.Logger

	published, stored, duplicates, failed atomic.Uint64
}

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
	p := &AsyncPublisher[E]{
		subject: subject, encode: o.codec.Encode, decode: o.codec.Decode, hdr: headerFor[E](),
		onError: cfg.OnError, log: cfg.Logger,
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(p.onAck),
		jetstream.WithPublishAsyncErrHandler(p.onFail),
	)
	if err != nil {
		return nil, fmt.Errorf("durable: %w", err)
	}
	p.js = js
	return p, nil
}

func (p *AsyncPublisher[E]) onAck(_ jetstream.JetStream, _ *nats.Msg, ack *jetstream.PubAck) {
	p.stored.Add(1)
	if ack.Duplicate {
		p.duplicates.Add(1)
	}
}

func (p *AsyncPublisher[E]) onFail(_ jetstream.JetStream, msg *nats.Msg, err error) {
	p.failed.Add(1)
	perr := &PublishError{Subject: p.subject, Type: p.hdr.typ, MsgID: msg.Header.Get(jetstream.MsgIDHeader), Err: err}
	p.log.Error("durable: event not stored", zap.String("subject", p.subject), zap.String("type", p.hdr.typ),
		zap.String("msgID", perr.MsgID), zap.Error(err))
	if p.onError != nil {
		ev, derr := p.decode(msg.Data)
		if derr != nil { // a codec that cannot decode what it encoded
			perr.Err = errors.Join(err, fmt.Errorf("the event cannot be decoded back: %w", derr))
		}
		p.onError(ev, perr)
	}
}

// Publish hands ev to the client, waiting while MaxPending events await
// their acknowledgment, until ctx ends. An error means ev was not sent
// (and OnError is not called for it); nil means it was sent, and its
// outcome is counted in [AsyncStats], a failure given to OnError.
func (p *AsyncPublisher[E]) Publish(ctx context.Context, ev E) error {
	msg, err := buildMsg(p.subject, p.hdr, p.encode, ev)
	if err != nil {
		return err
	}
	for {
		_, err := p.js.PublishMsgAsync(msg, jetstream.WithStallWait(50*time.Millisecond))
		if err == nil {
			p.published.Add(1)
			return nil
		}
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
			return &PublishError{Subject: p.subject, Type: p.hdr.typ, MsgID: msg.Header.Get(jetstream.MsgIDHeader),
				Err: errors.Join(err, ctx.Err())}
		}
	}
}

// Flush waits until every event published has been acknowledged or has
// failed, or until ctx ends (an error).
func (p *AsyncPublisher[E]) Flush(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("durable: %d events to %q still awaiting acknowledgment: %w", p.js.PublishAsyncPending(), p.subject, ctx.Err())
	}
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
