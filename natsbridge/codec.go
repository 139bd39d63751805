package natsbridge

import (
	"encoding/json"
	"fmt"
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

// JSON is the default [Codec]: encoding/json, so exported fields only, and
// unknown fields in a payload are ignored (a newer peer may add fields).
// Interface-typed fields, such as an error, do not survive the trip: give
// them a wire form of their own, as [PeerShutdown] does for
// fxbus.ShutdownInitiated.
type JSON[E any] struct{}

// Encode implements [Codec].
func (JSON[E]) Encode(ev E) ([]byte, error) { return json.Marshal(ev) }

// Decode implements [Codec]. A payload that is not JSON of E is an error.
func (JSON[E]) Decode(data []byte) (E, error) {
	var ev E
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("natsbridge: json: %w", err)
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
