package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
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

// Event types of the Fx tests.
type (
	stoppingEvent struct{ Hook string } // emitted by an OnStop hook
	injectedOrder struct{ ID int }      // emitted through an injected Emitter
)

func TestModuleProvidesOneBus(t *testing.T) {
	var a, b *fxbus.Bus
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		fx.Supply(fxbus.Config{Capacity: 5}),
		fx.Populate(&a),
		fx.Invoke(func(bus *fxbus.Bus) { b = bus }),
	)
	app.RequireStart().RequireStop()
	if a == nil || a != b {
		t.Fatalf("two different buses: %p and %p", a, b)
	}
	if got := a.Capacity(); got != 5 {
		t.Fatalf("Capacity() = %d, want 5 from fxbus.Config", got)
	}
	if n := fxbus.Emit(a, 1); n != 0 {
		t.Fatal("bus still open after stop")
	}
	s := fxbus.Subscribe[int](a)
	if _, err := s.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("bus not closed after stop: %v", err)
	}

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
		s := fxbus.Subscribe[msgEvent](fromModule)
		defer s.Close()
		if n := fxbus.Emit(fromLC, msgEvent{1}); n != 1 {
			t.Fatalf("Emit on one injected bus reached %d subscribers of another, want 1", n)
		}
	})
}

func TestModuleConfig(t *testing.T) {
	tests := []struct {
		desc    string
		give    []fx.Option
		want    int
		wantErr string
	}{
		{desc: "no config", want: fxbus.DefaultCapacity},
		{desc: "zero means default", give: []fx.Option{fx.Supply(fxbus.Config{})}, want: fxbus.DefaultCapacity},
		{desc: "capacity", give: []fx.Option{fx.Supply(fxbus.Config{Capacity: 1000})}, want: 1000},
		{desc: "negative", give: []fx.Option{fx.Supply(fxbus.Config{Capacity: -1})}, wantErr: "capacity -1 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var bus *fxbus.Bus
			app := fx.New(append([]fx.Option{fx.NopLogger, fxbus.Module, fx.Populate(&bus)}, tt.give...)...)
			if tt.wantErr != "" {
				if err := app.Err(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("fx.New error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			if got := bus.Capacity(); got != tt.want {
				t.Fatalf("Capacity() = %d, want %d", got, tt.want)
			}
		})
	}

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
}

// stopProbe is a module that, in its OnStop hook, records whether
// ShutdownInitiatedEvent was already waiting for its subscription and emits
// an event of its own during the stop.
type stopProbe struct {
	sub  *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	late *fxbus.Subscription[string]

	mu        sync.Mutex
	announced []fxbus.ShutdownInitiatedEvent // what OnStop found buffered
	stopped   bool
}

func newStopProbe(lc fx.Lifecycle, bus *fxbus.Bus) *stopProbe {
	p := &stopProbe{
		sub:  fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus),
		late: fxbus.Subscribe[string](bus),
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return nil },
		OnStop: func(context.Context) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			for {
				ev, err := p.sub.TryRecv()
				if err != nil {
					break
				}
				p.announced = append(p.announced, ev)
			}
			p.stopped = true
			// The bus must still be open: the event reaches the subscriber.
			if n := fxbus.Emit(bus, "emitted during stop"); n != 1 {
				return fmt.Errorf("Emit during stop reached %d subscribers, want 1", n)
			}
			return nil
		},
	})
	return p
}

func (p *stopProbe) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		t.Fatal("probe's OnStop did not run")
	}
	if len(p.announced) != 1 {
		t.Fatalf("OnStop found %d ShutdownInitiatedEvent events buffered, want exactly 1", len(p.announced))
	}
	if v, err := p.late.TryRecv(); err != nil || v != "emitted during stop" {
		t.Fatalf("event emitted during stop: %q, %v", v, err)
	}
	if _, err := p.late.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("bus not closed after the app stopped: %v", err)
	}
	if _, err := p.sub.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("a second ShutdownInitiatedEvent or an open bus: %v", err)
	}
}

type hookObservation struct {
	hook     string
	shutdown bool  // ShutdownInitiatedEvent already queued when the hook ran
	err      error // the receive error if not
	extra    bool  // a second ShutdownInitiatedEvent already queued
	emitted  int   // Emit's result from inside the hook
	reason   string
}

type stopRecorder struct {
	mu   sync.Mutex
	obs  []hookObservation
	want []string
}

