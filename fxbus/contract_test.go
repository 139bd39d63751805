package fxbus_test

// Outside contract tests for fxbus, written from /work/shared/DESIGN.md ("fxbus: the
// contract", its semantics table and "Fx integration") and the exported API
// only. Every blocking call is bounded by a timeout so a bug fails, not hangs.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
)

// Event types owned by this file; ct prefix avoids clashes with other tests.
type (
	ctA       int // same underlying type as int, but a different event
	ctAlias   = int
	ctMsg     struct{ N int }
	ctSeq     struct{ Emitter, Seq int }
	ctRace    struct{ N int }
	ctProbe   struct{ N int }
	ctPayload struct {
		_  [256]byte
		id int
	}
	ctStopping struct{ Hook string }
	ctOrder    struct{ ID int }
	ctHandled  struct{ N int }
)

type ctErr struct{}

func (ctErr) Error() string { return "ctErr" }

func TestContractFxModule(t *testing.T) {
	t.Run("provides a singleton *Bus", func(t *testing.T) {
		type needsBoth struct{ b *fxbus.Bus }
		var fromLC, fromModule, fromPopulate, fromCtor *fxbus.Bus
		app := fxtest.New(t,
			fxTimeouts(),
			fxbus.Module,
			fx.Provide(func(lc fx.Lifecycle, b *fxbus.Bus) *needsBoth { return &needsBoth{b} }),
			fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) { fromLC = b }),
			fx.Module("user", fx.Invoke(func(b *fxbus.Bus) { fromModule = b })),
			fx.Invoke(func(n *needsBoth) { fromCtor = n.b }),
			fx.Populate(&fromPopulate),
		)
		app.RequireStart()
		defer app.RequireStop()
		for _, c := range []struct {
			desc string
			got  *fxbus.Bus
		}{
			{"root invoke with Lifecycle", fromLC},
			{"invoke inside fx.Module", fromModule},
			{"constructor with Lifecycle", fromCtor},
		} {
			if c.got == nil || c.got != fromPopulate {
				t.Errorf("%s: got bus %p, want the populated one %p", c.desc, c.got, fromPopulate)
			}
		}
		s := fxbus.Subscribe[ctMsg](fromModule)
		defer s.Close()
		if n := fxbus.Emit(fromLC, ctMsg{1}); n != 1 {
			t.Fatalf("Emit on one injected bus reached %d subscribers of another, want 1", n)
		}
	})

	t.Run("Config is honoured", func(t *testing.T) {
		for _, tt := range []struct {
			desc string
			give []fx.Option
			want int
		}{
			{"no Config: default", nil, 64},
			{"Capacity 0: default", []fx.Option{fx.Supply(fxbus.Config{})}, 64},
			{"Capacity 3", []fx.Option{fx.Supply(fxbus.Config{Capacity: 3})}, 3},
			{"Capacity 200", []fx.Option{fx.Supply(fxbus.Config{Capacity: 200})}, 200},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				var b *fxbus.Bus
				app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Options(tt.give...), fx.Populate(&b))
				app.RequireStart()
				defer app.RequireStop()
				assertCapacity(t, b, tt.want)
			})
		}
	})

	t.Run("invalid Config capacity fails the app naming the value", func(t *testing.T) {
		var b *fxbus.Bus
		app := fx.New(fx.NopLogger, fxbus.Module, fx.Supply(fxbus.Config{Capacity: -7}), fx.Populate(&b))
		if err := app.Err(); err == nil || !strings.Contains(err.Error(), "-7") {
			t.Fatalf("fx.New error = %v, want one naming -7", err)
		}
	})

	t.Run("logger from the graph", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core)), fx.Populate(&b))
		app.RequireStart()
		defer app.RequireStop()
		s := fxbus.Subscribe[ctMsg](b)
		defer s.Close()
		fxbus.Emit(b, ctMsg{1})
		if logs.FilterLevelExact(zapcore.DebugLevel).Len() == 0 {
			t.Fatal("the *zap.Logger supplied to the graph received no debug entry from Emit")
		}
	})
}

type ctHookObservation struct {
	hook     string
	shutdown bool  // ShutdownInitiatedEvent already queued when the hook ran
	err      error // the receive error if not
	extra    bool  // a second ShutdownInitiatedEvent already queued
	emitted  int   // Emit's result from inside the hook
	reason   string
}

type ctStopRecorder struct {
	mu   sync.Mutex
	obs  []ctHookObservation
	want []string
}

