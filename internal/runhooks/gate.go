package runhooks

import "sync"

// Gate lets the work of one run of an application touch what the runs
// share (under fxbus.Module, the bus, which is reopened empty for each
// run) only while that run lasts. A goroutine of the run, a callback or a
// handler that outlives it (a stop cut short by its deadline leaves it
// running) must not emit into the next run, whose subscribers would take
// the event for theirs.
//
// Each run has a Gate of its own; the zero value is open. Enter before
// the work and Leave after it; End when the run ends. The work must not
// block (fxbus.Emit does not), since End waits for the work under way.
type Gate struct {
	mu    sync.RWMutex // held for reading from Enter to Leave, for writing by End
	ended bool         // guarded by mu
}

// Enter reports whether the run lasts; if so, the run cannot end until
// Leave is called.
func (g *Gate) Enter() bool {
	g.mu.RLock()
	if g.ended {
		g.mu.RUnlock()
		return false
	}
	return true
}

// Leave ends the work that a successful Enter began.
func (g *Gate) Leave() { g.mu.RUnlock() }

// End ends the run: no Enter succeeds after it returns. It waits for the
// work under way. It is idempotent.
func (g *Gate) End() {
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
}
