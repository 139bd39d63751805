package fxbus

import (
	"errors"
	"fmt"
)

var (
	// ErrEmpty is returned by [Subscription.TryRecv] when no event is
	// waiting for the subscriber.
	ErrEmpty = errors.New("fxbus: no event waiting")

	// ErrClosed is returned once a subscription can deliver nothing more:
	// either the subscription was closed, or the bus was closed and the
	// subscriber has drained every event buffered for it.
	ErrClosed = errors.New("fxbus: subscription closed")

	// ErrLagged matches every [*LaggedError] under [errors.Is].
	ErrLagged = errors.New("fxbus: subscriber lagged behind")
)

// LaggedError reports that a subscriber fell more than the bus capacity
// behind and that Missed events of its type were overwritten before it read
// them. The subscription stays usable: its next receive returns the oldest
// event still retained.
//
// Match it with errors.Is(err, ErrLagged), or read the count with
// errors.As(err, &lagged) where lagged is a *LaggedError.
type LaggedError struct {
	// Missed is how many events this subscriber will never see.
	Missed uint64
}

// Error implements error.
func (e *LaggedError) Error() string {
	return fmt.Sprintf("fxbus: subscriber lagged behind and missed %d events", e.Missed)
}

// Is reports whether target is [ErrLagged].
func (e *LaggedError) Is(target error) bool { return target == ErrLagged }
