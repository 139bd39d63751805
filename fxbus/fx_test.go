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

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
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
}

func TestShutdownWithoutOtherStopHooks(t *testing.T) {
	var sub *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	app := fxtest.New(t, fx.NopLogger, fxbus.Module,
		fx.Invoke(func(b *fxbus.Bus) { sub = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b) }))
	app.RequireStart().RequireStop()
	if ev := mustRecv(t, sub); ev.Reason != "fx: application stopping" {
		t.Fatalf("got %+v", ev)
	}
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
}
