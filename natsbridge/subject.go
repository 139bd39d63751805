package natsbridge

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxSubjectLength is the longest subject a route accepts, in bytes. The
// server refuses a protocol line longer than 4096 bytes (its default
// max_control_line) and closes the connection; a publish line also holds
// the sizes of the message, so a subject is kept well under it. A server
// configured with a smaller max_control_line needs shorter subjects.
const MaxSubjectLength = 4000

// ErrInvalidSubject is returned (wrapped, with the subject and the rule it
// breaks) by [Forward], [Receive], [ForwardShutdown] and the Fx options
// that call them, for a subject the server would refuse. Such a subject
// never reaches the server: the server answers a bad subscription by
// closing the connection, which would end every route of the [Conn].
var ErrInvalidSubject = errors.New("natsbridge: invalid subject")

// checkSubject returns an error wrapping ErrInvalidSubject if the server
// would refuse subject, or if it is not meant for use: subscribe for
// Receive (wildcards allowed), publish for Forward (no wildcards).
//
// The rules are the server's, plus control characters and invalid UTF-8,
// which the server lets through but which no one means in a subject:
//
//   - not empty, at most MaxSubjectLength bytes;
//   - tokens separated by single dots: no empty token, no dot at either end;
//   - no white space or control character (the server splits its protocol
//     lines on white space), valid UTF-8;
//   - to subscribe, "*" matches one token and ">" the rest, so ">" may be
//     the last token only; "*" and ">" inside a longer token are ordinary
//     characters;
//   - to publish, no "*" or ">" token at all.
func checkSubject(subject string, subscribe bool) error {
	fail := func(rule string, args ...any) error {
		return &subjectError{subject: subject, subscribe: subscribe, rule: fmt.Sprintf(rule, args...)}
	}
	switch {
	case subject == "":
		return fail("empty subject")
	case len(subject) > MaxSubjectLength:
		return fail("%d bytes long, at most %d (MaxSubjectLength)", len(subject), MaxSubjectLength)
	case !utf8.ValidString(subject):
		return fail("not valid UTF-8")
	}
	for i := 0; i < len(subject); i++ {
		switch b := subject[i]; {
		case b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r':
			return fail("white space at byte %d", i)
		case b < 0x20 || b == 0x7f:
			return fail("control character %#02x at byte %d", b, i)
		}
	}
	toks := strings.Split(subject, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return fail("empty token: tokens are separated by single dots, with none at either end")
		case !subscribe && (tok == "*" || tok == ">"):
			return fail("wildcard token %q: Forward publishes to one subject; wildcards are for Receive", tok)
		case tok == ">" && i < len(toks)-1:
			return fail(`">" only as the last token: it matches every token after it`)
		}
	}
	return nil
}

// subjectError is an ErrInvalidSubject with its subject and rule.
type subjectError struct {
	subject   string
	subscribe bool
	rule      string
}

func (e *subjectError) Error() string {
	use := "to publish to"
	if e.subscribe {
		use = "to subscribe to"
	}
	shown := fmt.Sprintf("%q", e.subject)
	if len(e.subject) > 64 {
		shown = fmt.Sprintf("%q... (%d bytes)", e.subject[:32], len(e.subject))
	}
	return fmt.Sprintf("natsbridge: invalid subject %s %s: %s", shown, use, e.rule)
}

func (e *subjectError) Unwrap() error { return ErrInvalidSubject }