func (r *stopRecorder) observe(hook string, b *fxbus.Bus, s *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]) {
	ev, err := s.TryRecv()
	_, err2 := s.TryRecv()
	o := hookObservation{
		hook:     hook,
		shutdown: err == nil,
		err:      err,
		extra:    err2 == nil,
		emitted:  fxbus.Emit(b, stoppingEvent{hook}),
		reason:   ev.Reason,
	}
	s.Close()
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

// otherModule is an application module with its own OnStop hooks, each with
// its own ShutdownInitiatedEvent subscription made at construction.
func (r *stopRecorder) otherModule(name string) fx.Option {
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

type stopWatch struct {
	bus      *fxbus.Bus
	shutdown *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	stopping *fxbus.Subscription[stoppingEvent]
}

func (w *stopWatch) option() fx.Option {
	return fx.Invoke(func(b *fxbus.Bus) {
		w.bus = b
		w.shutdown = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
		w.stopping = fxbus.Subscribe[stoppingEvent](b)
	})
}

// checkAfterStop drains the watcher: exactly one ShutdownInitiatedEvent, every
// event emitted by the hooks, then ErrClosed (the bus closed after the hooks).
func (w *stopWatch) checkAfterStop(t *testing.T, wantStopping []string) fxbus.ShutdownInitiatedEvent {
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
	if n := fxbus.Emit(w.bus, stoppingEvent{"after stop"}); n != 0 {
		t.Errorf("Emit after stop = %d, want 0 (bus closed)", n)
	}
	return got[0]
}

func TestShutdownAnnouncedBeforeOnStop(t *testing.T) {
	type stopper func(t *testing.T, app *fxtest.App, sd fx.Shutdowner)
	stoppers := map[string]stopper{
		"app.Stop": func(t *testing.T, app *fxtest.App, _ fx.Shutdowner) {
			app.RequireStop()
		},
		"fx.Shutdowner": func(t *testing.T, app *fxtest.App, sd fx.Shutdowner) {
			if err := sd.Shutdown(fx.ExitCode(3)); err != nil {
				t.Fatal(err)
			}
			select {
			case sig := <-app.Wait():
				if sig.ExitCode != 3 {
					t.Fatalf("exit code %d, want 3", sig.ExitCode)
				}
			case <-time.After(waitLimit):
				t.Fatal("no shutdown signal")
			}
			app.RequireStop()
		},
	}
	for name, stop := range stoppers {
		for _, order := range []string{"probe first", "fxbus first"} {
			t.Run(name+"/"+order, func(t *testing.T) {
				var probe *stopProbe
				var sd fx.Shutdowner
				probeOpt := fx.Options(fx.Provide(newStopProbe), fx.Populate(&probe, &sd))
				opts := []fx.Option{fx.NopLogger, probeOpt, fxbus.Module}
				if order == "fxbus first" {
					opts = []fx.Option{fx.NopLogger, fxbus.Module, probeOpt}
				}
				app := fxtest.New(t, opts...)
				app.RequireStart()
				stop(t, app, sd)
				probe.check(t)
			})
		}
	}

	t.Run("OnStop hooks in modules on either side of fxbus.Module", func(t *testing.T) {
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
					rec := &stopRecorder{}
					watch := &stopWatch{}
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
	})
}

func TestShutdownInChildModule(t *testing.T) {
	// A module nested in the user's own fx.Module is covered too, as long as
	// fxbus.Module is passed at the top level.
	var probe *stopProbe
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Module("child", fx.Provide(newStopProbe), fx.Populate(&probe)),
		fxbus.Module,
	)
	app.RequireStart().RequireStop()
	probe.check(t)
}

func TestShutdownOncePerStop(t *testing.T) {
	var bus *fxbus.Bus
	var sub *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		fx.Populate(&bus),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			sub = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b)
			for i := range 3 { // several hooks with OnStop
				lc.Append(fx.StopHook(func() { _ = i }))
			}
		}),
	)
	app.RequireStart()
	if !runhooks.Of(bus).AnnounceShutdown("test", nil, 4) {
		t.Fatal("first AnnounceShutdown did not emit")
	}
	if runhooks.Of(bus).AnnounceShutdown("again", nil, 0) {
		t.Fatal("second AnnounceShutdown emitted")
	}
	app.RequireStop()
	ev := mustRecv(t, sub)
	if ev.Reason != "test" || ev.ExitCode != 4 {
		t.Fatalf("got %+v, want the first announcement", ev)
	}
	if _, err := sub.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("after the one event: %v, want ErrClosed", err)
	}

	t.Run("an earlier AnnounceShutdown is the one event", func(t *testing.T) {
		rec := &stopRecorder{}
		watch := &stopWatch{}
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

func TestShutdownWithoutOtherStopHooks(t *testing.T) {
	var sub *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	app := fxtest.New(t, fx.NopLogger, fxbus.Module,
		fx.Invoke(func(b *fxbus.Bus) { sub = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b) }))
	app.RequireStart().RequireStop()
	if ev := mustRecv(t, sub); ev.Reason != "fx: application stopping" {
		t.Fatalf("got %+v", ev)
	}

	t.Run("announced even with no other OnStop hook", func(t *testing.T) {
		watch := &stopWatch{}
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, watch.option())
		app.RequireStart()
		app.RequireStop()
		watch.checkAfterStop(t, nil)
	})
}

