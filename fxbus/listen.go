package fxbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// calls h for each event, in order.
//
// Until when h runs: on a bus built by [Module], h receives every event of
// its type emitted before the bus closes, which is after every other OnStop
// hook of the application: the [ShutdownInitiatedEvent] announcement and the
// lifecycle package's last events (lifecycle.StoppedEvent among them) included.
// The stop waits for h to handle them, up to the stop deadline; past it,
// the handler's context is cancelled and the stop returns an error naming
// the handler. So h may run after the OnStop hooks of the components it
// depends on: a handler that uses a dependency which refuses work once
// stopped must expect that error during the stop. When the start fails,
// the bus closes too, and h handles what was buffered before it ends.
// On any other bus, h runs until its own OnStop hook, which lets it handle
// what is buffered and waits for it for at most half of the time left
// before the stop deadline.
//
// What h may call: anything but what waits for the application to stop.
// To stop the application from a handler, use fx.Shutdowner or the
// lifecycle package's InitiateShutdown, which return at once. A handler
// that calls app.Stop is not waited for (the stop it began cannot end
// before it returns), and it goes on with its events once app.Stop returns.
//
// An error or panic from h is logged with the bus's logger (a panic with
// its stack), and so is a call of runtime.Goexit (as t.FailNow does); the
// handler goes on with the next event. A lag is logged as a warning with
// the number of events missed.
func Listen[E any](lc fx.Lifecycle, b *Bus, h func(context.Context, E) error) {
	l := &listener[E]{
		bus:     b,
		sub:     Subscribe[E](b),
		h:       h,
		log:     b.log.Named("fxbus"),
		name:    funcName(h),
		typ:     reflect.TypeFor[E]().String(),
		managed: b.phases.managed.Load(),
	}
	if l.managed {
		b.addListener(l)
		lc.Append(fx.Hook{OnStart: l.start})
		return
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
	bus     *Bus
	h       func(context.Context, E) error
	log     *zap.Logger
	name    string // the handler's function name, for logs and errors
	typ     string // the event type's name
	managed bool   // the bus was built by Module: the handler runs until it closes

	mu   sync.Mutex       // guards sub, run and last
	sub  *Subscription[E] // the current run's subscription; nil after an unmanaged stop
	run  *listenerRun[E]  // the current run's goroutine; nil before OnStart
	last chan struct{}    // closed when the goroutine of the latest run returns
}

// runListener is a Listen handler as the bus's Fx integration sees it.
type runListener interface {
	resubscribe()
	current() *runHandle
}

// runHandle is one run's handler goroutine, seen without its event type.
type runHandle struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine returns
	gid    atomic.Uint64 // the id of the goroutine running it, to tell one blocked in app.Stop
}

// listenerRun is the state of one run's handler goroutine. A new goroutine
// takes it over if the handler calls runtime.Goexit; one runs at a time.
type listenerRun[E any] struct {
	runHandle
	sub  *Subscription[E]
	quit chan struct{} // closed by stop (bus not built by Module): drain and return

	// batch[i:n] are events taken from the ring and not handled yet. Each
	// slot is cleared once handled, so the batch keeps no event alive.
	batch [16]E
	i, n  int
}

func (l *listener[E]) resubscribe() {
	sub := Subscribe[E](l.bus)
	l.mu.Lock()
	l.sub, l.run = sub, nil
	l.mu.Unlock()
}

func (l *listener[E]) current() *runHandle {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run == nil {
		return nil
	}
	return &l.run.runHandle
}

func (l *listener[E]) start(context.Context) error {
	// The handler's context lives until the listener is stopped, not as
	// long as the OnStart context.
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	if l.sub == nil { // started again after its own stop closed it
		l.sub = Subscribe[E](l.bus)
	}
	run := &listenerRun[E]{sub: l.sub, quit: make(chan struct{})}
	run.name, run.cancel, run.done = l.name, cancel, make(chan struct{})
	l.run = run
	prev := l.last
	l.last = run.done
	l.mu.Unlock()
	go func() {
		// One goroutine calls h at a time: a run's goroutine begins once
		// the previous run's, cut short by a stop deadline, has ended.
		if prev != nil {
			<-prev
		}
		l.loop(ctx, run)
	}()
	return nil
}

// stop is the OnStop hook of a handler on a bus not built by Module.
func (l *listener[E]) stop(ctx context.Context) error {
	l.mu.Lock()
	run, sub := l.run, l.sub
	l.sub = nil // a later start subscribes again
	l.mu.Unlock()
	if sub != nil {
		defer sub.Close()
	}
	if run == nil {
		return nil // never started
	}
	close(run.quit)
	// Every OnStop hook shares Fx's one stop deadline, and Fx skips the
	// hooks left once it passes. A stuck handler may therefore take only
	// half of the time left, so that the hooks after it still run.
	wait := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		defer cancel()
	}
	defer run.cancel()
	select {
	case <-run.done:
		return nil
	case <-wait.Done():
		return fmt.Errorf("fxbus: handler %s for %s did not finish within half of the time left before the stop deadline: %w",
			l.name, l.typ, wait.Err())
	}
}

