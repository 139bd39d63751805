package fxbustest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
)

// wait bounds the waits that must succeed: long for a loaded machine.
const wait = 5 * time.Second

// failTB is the test's TB, except that Fatalf records its message instead
// of ending the test, so that tests can check what a failing wait reports.
// The waits return after Fatalf.
type failTB struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (f *failTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}

// message returns the one failure recorded, failing the test if there is
// not exactly one.
func (f *failTB) message(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failed) != 1 {
		t.Fatalf("%d failures reported, want 1: %q", len(f.failed), f.failed)
	}
	return f.failed[0]
}

// contains fails the test unless s contains every one of subs.
func contains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("message does not contain %q:\n%s", sub, s)
		}
	}
}

func newBus(t *testing.T, opts ...fxbus.Option) *fxbus.Bus {
	t.Helper()
	b, err := fxbus.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// typeString is the dynamic type of v, "lifecycle.ReadyEvent".
func typeString(v any) string { return fmt.Sprintf("%T", v) }
