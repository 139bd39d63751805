package runhooks_test

import (
	"testing"
	"time"

	"github.com/claviron/fxruntime/internal/runhooks"
)

func TestGateRefusesWorkOnceEndedAndEndWaitsForWorkUnderWay(t *testing.T) {
	var g runhooks.Gate
	if !g.Enter() {
		t.Fatal("a new gate refused work")
	}
	ended := make(chan struct{})
	go func() {
		g.End()
		close(ended)
	}()
	select {
	case <-ended:
		t.Fatal("End returned while work was under way")
	case <-time.After(20 * time.Millisecond):
	}
	g.Leave()
	<-ended
	if g.Enter() {
		t.Fatal("an ended gate let work in")
	}
	g.End() // idempotent
}