func (r *ctStopRecorder) observe(hook string, b *fxbus.Bus, s *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]) {
	ev, err := s.TryRecv()
	_, err2 := s.TryRecv()
	o := ctHookObservation{
		hook:     hook,
		shutdown: err == nil,
		err:      err,
		extra:    err2 == nil,
		emitted:  fxbus.Emit(b, ctStopping{hook}),
		reason:   ev.Reason,
	}
	s.Close()
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

// otherModule is an application module with its own OnStop hooks, each with
// its own ShutdownInitiatedEvent subscription made at construction.
func (r *ctStopRecorder) otherModule(name string) fx.Option {
	r.want = append(r.want, name+"/Hook", name+"/StopHook", name+"/StartStop", name+"/root")
	return fx.Options(
		fx.Module(name, fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			s1 := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
			lc.Append(fx.Hook{OnStop: func(context.Context) error {
				r.observe(name+"/Hook", b, s1)
				return nil
			}})
			s2 := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
			lc.Append(fx.StopHook(func() { r.observe(name+"/StopHook", b, s2) }))
			s3 := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error { return nil },
				OnStop: func(context.Context) error {
					r.observe(name+"/StartStop", b, s3)
					return nil
				},
			})
		})),
		// Also a hook registered at the root, outside any fx.Module.
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			s := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
			lc.Append(fx.StopHook(func(context.Context) error {
				r.observe(name+"/root", b, s)
				return nil
			}))
		}),
	)
}

type ctStopWatch struct {
	bus      *fxbus.Bus
	shutdown *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	stopping *fxbus.Subscription[ctStopping]
}

func (w *ctStopWatch) option() fx.Option {
	return fx.Invoke(func(b *fxbus.Bus) {
		w.bus = b
		w.shutdown = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
		w.stopping = fxbus.Subscribe[ctStopping](b)
	})
}

// checkAfterStop drains the watcher: exactly one ShutdownInitiatedEvent, every
// event emitted by the hooks, then ErrClosed (the bus closed after the hooks).
func (w *ctStopWatch) checkAfterStop(t *testing.T, wantStopping []string) fxbus.ShutdownInitiatedEvent {
	t.Helper()
	var got []fxbus.ShutdownInitiatedEvent
	for {
		ev, err := recvWithin(t, w.shutdown)
		if errors.Is(err, fxbus.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("ShutdownInitiatedEvent subscriber: %v", err)
		}
		got = append(got, ev)
	}
	if len(got) != 1 {
		t.Fatalf("got %d ShutdownInitiatedEvent events for one stop, want 1: %+v", len(got), got)
	}
	seen := map[string]bool{}
	for {
		ev, err := recvWithin(t, w.stopping)
		if errors.Is(err, fxbus.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("stopping subscriber: %v", err)
		}
		seen[ev.Hook] = true
	}
	for _, h := range wantStopping {
		if !seen[h] {
			t.Errorf("event emitted in OnStop hook %s did not reach a subscriber", h)
		}
	}
	if n := fxbus.Emit(w.bus, ctStopping{"after stop"}); n != 0 {
		t.Errorf("Emit after stop = %d, want 0 (bus closed)", n)
	}
	return got[0]
}

func TestContractFxShutdown(t *testing.T) {
	layouts := []struct {
		desc   string
		before []string // modules listed before fxbus.Module
		after  []string // modules listed after
	}{
		{desc: "other module before fxbus.Module", before: []string{"early"}},
		{desc: "other module after fxbus.Module", after: []string{"late"}},
		{desc: "modules on both sides", before: []string{"early"}, after: []string{"late"}},
	}
	stops := []struct {
		desc string
		stop func(t *testing.T, app *fxtest.App, sd fx.Shutdowner)
	}{
		{"app.Stop", func(t *testing.T, app *fxtest.App, _ fx.Shutdowner) {
			app.RequireStop()
		}},
		{"Shutdowner then Wait then Stop", func(t *testing.T, app *fxtest.App, sd fx.Shutdowner) {
			wait := app.Wait()
			if err := sd.Shutdown(); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			select {
			case <-wait:
			case <-time.After(waitLimit):
				t.Fatal("app.Wait did not fire after Shutdown")
			}
			app.RequireStop()
		}},
		{"Shutdowner then Done then Stop", func(t *testing.T, app *fxtest.App, sd fx.Shutdowner) {
			done := app.Done()
			if err := sd.Shutdown(); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			select {
			case <-done:
			case <-time.After(waitLimit):
				t.Fatal("app.Done did not fire after Shutdown")
			}
			app.RequireStop()
		}},
	}
	for _, layout := range layouts {
		for _, st := range stops {
			t.Run(layout.desc+"/"+st.desc, func(t *testing.T) {
				rec := &ctStopRecorder{}
				watch := &ctStopWatch{}
				var opts []fx.Option
				opts = append(opts, fxTimeouts())
				for _, m := range layout.before {
					opts = append(opts, rec.otherModule(m))
				}
				opts = append(opts, fxbus.Module)
				for _, m := range layout.after {
					opts = append(opts, rec.otherModule(m))
				}
				var sd fx.Shutdowner
				opts = append(opts, watch.option(), fx.Populate(&sd))

				app := fxtest.New(t, opts...)
				app.RequireStart()
				st.stop(t, app, sd)

				rec.mu.Lock()
				obs := rec.obs
				rec.mu.Unlock()
				if len(obs) != len(rec.want) {
					t.Fatalf("%d OnStop hooks ran, want %d", len(obs), len(rec.want))
				}
				for _, o := range obs {
					if !o.shutdown {
						t.Errorf("OnStop hook %s ran before ShutdownInitiatedEvent reached its subscriber (receive: %v)", o.hook, o.err)
					}
					if o.extra {
						t.Errorf("OnStop hook %s found a second ShutdownInitiatedEvent", o.hook)
					}
					if o.emitted < 1 {
						t.Errorf("Emit inside OnStop hook %s = %d, want >= 1 (bus still open)", o.hook, o.emitted)
					}
				}
				watch.checkAfterStop(t, rec.want)
			})
		}
	}

	t.Run("announced even with no other OnStop hook", func(t *testing.T) {
		watch := &ctStopWatch{}
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, watch.option())
		app.RequireStart()
		app.RequireStop()
		watch.checkAfterStop(t, nil)
	})

	t.Run("an earlier AnnounceShutdown is the one event", func(t *testing.T) {
		rec := &ctStopRecorder{}
		watch := &ctStopWatch{}
		app := fxtest.New(t, fxTimeouts(), rec.otherModule("m"), fxbus.Module, watch.option())
		app.RequireStart()
		if !runhooks.Of(watch.bus).AnnounceShutdown("test cause", nil, 3) {
			t.Fatal("first AnnounceShutdown = false, want true")
		}
		if runhooks.Of(watch.bus).AnnounceShutdown("again", nil, 0) {
			t.Fatal("second AnnounceShutdown = true, want false")
		}
		app.RequireStop()
		for _, o := range rec.obs {
			if !o.shutdown || o.reason != "test cause" || o.extra {
				t.Errorf("hook %s: saw shutdown=%v reason=%q extra=%v, want the announced event only", o.hook, o.shutdown, o.reason, o.extra)
			}
		}
		if ev := watch.checkAfterStop(t, rec.want); ev.Reason != "test cause" || ev.ExitCode != 3 {
			t.Errorf("ShutdownInitiatedEvent = %+v, want the announced one", ev)
		}
	})
}

