package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
)

// A runtime built with lifecycle.New on a plain bus, started and stopped
// twice: each stop announces its shutdown (one ShutdownInitiatedEvent per stop).
func TestPlainBusRestartAnnouncesEachStop(t *testing.T) {
	b := newBus(t)
	rt, err := lifecycle.New(b, lifecycle.WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for run := 1; run <= 2; run++ {
		if err := rt.Start(ctx); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		rt.InitiateShutdown("run over", nil, 3)
		if err := rt.Stop(ctx); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		evs := ftDrain(t, sub)
		t.Logf("run %d: %d ShutdownInitiatedEvent: %+v; ExitCode()=%d", run, len(evs), evs, rt.ExitCode())
		if len(evs) != 1 {
			t.Errorf("run %d: %d announcements, want 1", run, len(evs))
		}
	}
}
