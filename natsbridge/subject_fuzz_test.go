package natsbridge

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nats-io/nats-server/v2/server"
)

// The route's subject rules are the server's, plus the documented extras
// (length, control characters, UTF-8): a subject the server refuses is
// refused, and one it accepts is accepted unless an extra rule says no.
func FuzzSubjectRules(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a.*", "a.>", ">", "*.>", "a.>.b", "a..b", ".a", "a.", "a b",
		"a\vb", "a\x00", "é.*", "\xff", "a*.b>", "*", "#.$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		extraOK := len(s) <= MaxSubjectLength && utf8.ValidString(s) &&
			!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
		for _, subscribe := range []bool{true, false} {
			serverOK := server.IsValidSubject(s)
			if !subscribe {
				serverOK = server.IsValidPublishSubject(s)
			}
			err := checkSubject(s, subscribe)
			if (err == nil) != (serverOK && extraOK) {
				t.Errorf("checkSubject(%q, subscribe=%v) = %v; server accepts: %v, extra rules accept: %v",
					s, subscribe, err, serverOK, extraOK)
			}
		}
	})
}
