package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseWorkMillis checks /work's ms parameter against the bound it is
// given, whatever the text and the bound: an accepted value is an integer
// number of milliseconds from 1 to the bound, parsed exactly; every
// integer in that range is accepted; a refusal names the bound.
func FuzzParseWorkMillis(f *testing.F) {
	for _, s := range []string{
		"1", "250", "3000", "0", "-1", "", "ten", "1.5", "1e3", "0x10", "+5", " 5",
		"9223372036854", "9223372036855", "288230376151711844", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808",
	} {
		f.Add(s, int64(2000))
	}
	f.Add("9223372036854", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, s string, limitMs int64) {
		if limitMs < 1 || limitMs > math.MaxInt64/int64(time.Millisecond) {
			t.Skip("the bound comes from a config whose max_work is a positive time.Duration")
		}
		limit := time.Duration(limitMs) * time.Millisecond
		d, err := parseWorkMillis(s, limit)
		ms, perr := strconv.ParseInt(s, 10, 64)
		inRange := perr == nil && ms >= 1 && ms <= limitMs
		if err != nil {
			if inRange {
				t.Fatalf("parseWorkMillis(%q, %v) refused a value in range: %v", s, limit, err)
			}
			if !strings.Contains(err.Error(), strconv.FormatInt(limitMs, 10)) {
				t.Fatalf("parseWorkMillis(%q, %v) = %v: the error does not name the bound", s, limit, err)
			}
			return
		}
		if !inRange {
			t.Fatalf("parseWorkMillis(%q, %v) = %v: accepted a value outside 1 to %d", s, limit, d, limitMs)
		}
		if want := time.Duration(ms) * time.Millisecond; d != want {
			t.Fatalf("parseWorkMillis(%q, %v) = %v, want %v", s, limit, d, want)
		}
	})
}
