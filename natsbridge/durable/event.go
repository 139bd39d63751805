package durable

import (
	"reflect"
	"strconv"

	"github.com/claviron/fxruntime/natsbridge"
)

// Headers set on every message published by a [Publisher] or an
// [AsyncPublisher].
const (
	// HeaderType carries the Go type of the event: its package path and
	// name ("example.com/shop/orders.Placed"), or reflect's name for an
	// unnamed type. A [Consumer] of another type terminates the message
	// and counts it in [Stats.DecodeFailures]; a message without it is
	// decoded by the codec alone, so publishers that are not Go programs
	// can feed a consumer.
	HeaderType = "Fxruntime-Type"
	// HeaderSchema carries the event's schema version ([Versioned]); see
	// [Consumer] for what a consumer does with a version it does not know.
	HeaderSchema = "Fxruntime-Schema"
)

// Identified is implemented by events that carry their own identity. Its
// ID is the message ID the server de-duplicates on within the stream's
// duplicate window ([StreamConfig.Duplicates]): an event published twice
// with the same ID is stored once. Events that do not implement it get a
// generated ID, unique to each call of Publish.
type Identified interface {
	EventID() string
}

// Versioned is implemented by event types that declare a schema version,
// which is the version of the zero value: the method must not depend on
// the event's fields. Types that do not implement it are version 1.
type Versioned interface {
	SchemaVersion() int
}

// Option configures a [Publisher], an [AsyncPublisher] or a [Consumer].
type Option[E any] func(*options[E])

type options[E any] struct {
	codec natsbridge.Codec[E]
}

// WithCodec sets the codec; the default is natsbridge.JSON, strict. Every
// process that publishes or consumes a subject must use the same codec. A
// nil codec keeps the default.
func WithCodec[E any](c natsbridge.Codec[E]) Option[E] {
	return func(o *options[E]) {
		if c != nil {
			o.codec = c
		}
	}
}

func newOptions[E any](opts []Option[E]) options[E] {
	o := options[E]{codec: natsbridge.JSON[E]{}}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// typeName is the value of HeaderType for E.
func typeName[E any]() string {
	t := reflect.TypeFor[E]()
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

// schemaOf returns E's schema version.
func schemaOf[E any]() int {
	var zero E
	if t := reflect.TypeFor[E](); t.Kind() == reflect.Pointer {
		// A nil pointer would make a method on the value type panic.
		zero = reflect.New(t.Elem()).Interface().(E)
	}
	if v, ok := any(zero).(Versioned); ok {
		return v.SchemaVersion()
	}
	return 1
}

// header holds the constant headers of one event type.
type header struct {
	typ, schema string
}

func headerFor[E any]() header {
	return header{typ: typeName[E](), schema: strconv.Itoa(schemaOf[E]())}
}
