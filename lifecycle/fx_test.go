package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestModule(t *testing.T) {
	t.Run("InitiateShutdown asks Fx to stop with the exit code", func(t *testing.T) {
		var rt *lifecycle.Runtime
		var bus *fxbus.Bus
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(), fx.Populate(&rt, &bus))
		events := subscribe[fxbus.ShutdownInitiatedEvent](t, bus)
		app.RequireStart()
		done := app.Wait()

		rt.InitiateShutdown("maintenance", nil, 7)
		sig := waitFor(t, done, "fx's shutdown signal")
		if sig.ExitCode != 7 {
			t.Fatalf("fx exit code = %d, want 7", sig.ExitCode)
		}
		app.RequireStop()
		if ev := next(t, events); ev.Reason != "maintenance" || ev.ExitCode != 7 {
			t.Fatalf("event = %+v", ev)
		}
		none(t, events) // fxbus's stop-time announcement did not add one
		if rt.State() != lifecycle.StateStopped {
			t.Fatalf("state = %v", rt.State())
		}
	})

	t.Run("app.Stop alone cancels the token and emits one event", func(t *testing.T) {
		var rt *lifecycle.Runtime
		var bus *fxbus.Bus
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(), fx.Populate(&rt, &bus))
		events := subscribe[fxbus.ShutdownInitiatedEvent](t, bus)
		app.RequireStart().RequireStop()
		if rt.Context().Err() == nil {
			t.Fatal("token not cancelled by app.Stop")
		}
		if !errors.Is(rt.Cause(), lifecycle.ErrShutdown) || rt.ExitCode() != 0 {
			t.Fatalf("cause %v, exit code %d", rt.Cause(), rt.ExitCode())
		}
		next(t, events)
		none(t, events)
	})

	t.Run("tasks run on the runtime's context, not the start context", func(t *testing.T) {
		var rt *lifecycle.Runtime
		ctxs := make(chan context.Context, 1)
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(), fx.Populate(&rt),
			lifecycle.AsTask(func() lifecycle.Task {
				return lifecycle.Task{Name: "watcher", Run: func(ctx context.Context) error {
					ctxs <- ctx
					<-ctx.Done()
					return ctx.Err()
				}}
			}),
		)
		app.RequireStart() // fxtest cancels the start context when Start returns
		ctx := waitFor(t, ctxs, "the task to start")
		if ctx.Err() != nil {
			t.Fatalf("task context done after start: %v", ctx.Err())
		}
		app.RequireStop()
		if !errors.Is(context.Cause(ctx), lifecycle.ErrShutdown) {
			t.Fatalf("task context cause = %v, want a shutdown", context.Cause(ctx))
		}
	})

	t.Run("components that depend on the runtime stop first", func(t *testing.T) {
		rec := &recorder{}
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(),
			lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "db", lifecycle.Normal) }),
			fx.Invoke(func(lc fx.Lifecycle, rt *lifecycle.Runtime, g *lifecycle.Gate) {
				if g != rt.Gate() {
					t.Error("the graph's gate is not the runtime's")
				}
				lc.Append(fx.StartStopHook(
					func() { rec.add("start:server") },
					func() { rec.add("stop:server") },
				))
			}),
		)
		app.RequireStart().RequireStop()
		want := "boot:db start:server stop:server stop:db"
		if got := strings.Join(rec.get(), " "); got != want {
			t.Fatalf("calls = %q, want %q", got, want)
		}
	})

	t.Run("invalid config fails the app naming the field", func(t *testing.T) {
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(),
			fx.Supply(lifecycle.Config{TaskTimeout: -time.Second}))
		err := app.Err()
		if err == nil || !strings.Contains(err.Error(), "Config.TaskTimeout") || !strings.Contains(err.Error(), "-1s") {
			t.Fatalf("app.Err() = %v, want it to name Config.TaskTimeout and -1s", err)
		}
	})
}

// component is a module that depends on the runtime and records what it
// sees of it in its own hooks.
type component struct {
	stateAtStart     lifecycle.State
	shuttingAtStop   bool
	tokenDoneAtStop  bool
	gateClosedAtStop bool
}

func newComponent(lc fx.Lifecycle, rt *lifecycle.Runtime) *component {
	c := &component{}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			c.stateAtStart = rt.State()
			return nil
		},
		OnStop: func(context.Context) error {
			c.shuttingAtStop = rt.IsShuttingDown()
			c.tokenDoneAtStop = rt.Context().Err() != nil
			c.gateClosedAtStop = rt.Gate().Closed()
			return nil
		},
	})
	return c
}

func TestModulePhases(t *testing.T) {
	for _, order := range []string{"component first", "runtime first"} {
		t.Run(order, func(t *testing.T) {
			var rt *lifecycle.Runtime
			var c *component
			var bus *fxbus.Bus
			comp := fx.Options(fx.Provide(newComponent), fx.Populate(&c))
			opts := []fx.Option{comp, fxbus.Module, lifecycle.Module, quiet(), fx.Populate(&rt, &bus)}
			if order == "runtime first" {
				opts = []fx.Option{fxbus.Module, lifecycle.Module, quiet(), comp, fx.Populate(&rt, &bus)}
			}
			app := fxtest.New(t, opts...)
			ready := subscribe[lifecycle.ReadyEvent](t, bus)
			app.RequireStart()
			// Running only once every OnStart hook has returned, the
			// component's included.
			if c.stateAtStart != lifecycle.StateBooting {
				t.Errorf("state during a component's OnStart = %v, want booting", c.stateAtStart)
			}
			if got := rt.State(); got != lifecycle.StateRunning {
				t.Errorf("state after Start = %v, want running", got)
			}
			next(t, ready)
			// A stop Fx begins on its own reaches the runtime before the
			// component's OnStop hook.
			app.RequireStop()
			if !c.shuttingAtStop || !c.tokenDoneAtStop || !c.gateClosedAtStop {
				t.Fatalf("in the component's OnStop: shutting down %v, token done %v, gate closed %v; want all true",
					c.shuttingAtStop, c.tokenDoneAtStop, c.gateClosedAtStop)
			}
		})
	}
}

