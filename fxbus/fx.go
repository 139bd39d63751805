package fxbus

import (
	"context"
	"sync"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// Config is the bus configuration [Module] reads from the Fx graph, when
// one is supplied:
//
//	fx.Supply(fxbus.Config{Capacity: 256})
type Config struct {
	// Capacity is the number of events retained per type; 0 means
	// [DefaultCapacity]. See [WithCapacity] for the valid range.
	Capacity int
}

// Module provides one [*Bus] to an Fx application and ties it to the
// application's lifecycle:
//
//   - the bus is built from an optional [Config] and an optional
//     *zap.Logger found in the graph;
//   - [ShutdownInitiated] is emitted, once per stop, before the first OnStop
//     hook of any module runs, whether the stop comes from app.Stop, a
//     signal under app.Run, or fx.Shutdowner;
//   - the bus is closed after every other OnStop hook has run, so events
//     emitted while stopping still reach their subscribers. A bus does not
//     reopen: an application started again after a stop has a closed bus.
//
// Pass Module at the top level of fx.New, not inside another fx.Module: it
// decorates fx.Lifecycle in the scope it is given, and only hooks appended
// through that scope are covered. See the package documentation, section
// "Shutdown", for how it works and what it costs.
var Module fx.Option = fx.Options(
	fx.Module("fxbus",
		fx.Provide(newRelay, provideBus),
	),
	fx.Decorate(decorateLifecycle),
)

// relay connects the lifecycle decorator to the bus without making the
// decorator depend on *Bus: a decorator of fx.Lifecycle that needs a value
// whose constructor itself needs fx.Lifecycle makes dig build that value
// twice. The bus registers itself here when it is built.
type relay struct {
	mu  sync.Mutex // guards every field
	bus *Bus       // nil until the bus is built

	// starters counts the hooks with an OnStart appended before the app
	// began to start (fx runs no hook appended later); started counts
	// those whose OnStart has returned nil in the current start.
	starters, started int
	starting          bool
	stopSeen          bool // an OnStop hook of the current run has begun
}

func newRelay() *relay { return &relay{} }

func (r *relay) set(b *Bus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bus = b
}

// stopping runs at the start of every OnStop hook: the first of a stop
// announces ShutdownInitiated (unless the stop was announced already) and
// then hands the stop's context to the OnAppStopping callbacks.
func (r *relay) stopping(ctx context.Context) {
	r.mu.Lock()
	b, first := r.bus, !r.stopSeen
	r.stopSeen = true
	r.mu.Unlock()
	if b == nil {
		return
	}
	if !b.AnnounceShutdown(ShutdownInitiated{Reason: "fx: application stopping"}) {
		// Announced already, perhaps by another goroutine still running
		// the OnShutdown callbacks: no OnStop hook runs before they end.
		b.waitAnnounced(ctx)
	}
	if first {
		b.appStopping(ctx)
	}
}

// appended counts a hook with an OnStart and reports whether it will run.
func (r *relay) appended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.starting {
		return false
	}
	r.starters++
	return true
}

// begin is the app's first OnStart: a new run begins.
func (r *relay) begin() {
	r.mu.Lock()
	r.starting = true
	r.started = 0
	r.stopSeen = false
	b, done := r.bus, r.starters == 0
	r.mu.Unlock()
	if b == nil {
		return
	}
	b.newRun()
	if done {
		b.appStarted()
	}
}

// startedOne records an OnStart that returned nil; after the last one, the
// application is up.
func (r *relay) startedOne() {
	r.mu.Lock()
	r.started++
	b, done := r.bus, r.started == r.starters
	r.mu.Unlock()
	if done && b != nil {
		b.appStarted()
	}
}

// end is the app's last OnStop: the run is over.
func (r *relay) end(ctx context.Context) {
	r.stopping(ctx) // in case no other hook had an OnStop
	r.mu.Lock()
	r.starting = false
	b := r.bus
	r.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

type busParams struct {
	fx.In

	Config    Config      `optional:"true"`
	Logger    *zap.Logger `optional:"true"`
	Relay     *relay
	Lifecycle fx.Lifecycle // asked for so that decorateLifecycle runs
}

func provideBus(p busParams) (*Bus, error) {
	capacity := p.Config.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	b, err := New(WithCapacity(capacity), WithLogger(p.Logger))
	if err != nil {
		return nil, err
	}
	b.phases.managed.Store(true)
	p.Relay.set(b)
	return b, nil
}

// decorateLifecycle wraps the root fx.Lifecycle so that every OnStop hook
// appended through it first announces the shutdown, and every OnStart hook
// is counted so that the bus learns when the last one has returned.
// Because dig runs it when fx.Lifecycle is first asked for, the hook it
// appends to the inner lifecycle is the application's first: it starts
// first, which begins a run, and stops last, which is where the bus closes.
func decorateLifecycle(lc fx.Lifecycle, r *relay) fx.Lifecycle {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			r.begin()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			r.end(ctx)
			return nil
		},
	})
	return &announcingLifecycle{lc: lc, relay: r}
}

// announcingLifecycle is the fx.Lifecycle the application's modules see.
type announcingLifecycle struct {
	lc    fx.Lifecycle
	relay *relay
}

// Append appends h with its OnStart followed by a count of started hooks,
// and its OnStop preceded by the shutdown announcement. h is copied whole,
// so names given with fx.StartHook, fx.StopHook and fx.StartStopHook stay
// in Fx's event log.
func (l *announcingLifecycle) Append(h fx.Hook) {
	if start := h.OnStart; start != nil && l.relay.appended() {
		h.OnStart = func(ctx context.Context) error {
			if err := start(ctx); err != nil {
				return err
			}
			l.relay.startedOne()
			return nil
		}
	}
	if stop := h.OnStop; stop != nil {
		h.OnStop = func(ctx context.Context) error {
			l.relay.stopping(ctx)
			return stop(ctx)
		}
	}
	l.lc.Append(h)
}
