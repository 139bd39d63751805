package main

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// Issue 10, scenario 12.
func FuzzParseWorkMillis(f *testing.F) {
	for _, s := range []string{
		"1", "250", "3000", "0", "-1", "", "ten", "1.5", "1e3", "0x10", "+5", " 5",
		"9223372036854", "9223372036855", "288230376151711844", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseWorkMillis(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("parseWorkMillis(%q): an error with no message", s)
			}
			return
		}
		// Accepted: an integer number of milliseconds, at least 1, whose
		// duration does not overflow, and exactly that duration.
		ms, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil {
			t.Fatalf("parseWorkMillis(%q) = %v, but %q is not an integer: %v", s, d, s, perr)
		}
		if ms < 1 || ms > math.MaxInt64/int64(time.Millisecond) {
			t.Fatalf("parseWorkMillis(%q) = %v: accepted %d ms, outside 1 to %d", s, d, ms, math.MaxInt64/int64(time.Millisecond))
		}
		if want := time.Duration(ms) * time.Millisecond; d != want {
			t.Fatalf("parseWorkMillis(%q) = %v, want %v", s, d, want)
		}
	})
}