func TestContractFxHelpers(t *testing.T) {
	t.Run("Handle keeps running after an error and a panic", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		got := make(chan int, 16)
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core)), fx.Populate(&b),
			fxbus.Handle(func(_ context.Context, ev ctHandled) error {
				switch ev.N {
				case 1:
					panic("handler panic")
				case 2:
					return errors.New("handler error")
				}
				got <- ev.N
				return nil
			}),
		)
		app.RequireStart()
		for i := 1; i <= 3; i++ {
			if n := fxbus.Emit(b, ctHandled{i}); n != 1 {
				t.Fatalf("Emit = %d, want 1 (Handle subscribes at construction)", n)
			}
		}
		select {
		case n := <-got:
			if n != 3 {
				t.Fatalf("handler recorded %d, want 3", n)
			}
		case <-time.After(waitLimit):
			t.Fatal("handler did not process the event after a panic and an error")
		}
		warnings := logs.Filter(func(e observer.LoggedEntry) bool { return e.Level >= zapcore.WarnLevel })
		if n := warnings.Len(); n < 2 {
			t.Errorf("handler error and panic: got %d entries at warn or above, want >= 2: %+v", n, logs.All())
		}
		app.RequireStop()
	})

	t.Run("Handle logs a lag with its count", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		first := make(chan struct{})
		release := make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		defer unblock()
		last := make(chan struct{})
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core), fxbus.Config{Capacity: 4}), fx.Populate(&b),
			fxbus.Handle(func(_ context.Context, ev ctHandled) error {
				switch ev.N {
				case 0:
					close(first)
					<-release
				case 7:
					close(last)
				}
				return nil
			}),
		)
		app.RequireStart()
		defer app.RequireStop()
		fxbus.Emit(b, ctHandled{0})
		select {
		case <-first:
		case <-time.After(waitLimit):
			t.Fatal("handler did not get the first event")
		}
		for i := 1; i <= 7; i++ { // 7 behind with capacity 4: 3 missed
			fxbus.Emit(b, ctHandled{i})
		}
		unblock()
		select {
		case <-last:
		case <-time.After(waitLimit):
			t.Fatal("handler did not resume after the lag")
		}
		found := false
		for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
			if strings.Contains(e.Message, "3") {
				found = true
			}
			for _, v := range e.ContextMap() {
				if fmt.Sprint(v) == "3" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no warning carries the lag count 3: %+v", logs.All())
		}
	})

	t.Run("typed injection of Emitter and Subscription", func(t *testing.T) {
		var em fxbus.Emitter[ctOrder]
		var sub *fxbus.Subscription[ctOrder]
		app := fxtest.New(t, fxTimeouts(), fxbus.Module,
			fxbus.ProvideEmitter[ctOrder](),
			fxbus.ProvideSubscriber[ctOrder](),
			fx.Invoke(func(e fxbus.Emitter[ctOrder], s fxbus.Subscriber[ctOrder]) { em, sub = e, s.Subscribe() }),
		)
		app.RequireStart()
		if n := em.Emit(ctOrder{9}); n != 1 {
			t.Fatalf("Emitter.Emit = %d, want 1", n)
		}
		ev, err := recvWithin(t, sub)
		wantEvent(t, "injected subscription", ev, err, ctOrder{9})
		app.RequireStop()
		ev, err = recvWithin(t, sub)
		wantErr(t, "injected subscription after stop", ev, err, fxbus.ErrClosed)
	})
}