// loop handles events until the bus closes (or stop asks it to return).
func (l *listener[E]) loop(ctx context.Context, run *listenerRun[E]) {
	run.gid.Store(goroutineID())
	returned := false
	defer func() {
		if !returned {
			// The handler called runtime.Goexit (call logged it): this
			// goroutine ends, the handler goes on in a new one.
			go l.loop(ctx, run)
			return
		}
		close(run.done)
	}()
	// A goroutine taking over after Goexit first handles the rest of the
	// batch, whose events the ring no longer holds.
	if run.i < run.n && !l.drain(ctx, run) {
		returned = true
		return
	}
	for {
		select {
		case <-run.sub.Ready():
			if !l.drain(ctx, run) {
				returned = true
				return
			}
		case <-run.quit:
			l.drain(ctx, run)
			returned = true
			return
		}
	}
}

// drain handles every event waiting and reports whether more may come.
func (l *listener[E]) drain(ctx context.Context, run *listenerRun[E]) bool {
	for {
		for run.i < run.n {
			ev := run.batch[run.i]
			var zero E
			run.batch[run.i] = zero
			run.i++
			l.call(ctx, ev)
		}
		// A few events per acquisition of the ring's lock: much cheaper
		// when the handler falls behind.
		n, err := run.sub.TryRecvMany(run.batch[:])
		run.i, run.n = 0, n
		switch {
		case n > 0:
			continue
		case errors.Is(err, ErrEmpty):
			return true
		case errors.Is(err, ErrLagged):
			var lag *LaggedError
			errors.As(err, &lag)
			l.log.Warn("handler lagged behind and missed events",
				zap.String("handler", l.name), zap.String("type", l.typ), zap.Uint64("missed", lag.Missed))
		default: // ErrClosed
			return false
		}
	}
}

// call runs the handler on one event, turning a panic or runtime.Goexit
// into a log entry.
func (l *listener[E]) call(ctx context.Context, ev E) {
	returned := false
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("handler panicked",
				zap.String("handler", l.name), zap.String("type", l.typ),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			return
		}
		if !returned {
			l.log.Error("handler failed",
				zap.String("handler", l.name), zap.String("type", l.typ), zap.Error(ErrGoexit))
		}
	}()
	if err := l.h(ctx, ev); err != nil {
		l.log.Error("handler failed",
			zap.String("handler", l.name), zap.String("type", l.typ), zap.Error(err))
	}
	returned = true
}

// waitListeners waits, within ctx, for the handlers' goroutines of the
// run, which return once they have handled what the closed bus holds for
// them, then cancels their contexts. A handler blocked in app.Stop (it
// began the stop that is waiting) is not waited for. abandoned: the stop
// deadline has passed, wait for none.
func waitListeners(ctx context.Context, ls []runListener, abandoned bool) error {
	var runs []*runHandle
	for _, l := range ls {
		if h := l.current(); h != nil {
			runs = append(runs, h)
		}
	}
	defer func() {
		for _, h := range runs {
			h.cancel()
		}
	}()
	if abandoned {
		return nil
	}
	var busy []*runHandle
	for _, h := range runs {
		select {
		case <-h.done:
		default:
			busy = append(busy, h)
		}
	}
	if len(busy) == 0 {
		return nil
	}
	stopping := goroutinesIn("go.uber.org/fx.(*App).Stop(")
	var late []string
	for _, h := range busy {
		if stopping[h.gid.Load()] {
			continue
		}
		select {
		case <-h.done:
		case <-ctx.Done():
			late = append(late, h.name)
		}
	}
	if len(late) > 0 {
		return fmt.Errorf("fxbus: handlers did not finish before the stop deadline: %s: %w",
			strings.Join(late, ", "), ctx.Err())
	}
	return nil
}

// goroutineID returns the id of the calling goroutine, from the first
// line of its stack ("goroutine 42 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	line := buf[:runtime.Stack(buf[:], false)]
	line = bytes.TrimPrefix(line, []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i > 0 {
		line = line[:i]
	}
	id, _ := strconv.ParseUint(string(line), 10, 64)
	return id
}

// goroutinesIn returns the ids of the goroutines whose stack has a frame
// starting with frame: one snapshot of every goroutine's stack, taken
// only when a stop waits for a busy handler.
func goroutinesIn(frame string) map[uint64]bool {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ids := make(map[uint64]bool)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte(frame)) {
			continue
		}
		g = bytes.TrimPrefix(g, []byte("goroutine "))
		if i := bytes.IndexByte(g, ' '); i > 0 {
			if id, err := strconv.ParseUint(string(g[:i]), 10, 64); err == nil {
				ids[id] = true
			}
		}
	}
	return ids
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

// Subscriber makes subscriptions to events of one type on a bus. Asking
// for a Subscriber[E] rather than the *Bus makes "this component listens
// to E" visible in the Fx graph; provide it with [ProvideSubscriber]. Each
// call of Subscribe makes a new subscription, with a reader of its own:
// make it in the constructor, so that nothing emitted before start is
// missed. Under [Module], every subscription of a run is closed when the
// bus closes, after every other OnStop hook. The zero Subscriber makes
// closed subscriptions.
type Subscriber[E any] struct {
	bus *Bus
}

// NewSubscriber returns a Subscriber of E on b.
func NewSubscriber[E any](b *Bus) Subscriber[E] { return Subscriber[E]{bus: b} }

// Subscribe is [Subscribe] on the subscriber's bus.
func (s Subscriber[E]) Subscribe() *Subscription[E] {
	if s.bus == nil {
		return closedSubscription[E]()
	}
	return Subscribe[E](s.bus)
}

// ProvideSubscriber provides a [Subscriber] of E to the Fx graph.
func ProvideSubscriber[E any]() fx.Option {
	return fx.Provide(NewSubscriber[E])
}
