package lifecycle_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// A runtime works without Fx: providers boot by priority, then name, and
// stop in reverse.
func ExampleNew() {
	say := func(s string) func(context.Context) error {
		return func(context.Context) error { fmt.Println(s); return nil }
	}
	rt, err := lifecycle.New(nil, lifecycle.WithoutSignals(), lifecycle.WithProviders(
		lifecycle.NewProvider("http", lifecycle.Late, lifecycle.Hooks{Boot: say("boot http"), Stop: say("stop http")}),
		lifecycle.NewProvider("db", lifecycle.Early, lifecycle.Hooks{Boot: say("boot db"), Stop: say("stop db")}),
		lifecycle.NewProvider("cache", lifecycle.Normal, lifecycle.Hooks{Boot: say("boot cache"), Stop: say("stop cache")}),
	))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		panic(err)
	}
	fmt.Println(rt.State())
	rt.InitiateShutdown("example done", nil, 0)
	<-rt.Done() // what long-running work selects on
	if err := rt.Stop(ctx); err != nil {
		panic(err)
	}
	fmt.Println(rt.State())
	// Output:
	// boot db
	// boot cache
	// boot http
	// running
	// stop http
	// stop cache
	// stop db
	// stopped
}

// Under Fx, register providers and tasks through value groups. A critical
// task's failure shuts the application down with its cause and exit code.
func Example_module() {
	var rt *lifecycle.Runtime
	app := fx.New(
		fxbus.Module,
		lifecycle.Module,
		fx.NopLogger,
		lifecycle.With(lifecycle.WithoutSignals()),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{
				Name:     "indexer",
				Run:      func(context.Context) error { return errors.New("index corrupt") },
				Policy:   lifecycle.Critical,
				ExitCode: 3,
			}
		}),
		fx.Populate(&rt),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		panic(err)
	}
	sig := <-app.Wait() // the runtime asked Fx to stop
	if err := app.Stop(ctx); err != nil {
		panic(err)
	}
	fmt.Println("exit code:", sig.ExitCode)
	fmt.Println(rt.Cause())
	// Output:
	// exit code: 3
	// lifecycle: shutdown: task "indexer" failed (attempt 1): index corrupt
}

type settings struct{ port, next int }

func (s *settings) Name() string { return "settings" }

func (s *settings) Validate(context.Context) error {
	if s.next <= 0 {
		return fmt.Errorf("port %d is invalid", s.next)
	}
	return nil
}

func (s *settings) Reload(context.Context) error { s.port = s.next; return nil }

// Reload validates every provider before it changes any: a bad
// configuration is rejected whole.
func ExampleRuntime_Reload() {
	s := &settings{port: 80}
	rt, _ := lifecycle.New(nil, lifecycle.WithoutSignals(), lifecycle.WithProviders(s))
	ctx := context.Background()
	_ = rt.Start(ctx)
	defer func() { _ = rt.Stop(ctx) }()

	s.next = -1
	fmt.Println(rt.Reload(ctx))
	fmt.Println("port:", s.port)

	s.next = 8080
	fmt.Println(rt.Reload(ctx))
	fmt.Println("port:", s.port)
	// Output:
	// lifecycle: reload rejected, nothing changed: provider "settings": validate: port -1 is invalid
	// port: 80
	// <nil>
	// port: 8080
}

// A gate admits work until shutdown and then reports whether it drained.
func ExampleGate() {
	var g lifecycle.Gate
	p, _ := g.Enter()
	g.Close()
	_, err := g.Enter()
	fmt.Println(err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time left: the drain is forced
	res := g.Wait(ctx)
	fmt.Println("drained:", res.Drained, "left:", res.Left)

	p.Release()
	res = g.Wait(context.Background())
	fmt.Println("drained:", res.Drained, "left:", res.Left)
	// Output:
	// lifecycle: gate closed
	// drained: false left: 1
	// drained: true left: 0
}

// Go starts a task at run time. With the Restart policy a failing task
// is run again after a backoff, until its failure budget is spent.
func ExampleRuntime_Go() {
	rt, _ := lifecycle.New(nil, lifecycle.WithoutSignals())
	ctx := context.Background()
	_ = rt.Start(ctx)

	done := make(chan struct{})
	attempts := 0
	_ = rt.Go("poller", func(context.Context) error {
		attempts++
		if attempts < 3 {
			return errors.New("upstream unavailable")
		}
		close(done)
		return nil
	}, lifecycle.WithRestart(lifecycle.RestartPolicy{Initial: 1, Budget: 5}))
	<-done
	_ = rt.Stop(ctx)
	fmt.Println("attempts:", attempts, "shutting down:", rt.Cause() != nil && rt.ExitCode() != 0)
	// Output:
	// attempts: 3 shutting down: false
}

// Run (and Main, its form for func main) builds, runs and stops the
// application and returns the process exit code.
func ExampleRun() {
	code := lifecycle.Run(context.Background(),
		fx.NopLogger,
		lifecycle.With(lifecycle.WithoutSignals()),
		fx.Invoke(func(rt *lifecycle.Runtime) error {
			return rt.Go("job", func(context.Context) error {
				rt.InitiateShutdown("job finished", nil, 0)
				return nil
			})
		}),
	)
	fmt.Println("exit code:", code)
	// Output:
	// exit code: 0
}

// One subscription to lifecycle.Event sees every phase of the runtime, in
// the order it went through them.
func ExampleEvent() {
	bus, err := fxbus.New()
	if err != nil {
		panic(err)
	}
	defer bus.Close()
	events := fxbus.Subscribe[lifecycle.Event](bus)
	rt, err := lifecycle.New(bus, lifecycle.WithoutSignals(), lifecycle.WithProviders(
		lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{}),
	))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		panic(err)
	}
	if err := rt.Stop(ctx); err != nil {
		panic(err)
	}
	for {
		ev, err := events.TryRecv()
		if err != nil {
			break
		}
		switch ev := ev.(type) {
		case lifecycle.ProviderBootedEvent:
			fmt.Println("booted", ev.Name)
		case lifecycle.ProviderStoppedEvent:
			fmt.Println("stopped", ev.Name)
		default:
			fmt.Printf("%T\n", ev)
		}
	}
	// Output:
	// booted db
	// lifecycle.BootedEvent
	// lifecycle.ReadyEvent
	// lifecycle.GateDrainedEvent
	// lifecycle.DrainCompletedEvent
	// stopped db
	// lifecycle.StoppedEvent
}
