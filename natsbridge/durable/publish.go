package durable

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// PublishError reports an event that was not stored, naming it.
type PublishError struct {
	Subject string
	// Type is the event's Go type, as in [HeaderType].
	Type string
	// MsgID is the message ID the event was published with.
	MsgID string
	Err   error
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("durable: publish %s (msg id %s) to %q: %v", e.Type, e.MsgID, e.Subject, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// Publisher publishes events of type E to one subject of a stream and
// returns once the server has stored them. Safe for concurrent use.
type Publisher[E any] struct {
	js      jetstream.JetStream // nil when client is set
	client  *Client             // set by ProvidePublisher: js comes at start
	subject string
	codec   func(E) ([]byte, error)
	hdr     header
}

// NewPublisher returns a Publisher of E to subject, which a stream must
// store (see [EnsureStream]). It fails on an empty subject or a nil js.
func NewPublisher[E any](js jetstream.JetStream, subject string, opts ...Option[E]) (*Publisher[E], error) {
	if js == nil {
		return nil, errors.New("durable: nil JetStream")
	}
	p, err := newPublisher(subject, opts)
	if err != nil {
		return nil, err
	}
	p.js = js
	return p, nil
}

func newPublisher[E any](subject string, opts []Option[E]) (*Publisher[E], error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	return &Publisher[E]{subject: subject, codec: o.codec.Encode, hdr: headerFor[E]()}, nil
}

// Publish stores ev and returns the server's acknowledgment: the stream
// and sequence that hold it, and Duplicate when the server had already
// stored a message with the same ID within the duplicate window (the
// event is then stored once). The ID is ev's [Identified.EventID], or a
// generated one.
//
// The error is a [*PublishError] naming the event. No answer from a
// stream (none stores the subject, JetStream is unavailable, the server is
// down) fails within the client's own retries and ctx. After an error,
// the event may or may not be stored (the server may have stored it and
// the answer been lost): publish it again with the same ID to be sure,
// which takes an [Identified] event, inside the duplicate window.
func (p *Publisher[E]) Publish(ctx context.Context, ev E) (*jetstream.PubAck, error) {
	msg, err := buildMsg(p.subject, p.hdr, p.codec, ev)
	if err != nil {
		return nil, err
	}
	js := p.js
	if js == nil {
		if js = p.client.JetStream(); js == nil {
			return nil, &PublishError{Subject: p.subject, Type: p.hdr.typ, MsgID: msg.Header.Get(jetstream.MsgIDHeader), Err: ErrNotStarted}
		}
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, &PublishError{Subject: p.subject, Type: p.hdr.typ, MsgID: msg.Header.Get(jetstream.MsgIDHeader), Err: err}
	}
	return ack, nil
}

func buildMsg[E any](subject string, hdr header, encode func(E) ([]byte, error), ev E) (*nats.Msg, error) {
	id := ""
	if e, ok := any(ev).(Identified); ok {
		id = e.EventID()
	}
	if id == "" {
		id = nuid.Next()
	}
	data, err := encode(ev)
	if err != nil {
		return nil, &PublishError{Subject: subject, Type: hdr.typ, MsgID: id, Err: fmt.Errorf("encode: %w", err)}
	}
	return &nats.Msg{
		Subject: subject,
		Data:    data,
		Header: nats.Header{
			jetstream.MsgIDHeader: {id},
			HeaderType:            {hdr.typ},
			HeaderSchema:          {hdr.schema},
		},
	}, nil
}

// checkSubject refuses a subject no stream can store: empty, with a
// wildcard, white space, or an empty token.
func checkSubject(subject string) error {
	if subject == "" {
		return errors.New("durable: empty subject")
	}
	tokenStart := true
	for i, r := range subject {
		switch {
		case r == '.':
			if tokenStart {
				return fmt.Errorf("durable: subject %q has an empty token at byte %d; tokens are separated by single dots", subject, i)
			}
			tokenStart = true
			continue
		case r == ' ' || r == '\t' || r == '\r' || r == '\n' || r < 0x20 || r == 0x7f:
			return fmt.Errorf("durable: subject %q contains white space or a control character at byte %d", subject, i)
		case r == '*' || r == '>':
			if tokenStart && (i+1 == len(subject) || subject[i+1] == '.') {
				return fmt.Errorf("durable: subject %q has a wildcard; events are published to one subject", subject)
			}
		}
		tokenStart = false
	}
	if tokenStart {
		return fmt.Errorf("durable: subject %q ends with a dot", subject)
	}
	return nil
}
