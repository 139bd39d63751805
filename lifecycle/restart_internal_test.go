package lifecycle

import (
	"context"
	"testing"
	"time"
)

// runEnded for run 1 (what fxbus.Module calls when Fx abandons a start at
// its deadline) waits in claimStop for run 1's Start; claimStop then re-reads
// r.run, so if run 2 has begun meanwhile, run 1's runEnded stops run 2.
func TestRunEndedOfOldRunNeverStopsTheNextRun(t *testing.T) {
	hits := 0
	for i := 0; i < 20; i++ {
		r, err := New(nil, WithoutSignals(), WithProviders(
			NewProvider("a", Early, Hooks{Stop: func(context.Context) error { time.Sleep(50 * time.Millisecond); return nil }}),
			NewProvider("b", Late, Hooks{Boot: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}}),
		))
		if err != nil {
			t.Fatal(err)
		}
		ctx1, cancel1 := context.WithTimeout(context.Background(), 30*time.Millisecond)
		go func() { <-ctx1.Done(); r.runEnded(true) }() // as fxbus's watchStart does
		_ = r.Start(ctx1)
		cancel1()
		// run 1 is stopped: start run 2 with a provider set that boots fine
		r.providers = r.providers[:1]
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		err2 := r.Start(ctx2)
		time.Sleep(100 * time.Millisecond)
		if err2 == nil && r.State() != StateRunning {
			hits++
			t.Logf("try %d: run 2 started, then state %v, cause %v", i, r.State(), r.Cause())
		}
		_ = r.Stop(ctx2)
		cancel2()
	}
	if hits > 0 {
		t.Errorf("run 1's runEnded stopped run 2 in %d of 20 tries", hits)
	}
}
