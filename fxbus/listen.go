package fxbus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// Listen subscribes h to events of type E for the life of an Fx
// application. Call it from a constructor or an fx.Invoke:
//
//	func NewAudit(lc fx.Lifecycle, bus *fxbus.Bus, db *DB) *Audit {
//		a := &Audit{db: db}
//		fxbus.Listen(lc, bus, a.onOrderPlaced)
//		return a
//	}
//
// The subscription is made at once, so no event emitted between
// construction and start is missed. OnStart starts one goroutine that
// calls h for each event, in order. OnStop lets it handle every event
// already buffered (the [ShutdownInitiated] announcement included) and
// waits for it for at most half of the time left before the stop deadline
// (the OnStop hooks after it share the rest; with no deadline, for as long
// as it takes); then it cancels the handler's context and returns an error
// naming the handler, without waiting longer.
//
// An error or panic from h is logged with the bus's logger (a panic with
// its stack) and the handler goes on with the next event; a lag is logged
// as a warning with the number of events missed.
func Listen[E any](lc fx.Lifecycle, b *Bus, h func(context.Context, E) error) {
	l := &listener[E]{
		sub:  Subscribe[E](b),
		h:    h,
		log:  b.log,
		name: funcName(h),
		typ:  reflect.TypeFor[E]().String(),
	}
	lc.Append(fx.Hook{OnStart: l.start, OnStop: l.stop})
}

// Handle returns an fx.Option that runs h for every event of type E for
// the life of the application. It is [Listen] for a handler that needs
// nothing from the graph:
//
//	fx.New(fxbus.Module, fxbus.Handle(logOrder))
func Handle[E any](h func(context.Context, E) error) fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle, b *Bus) { Listen(lc, b, h) })
}

type listener[E any] struct {
	sub  *Subscription[E]
	h    func(context.Context, E) error
	log  *zap.Logger
	name string // the handler's function name, for logs and errors
	typ  string // the event type's name

	batch [16]E // events being handled; used by the run goroutine only

	// Set by start, read by stop; fx runs the two hooks one after the other.
	cancel context.CancelFunc
	quit   chan struct{} // closed by stop: drain and return
	done   chan struct{} // closed by the goroutine when it returns
}

func (l *listener[E]) start(context.Context) error {
	// The handler's context lives until the listener is stopped, not as
	// long as the OnStart context.
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.quit = make(chan struct{})
	l.done = make(chan struct{})
	go l.run(ctx)
	return nil
}

func (l *listener[E]) stop(ctx context.Context) error {
	defer l.sub.Close()
	if l.done == nil {
		return nil // never started
	}
	close(l.quit)
	// Every OnStop hook shares Fx's one stop deadline, and Fx skips the
	// hooks left once it passes. A stuck handler may therefore take only
	// half of the time left, so that the hooks after it still run.
	wait := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		defer cancel()
	}
	select {
	case <-l.done:
		l.cancel()
		return nil
	case <-wait.Done():
		l.cancel()
		return fmt.Errorf("fxbus: handler %s for %s did not finish within half of the time left before the stop deadline: %w",
			l.name, l.typ, wait.Err())
	}
}

func (l *listener[E]) run(ctx context.Context) {
	defer close(l.done)
	for {
		select {
		case <-l.sub.Ready():
			if !l.drain(ctx) {
				return
			}
		case <-l.quit:
			l.drain(ctx)
			return
		}
	}
}

// drain handles every event waiting and reports whether more may come.
func (l *listener[E]) drain(ctx context.Context) bool {
	for {
		// A few events per acquisition of the ring's lock: much cheaper
		// when the handler falls behind. Each slot is cleared once handled,
		// so the batch keeps no event alive.
		n, err := l.sub.TryRecvMany(l.batch[:])
		for i := range l.batch[:n] {
			l.call(ctx, l.batch[i])
			var zero E
			l.batch[i] = zero
		}
		switch {
		case n > 0:
			continue
		case errors.Is(err, ErrEmpty):
			return true
		case errors.Is(err, ErrLagged):
			var lag *LaggedError
			errors.As(err, &lag)
			l.log.Warn("fxbus: handler lagged behind and missed events",
				zap.String("handler", l.name), zap.String("type", l.typ), zap.Uint64("missed", lag.Missed))
		default: // ErrClosed
			return false
		}
	}
}

// call runs the handler on one event, turning a panic into a log entry.
func (l *listener[E]) call(ctx context.Context, ev E) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("fxbus: handler panicked",
				zap.String("handler", l.name), zap.String("type", l.typ),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	if err := l.h(ctx, ev); err != nil {
		l.log.Error("fxbus: handler failed",
			zap.String("handler", l.name), zap.String("type", l.typ), zap.Error(err))
	}
}

func funcName(f any) string {
	if fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer()); fn != nil {
		return fn.Name()
	}
	return fmt.Sprintf("%T", f)
}

// Emitter emits events of one type on a bus. Asking for an Emitter[E]
// rather than the *Bus makes "this component emits E" visible in the Fx
// graph; provide it with [ProvideEmitter]. The zero Emitter emits nothing
// and returns 0.
type Emitter[E any] struct {
	bus *Bus
}

// NewEmitter returns an Emitter of E on b.
func NewEmitter[E any](b *Bus) Emitter[E] { return Emitter[E]{bus: b} }

// Emit is [Emit] on the emitter's bus.
func (e Emitter[E]) Emit(event E) int { return Emit(e.bus, event) }

// ProvideEmitter provides an [Emitter] of E to the Fx graph.
func ProvideEmitter[E any]() fx.Option {
	return fx.Provide(NewEmitter[E])
}

// ProvideSubscription provides a *[Subscription] to E to the Fx graph: one
// subscription, made when first asked for, shared by everything that asks,
// and closed by an OnStop hook that runs after the OnStop hooks of those
// that asked for it. The subscription has a single reader: ask for it in
// one component, or use [Listen] for handlers.
func ProvideSubscription[E any]() fx.Option {
	return fx.Provide(func(lc fx.Lifecycle, b *Bus) *Subscription[E] {
		s := Subscribe[E](b)
		lc.Append(fx.StopHook(s.Close))
		return s
	})
}
