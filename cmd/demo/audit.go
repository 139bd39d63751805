package main

import (
	"context"
	"sync"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// OrderRecorded is emitted when the ledger has booked an order.
type OrderRecorded struct {
	ID      int
	Orders  int // orders booked so far
	Revenue int // in cents
}

// LedgerClosed is emitted when the ledger, told of the shutdown, stops
// booking orders and flushes its totals.
type LedgerClosed struct {
	Orders  int
	Revenue int
	Reason  string // the shutdown's reason
}

// ledger books the orders it hears of on the bus. It knows nothing of the
// order task: the two modules share only the OrderPlaced type.
//
// Listen runs each handler on its own goroutine, so the order and shutdown
// handlers run concurrently: mu guards the fields below.
type ledger struct {
	bus *fxbus.Bus

	mu      sync.Mutex
	closed  bool
	orders  int
	revenue int
}

// newLedger subscribes the ledger's handlers for the life of the app.
func newLedger(lc fx.Lifecycle, bus *fxbus.Bus) *ledger {
	l := &ledger{bus: bus}
	fxbus.Listen(lc, bus, l.onOrder)
	fxbus.Listen(lc, bus, l.onShutdown)
	return l
}

// onOrder books an order, unless the ledger is closed.
func (l *ledger) onOrder(_ context.Context, ev OrderPlaced) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil // after shutdown began: not booked
	}
	l.orders++
	l.revenue += ev.Amount
	rec := OrderRecorded{ID: ev.ID, Orders: l.orders, Revenue: l.revenue}
	l.mu.Unlock()
	fxbus.Emit(l.bus, rec)
	return nil
}

// onShutdown closes the ledger and flushes its totals. ShutdownInitiatedEvent
// is in the ledger's buffer before the first OnStop hook of the app runs,
// and Listen's OnStop lets the handler take it before the ledger stops, so
// the books are always closed and flushed.
func (l *ledger) onShutdown(_ context.Context, ev fxbus.ShutdownInitiatedEvent) error {
	l.mu.Lock()
	l.closed = true
	flushed := LedgerClosed{Orders: l.orders, Revenue: l.revenue, Reason: ev.Reason}
	l.mu.Unlock()
	fxbus.Emit(l.bus, flushed)
	return nil
}

// auditModule is the subscriber side of the shop.
var auditModule = fx.Module("audit",
	fx.Provide(newLedger),
	fx.Invoke(func(*ledger) {}),
)
