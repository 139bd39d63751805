package natsbridge

import "errors"

var (
	// ErrClosed is returned by every call on a [Conn] after [Conn.Close]:
	// for good by a Conn built by [New] or [Connect]; by the Conn of
	// [Module], until the application's next run begins.
	ErrClosed = errors.New("natsbridge: connection closed")

	// ErrDuplicateRoute is returned when a type is bridged twice in the
	// same direction on the same subject by one [Conn].
	ErrDuplicateRoute = errors.New("natsbridge: route already declared")
)
