package lifecycle

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPBurstCoalesces sends the signals synchronously through the
// handler, so that it knows when each has been handled.
func TestSIGHUPBurstCoalesces(t *testing.T) {
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var runs atomic.Int32
	r, err := New(nil, WithoutSignals(), WithProviders(NewProvider("config", Normal, Hooks{
		Reload: func(context.Context) error {
			runs.Add(1)
			entered <- struct{}{}
			<-release
			return nil
		},
	})))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	}()

	r.handleSignal(r.current(), syscall.SIGHUP)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for the first reload")
	}
	for range 5 {
		r.handleSignal(r.current(), syscall.SIGHUP) // all join the one pending run
	}
	close(release)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for the second reload")
	}
	// The second run has started: nothing is pending behind it.
	r.current().reload.mu.Lock()
	pending := r.current().reload.next
	r.current().reload.mu.Unlock()
	if pending != nil {
		t.Fatal("a third run is pending after a coalesced burst")
	}
	if got := runs.Load(); got != 2 {
		t.Fatalf("%d runs, want 2", got)
	}
}