// server is a provider that needs the runtime and its gate, as an HTTP
// server with a readiness probe does.
type server struct {
	rt        *lifecycle.Runtime
	gate      *lifecycle.Gate
	readyBoot bool
}

func (s *server) Name() string { return "server" }

func (s *server) Boot(context.Context) error {
	s.readyBoot = s.rt.Ready()
	return nil
}

func TestProviderDependsOnRuntime(t *testing.T) {
	var s *server
	var rt *lifecycle.Runtime
	app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(),
		fx.Provide(func(rt *lifecycle.Runtime, g *lifecycle.Gate) *server { return &server{rt: rt, gate: g} }),
		lifecycle.ProviderOf[*server](),
		lifecycle.AsTask(func(rt *lifecycle.Runtime) lifecycle.Task {
			return lifecycle.Task{Name: "needs-runtime", Run: func(ctx context.Context) error {
				<-ctx.Done()
				return nil
			}}
		}),
		fx.Populate(&s, &rt),
	)
	app.RequireStart()
	if s.gate != rt.Gate() {
		t.Fatal("the provider got another gate")
	}
	if got := rt.Providers(); len(got) != 1 || got[0] != "server" {
		t.Fatalf("Providers() = %v, want [server]", got)
	}
	if s.readyBoot {
		t.Fatal("Ready during boot")
	}
	app.RequireStop()
}

// fxbus.Module nested in a user module never lets the runtime report
// running early: fx.New or the start fails saying to pass it at the top
// level.
func TestNestedBusModuleNeverReportsRunningEarly(t *testing.T) {
	t.Run("fxbus.Module inside a user module fails fx.New", func(t *testing.T) {
		app := fx.New(quiet(), fx.Module("app", fxbus.Module), lifecycle.Module)
		if err := app.Err(); err == nil || !strings.Contains(err.Error(), "top level") {
			t.Fatalf("app.Err() = %v, want an error saying to pass fxbus.Module at the top level", err)
		}
	})

	t.Run("both modules inside a user module: not running while an OnStart hook blocks", func(t *testing.T) {
		release, releaseNow := releaser(t)
		entered := make(chan lifecycle.State, 1)
		var rt *lifecycle.Runtime
		var ready *fxbus.Subscription[lifecycle.ReadyEvent]
		app := fx.New(quiet(),
			fx.Module("app", fxbus.Module, lifecycle.Module),
			fx.Populate(&rt),
			fx.Invoke(func(b *fxbus.Bus) { ready = fxbus.Subscribe[lifecycle.ReadyEvent](b) }),
			// At the root, after the runtime: starts after it.
			fx.Invoke(func(lc fx.Lifecycle, rt *lifecycle.Runtime) {
				lc.Append(fx.StartHook(func() {
					entered <- rt.State()
					<-release
				}))
			}))
		if err := app.Err(); err != nil {
			if !strings.Contains(err.Error(), "top level") {
				t.Fatalf("app.Err() = %v; if the nesting is refused, the error must say to use the top level", err)
			}
			return // refused at build time: no readiness to get wrong
		}
		t.Cleanup(ready.Close)
		stopLater(t, app)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		started := make(chan error, 1)
		go func() { started <- app.Start(ctx) }()
		t.Cleanup(func() { releaseNow(); <-started }) // before stopLater's stop

		select {
		case s := <-entered:
			if s == lifecycle.StateRunning {
				t.Errorf("state %v while a later OnStart hook blocks: a readiness probe would lie", s)
			}
		case err := <-started:
			if err == nil || !strings.Contains(err.Error(), "top level") {
				t.Fatalf("app.Start = %v before the blocking hook ran, want an error saying to use the top level", err)
			}
			started <- err // for the cleanup
			return
		case <-time.After(wait):
			t.Fatalf("the blocking OnStart hook did not run within %v", wait)
		}
		if ev, err := ready.TryRecv(); err == nil {
			t.Errorf("%T emitted while a later OnStart hook blocks", ev)
		}
		if s := rt.State(); s == lifecycle.StateRunning {
			t.Errorf("state %v while a later OnStart hook blocks", s)
		}
		releaseNow()
		var err error
		select {
		case err = <-started:
			started <- err // for the cleanup
		case <-time.After(wait):
			t.Fatalf("app.Start did not return within %v of the hook's release", wait)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "top level") {
				t.Fatalf("app.Start = %v; if it fails, it must say to use the top level", err)
			}
			return
		}
		if err := rt.WaitRunning(ctx); err != nil {
			t.Fatalf("not running once every OnStart hook returned: %v", err)
		}
	})
}
