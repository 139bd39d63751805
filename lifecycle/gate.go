package lifecycle

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Gate admits units of in-flight work (a request, a job) and, once
// closed, refuses new ones while those admitted finish. The runtime owns
// one ([Runtime.Gate]), closes it when shutdown begins and waits for it on
// stop; a Gate can also be used on its own.
//
// The zero value is an open, empty gate. Every method is safe for
// concurrent use. A Gate must not be copied after first use.
type Gate struct {
	mu       sync.Mutex    // guards the fields below
	closed   bool          // no more admissions
	inFlight int           // permits not yet released
	idle     chan struct{} // made by Wait when work is in flight; closed when inFlight drops to 0
}

// Permit is one admitted unit of work, made by [Gate.Enter]. Release it
// when the work is done; Release on a nil *Permit does nothing.
type Permit struct {
	g        *Gate
	released atomic.Bool // set by the first Release
}

// Enter admits one unit of work and returns its permit, or
// [ErrGateClosed] once the gate is closed. It never blocks.
func (g *Gate) Enter() (*Permit, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrGateClosed
	}
	g.inFlight++
	return &Permit{g: g}, nil
}

// Release marks the permit's work as done. It is idempotent and safe from
// any goroutine; a nil permit does nothing.
func (p *Permit) Release() {
	if p == nil || p.g == nil || !p.released.CompareAndSwap(false, true) {
		return // nil or zero Permit: nothing to release
	}
	g := p.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.inFlight == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// Close makes the gate refuse new work. Work already admitted goes on.
// Close is idempotent.
func (g *Gate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
}

// Closed reports whether the gate refuses new work.
func (g *Gate) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// InFlight returns the number of permits not yet released.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// DrainResult is the outcome of [Gate.Wait].
type DrainResult struct {
	// Drained is true when no work was left in flight.
	Drained bool
	// Left is the number of permits still held when Wait gave up.
	Left int
	// Waited is how long Wait waited.
	Waited time.Duration
}

// Wait blocks until no work is in flight or ctx is done, and says which:
// drained, or forced with the number of permits left. It does not close
// the gate: call Close first to stop admissions (the runtime does).
func (g *Gate) Wait(ctx context.Context) DrainResult {
	begin := time.Now()
	g.mu.Lock()
	if g.inFlight == 0 {
		g.mu.Unlock()
		return DrainResult{Drained: true}
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()

	select {
	case <-idle:
		return DrainResult{Drained: true, Waited: time.Since(begin)}
	case <-ctx.Done():
		left := g.InFlight()
		return DrainResult{Drained: left == 0, Left: left, Waited: time.Since(begin)}
	}
}

// reopen admits work again: a new run of the runtime begins.
func (g *Gate) reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = false
}
