package runhooks_test

import (
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOfGivesTheBusHooksOnce(t *testing.T) {
	if runhooks.Of((*fxbus.Bus)(nil)) != nil || runhooks.Of(nil) != nil {
		t.Fatal("Of(nil) is not nil")
	}
	b, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sub := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
	h := runhooks.Of(b)
	if h.Managed() {
		t.Fatal("a bus built by New reports Managed")
	}
	var seen []string
	h.OnShutdown(func(reason string, _ error, code int) { seen = append(seen, reason) })
	if !h.AnnounceShutdown("first", nil, 3) || h.AnnounceShutdown("second", nil, 4) {
		t.Fatal("the first announcement must emit and the second must not")
	}
	ev, err := sub.TryRecv()
	if err != nil || ev.Reason != "first" || ev.ExitCode != 3 || len(seen) != 1 || seen[0] != "first" {
		t.Fatalf("event %+v (%v), callbacks %v", ev, err, seen)
	}
	if _, err := sub.TryRecv(); err == nil {
		t.Fatal("a second ShutdownInitiatedEvent was emitted")
	}
}
