package natsbridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Codec turns events of type E into message payloads and back. Every
// process that bridges a subject must use the same codec for it.
//
// Encode and Decode may be called from several goroutines at once. Decode
// gets a payload that the bridge does not reuse; it may keep it.
type Codec[E any] interface {
	Encode(E) ([]byte, error)
	Decode([]byte) (E, error)
}

// JSON is the default [Codec]: encoding/json, so exported fields only.
// Interface-typed fields, such as an error, do not survive the trip: give
// them a wire form of their own, as [PeerShutdownEvent] does for
// fxbus.ShutdownInitiatedEvent.
//
// Decoding is strict unless Lenient is set: a payload is decoded only if
// it is the JSON of an E, as json.Marshal writes it. These are decode
// failures:
//
//   - a field E does not have (names match as encoding/json matches them,
//     without regard to case);
//   - a field json.Marshal always writes (one without omitempty or
//     omitzero, at any depth of nested structs) that is missing;
//   - null where E has a value that is never null: for the whole payload
//     unless E is a pointer, slice, map or interface, and for such a
//     field;
//   - a value of another JSON type than the field's, and anything after
//     the value.
//
// So a peer that adds a field to E, or removes one, makes the others'
// decoding fail (counted in [Stats.DecodeFailures] and logged) until they
// have the same E. Set Lenient during such a change to decode as
// encoding/json does by default: unknown fields ignored, missing ones and
// nulls left at their zero value.
type JSON[E any] struct {
	// Lenient decodes as json.Unmarshal does; see [JSON].
	Lenient bool
}

// Encode implements [Codec].
func (JSON[E]) Encode(ev E) ([]byte, error) { return json.Marshal(ev) }

// Decode implements [Codec]. A payload that is not the JSON of an E is an
// error; see [JSON] for what Lenient accepts in addition.
func (j JSON[E]) Decode(data []byte) (E, error) {
	var ev, zero E
	if err := json.Unmarshal(data, &ev); err != nil {
		return zero, fmt.Errorf("natsbridge: json: %w", err)
	}
	if j.Lenient {
		return ev, nil
	}
	s := shapeOf[E]()
	unsure, err := s.check(data)
	if err != nil {
		return zero, fmt.Errorf("natsbridge: json: not the JSON of %s: %w", reflect.TypeFor[E](), err)
	}
	if unsure {
		// The payload has a key the check cannot place (a field left
		// out of the zero value's JSON, or one E has not), or an object
		// it does not look into: encoding/json tells whether every key
		// is one of E's. It costs a second decoding, which the payloads
		// json.Marshal writes for most types do not need.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var probe E
		if err := dec.Decode(&probe); err != nil {
			return zero, fmt.Errorf("natsbridge: json: %w", err)
		}
	}
	return ev, nil
}

// A RouteOption configures one route made by [Forward] or [Receive], or by
// the Fx options [Bridge], [BridgeOut] and [BridgeIn].
type RouteOption[E any] interface {
	applyRoute(*routeConfig[E])
}

type routeConfig[E any] struct {
	codec Codec[E]
}

type routeOptionFunc[E any] func(*routeConfig[E])

func (f routeOptionFunc[E]) applyRoute(c *routeConfig[E]) { f(c) }

// WithCodec sets the codec of a route; the default is [JSON]. Go infers E
// from c only when c's static type is Codec[E], so for a concrete codec
// name the type: WithCodec[Order](orderProto{}). A nil codec keeps the
// default.
func WithCodec[E any](c Codec[E]) RouteOption[E] {
	return routeOptionFunc[E](func(rc *routeConfig[E]) {
		if c != nil {
			rc.codec = c
		}
	})
}

func newRouteConfig[E any](opts []RouteOption[E]) routeConfig[E] {
	rc := routeConfig[E]{codec: JSON[E]{}}
	for _, o := range opts {
		if o != nil {
			o.applyRoute(&rc)
		}
	}
	return rc
}
