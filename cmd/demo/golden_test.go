package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/tour.golden from this run of the tour")

const goldenPath = "../../testdata/tour.golden"

// TestTourGolden runs the tour in-process and compares its timeline with
// testdata/tour.golden, the varying parts masked.
func TestTourGolden(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-config", "../../testdata/good.json"}, &stdout, &stderr)
	if code != 0 || stderr.Len() > 0 {
		t.Fatalf("exit code %d, stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	got := mask(stdout.String())
	if *update {
		if err := os.WriteFile(goldenPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", goldenPath)
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/demo -run TestTourGolden -update to create it)", err)
	}
	if !slices.Equal(blocks(got), blocks(string(want))) {
		t.Errorf("the tour's timeline differs from %s (go test -run TestTourGolden -update refreshes it)\ngot:\n%s\nwant:\n%s",
			goldenPath, got, want)
	}
}

// The varying parts of the timeline.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^ *\+\d+\.\d{3}s`), "  +T.TTTs"},      // time since start
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},     // the port picked
	{regexp.MustCompile(`\b(took|waited)=[0-9.]+[a-zµ]+`), "$1=D"}, // measured durations
	{regexp.MustCompile(`\S*testdata/`), "testdata/"},              // the path to testdata
}

// mask replaces the varying parts of a timeline with fixed text.
func mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// blocks splits a timeline at its headings ("== ...") and sorts the
// lines of each block. The tour waits for the events of each step before
// the next, so a block's lines are fixed; their order is not wholly: the
// bus keeps order within an event type, not across types, and tasks run
// concurrently (two TaskStopped, for instance, come in either order).
func blocks(s string) []string {
	var out []string
	var cur []string
	flush := func() {
		slices.Sort(cur)
		out = append(out, strings.Join(cur, "\n"))
		cur = nil
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "== ") {
			flush()
		}
		cur = append(cur, l)
	}
	flush()
	return out
}

func TestMask(t *testing.T) {
	tests := []struct{ desc, give, want string }{
		{"time", "  +0.123s  lifecycle.ReadyEvent", "  +T.TTTs  lifecycle.ReadyEvent"},
		{"ten seconds", " +12.345s  x", "  +T.TTTs  x"},
		{"port", "http://127.0.0.1:43123", "http://127.0.0.1:PORT"},
		{"durations", "applied (took=1.23ms) (waited=296.73ms) (took=0s)", "applied (took=D) (waited=D) (took=D)"},
		{"micro", "took=20µs", "took=D"},
		{"path", "config ../../testdata/bad.json: x", "config testdata/bad.json: x"},
		{"fixed durations stay", "attempt 2 in 20ms", "attempt 2 in 20ms"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := mask(tt.give); got != tt.want {
				t.Errorf("mask(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
