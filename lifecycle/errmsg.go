package lifecycle

import "strings"

// The messages of this package's errors begin with "lifecycle: " once:
// an error of the package that wraps another one of the package drops the
// inner one's prefix, and a shutdown's reason is not repeated by its
// cause (see ShutdownError.Error).

// pkgPrefix begins the message of every error of this package.
const pkgPrefix = "lifecycle: "

// inner returns err's message without this package's prefix, as an error
// of this package that wraps err shows it.
func inner(err error) string { return strings.TrimPrefix(err.Error(), pkgPrefix) }

// wrapError is an error of this package that adds what failed to the
// error it wraps: "lifecycle: what: inner".
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// wrap returns an error that says "lifecycle: what: " and err's message,
// and wraps err.
func wrap(what string, err error) error {
	return &wrapError{msg: pkgPrefix + what + ": " + inner(err), err: err}
}