// TestShutdownOnSignal runs an app under app.Run in a child process and
// stops it with a real SIGTERM: the one path that cannot run in-process.
func TestShutdownOnSignal(t *testing.T) {
	if os.Getenv("FXBUS_SIGNAL_CHILD") == "1" {
		runSignalChild()
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestShutdownOnSignal$")
	cmd.Env = append(os.Environ(), "FXBUS_SIGNAL_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var out strings.Builder
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(out.String(), "started\n") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("child did not start: %q", out.String())
		}
		n, err := stdout.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := stdout.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v; output %q", err, out.String())
	}
	if want := "started\nOnStop saw 1 ShutdownInitiatedEvent\n"; !strings.HasPrefix(out.String(), want) {
		t.Fatalf("child printed %q, want it to start with %q", out.String(), want)
	}
}

func runSignalChild() {
	app := fx.New(
		fx.NopLogger,
		fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus) {
			sub := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus)
			lc.Append(fx.Hook{
				OnStop: func(context.Context) error {
					fmt.Printf("OnStop saw %d ShutdownInitiatedEvent\n", sub.Len())
					return nil
				},
			})
		}),
		fxbus.Module,
	)
	// What app.Run does, with a line printed once the signal handlers are
	// installed, which fx does only after Start returns.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	done := app.Wait()
	fmt.Println("started")
	<-done
	if err := app.Stop(ctx); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestEmitterAndSubscriptionProviders(t *testing.T) {
	type Order struct{ ID int }
	type shop struct{ emit fxbus.Emitter[Order] }
	type audit struct{ sub *fxbus.Subscription[Order] }
	var s *shop
	var a *audit
	app := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		fxbus.ProvideEmitter[Order](),
		fxbus.ProvideSubscriber[Order](),
		fx.Provide(
			func(e fxbus.Emitter[Order]) *shop { return &shop{emit: e} },
			func(s fxbus.Subscriber[Order]) *audit { return &audit{sub: s.Subscribe()} },
		),
		fx.Populate(&s, &a),
	)
	app.RequireStart()
	if n := s.emit.Emit(Order{ID: 7}); n != 1 {
		t.Fatalf("Emit = %d, want 1", n)
	}
	if got := mustRecv(t, a.sub); got.ID != 7 {
		t.Fatalf("got %+v", got)
	}
	app.RequireStop()
	if _, err := a.sub.TryRecv(); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("subscription not closed with the bus at stop: %v", err)
	}

	t.Run("typed injection of Emitter and Subscription", func(t *testing.T) {
		var em fxbus.Emitter[injectedOrder]
		var sub *fxbus.Subscription[injectedOrder]
		app := fxtest.New(t, fxTimeouts(), fxbus.Module,
			fxbus.ProvideEmitter[injectedOrder](),
			fxbus.ProvideSubscriber[injectedOrder](),
			fx.Invoke(func(e fxbus.Emitter[injectedOrder], s fxbus.Subscriber[injectedOrder]) { em, sub = e, s.Subscribe() }),
		)
		app.RequireStart()
		if n := em.Emit(injectedOrder{9}); n != 1 {
			t.Fatalf("Emitter.Emit = %d, want 1", n)
		}
		ev, err := recvWithin(t, sub)
		wantEvent(t, "injected subscription", ev, err, injectedOrder{9})
		app.RequireStop()
		ev, err = recvWithin(t, sub)
		wantErr(t, "injected subscription after stop", ev, err, fxbus.ErrClosed)
	})
}

func TestModuleUsesGraphLogger(t *testing.T) {
	logs := newObserved(t)
	var bus *fxbus.Bus
	app := fxtest.New(t, fx.NopLogger, fxbus.Module, fx.Supply(logs.logger), fx.Populate(&bus))
	app.RequireStart()
	fxbus.Emit(bus, 1)
	app.RequireStop()
	if n := logs.count("fxbus: emit"); n == 0 {
		t.Fatal("the bus did not log Emit with the logger from the graph")
	}
	entry := logs.entries("fxbus: emit")[0]
	if got := entry.ContextMap()["type"]; got != "int" {
		t.Fatalf("emit log type = %v, want int", got)
	}

	t.Run("logger from the graph", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core)), fx.Populate(&b))
		app.RequireStart()
		defer app.RequireStop()
		s := fxbus.Subscribe[msgEvent](b)
		defer s.Close()
		fxbus.Emit(b, msgEvent{1})
		if logs.FilterLevelExact(zapcore.DebugLevel).Len() == 0 {
			t.Fatal("the *zap.Logger supplied to the graph received no debug entry from Emit")
		}
	})
}
