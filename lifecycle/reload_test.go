package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/goleak"
)

func TestReload(t *testing.T) {
	t.Run("validates every provider, then reloads in order", func(t *testing.T) {
		b := newBus(t)
		started := subscribe[lifecycle.ReloadStartedEvent](t, b)
		completed := subscribe[lifecycle.ReloadCompletedEvent](t, b)
		rec := &recorder{}
		rt := newRuntime(t, b, lifecycle.WithProviders(
			recorded(rec, "web", lifecycle.Late), recorded(rec, "db", lifecycle.Early), recorded(rec, "cache", lifecycle.Normal)))
		startRuntime(t, rt)
		if err := rt.Reload(context.Background()); err != nil {
			t.Fatalf("Reload = %v", err)
		}
		want := "boot:db boot:cache boot:web validate:db validate:cache validate:web reload:db reload:cache reload:web"
		if got := strings.Join(rec.get(), " "); got != want {
			t.Fatalf("calls = %q\nwant    %q", got, want)
		}
		if ev := next(t, started); ev.Trigger != "Reload" {
			t.Fatalf("ReloadStarted = %+v", ev)
		}
		if ev := next(t, completed); !ev.Applied || len(ev.Errors) != 0 {
			t.Fatalf("ReloadCompleted = %+v", ev)
		}
		if rt.State() != lifecycle.StateRunning {
			t.Fatalf("state after reload = %v", rt.State())
		}
	})

	t.Run("a validation failure changes nothing", func(t *testing.T) {
		b := newBus(t)
		completed := subscribe[lifecycle.ReloadCompletedEvent](t, b)
		rec := &recorder{}
		bad := errors.New("port 0 is invalid")
		rt := newRuntime(t, b, lifecycle.WithProviders(
			recorded(rec, "a", lifecycle.Normal),
			lifecycle.NewProvider("b", lifecycle.Normal, lifecycle.Hooks{
				Validate: func(context.Context) error { return bad },
				Reload:   func(context.Context) error { rec.add("reload:b"); return nil },
			}),
			recorded(rec, "c", lifecycle.Normal)))
		startRuntime(t, rt)
		err := rt.Reload(context.Background())
		var re *lifecycle.ReloadError
		if !errors.As(err, &re) || re.Applied || len(re.Errors) != 1 || re.Errors[0].Provider != "b" ||
			re.Errors[0].Phase != lifecycle.PhaseValidate || !errors.Is(err, bad) {
			t.Fatalf("Reload = %v, want a rejected reload naming b", err)
		}
		if got := strings.Join(rec.get(), " "); strings.Contains(got, "reload:") {
			t.Fatalf("calls = %q: something was reloaded", got)
		}
		if ev := next(t, completed); ev.Applied || len(ev.Errors) != 1 {
			t.Fatalf("ReloadCompleted = %+v", ev)
		}
	})

	t.Run("reload errors are reported per provider and do not stop the others", func(t *testing.T) {
		rec := &recorder{}
		errA, errC := errors.New("a broke"), errors.New("c broke")
		failing := func(name string, err error) lifecycle.Provider {
			return lifecycle.NewProvider(name, lifecycle.Normal, lifecycle.Hooks{
				Reload: func(context.Context) error { rec.add("reload:" + name); return err },
			})
		}
		rt := newRuntime(t, nil, lifecycle.WithProviders(failing("a", errA), recorded(rec, "b", lifecycle.Normal), failing("c", errC)))
		startRuntime(t, rt)
		err := rt.Reload(context.Background())
		var re *lifecycle.ReloadError
		if !errors.As(err, &re) || !re.Applied || len(re.Errors) != 2 ||
			re.Errors[0].Provider != "a" || re.Errors[1].Provider != "c" || !errors.Is(err, errA) || !errors.Is(err, errC) {
			t.Fatalf("Reload = %v", err)
		}
		if got := strings.Join(rec.get(), " "); !strings.HasSuffix(got, "reload:a reload:b reload:c") {
			t.Fatalf("calls = %q", got)
		}
	})

	t.Run("concurrent requests coalesce", func(t *testing.T) {
		entered := make(chan struct{}, 8)
		release := make(chan struct{})
		var runs atomic.Int32
		rt := newRuntime(t, nil, lifecycle.WithProviders(lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
			Reload: func(context.Context) error {
				runs.Add(1)
				entered <- struct{}{}
				<-release
				return nil
			},
		})))
		startRuntime(t, rt)
		first := make(chan error, 1)
		go func() { first <- rt.Reload(context.Background()) }()
		waitFor(t, entered, "the first reload")
		if rt.State() != lifecycle.StateReloading {
			t.Fatalf("state during reload = %v", rt.State())
		}

		// Requests from n goroutines at once while the first run is in
		// progress. Reload registers its request before it waits, so a
		// caller whose context is already done returns once its request
		// is made: when they have all returned, every request is known to
		// be pending. (Before, the callers waited for the result and the
		// first run was released at once; callers scheduled late, as on a
		// loaded machine, each made a run of their own: 6 runs for 11
		// requests.)
		const n = 10
		done, cancel := context.WithCancel(context.Background())
		cancel()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- rt.Reload(done)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Reload = %v, want the caller's context error", err)
			}
		}
		close(release)
		waitFor(t, first, "the first reload to return")
		// A caller that waits: it shares the run of the n requests if that
		// run has not started yet, else makes a third.
		if err := rt.Reload(context.Background()); err != nil {
			t.Fatalf("Reload = %v", err)
		}
		// Every request made during the first run shares the second.
		if got := runs.Load(); got < 2 || got > 3 {
			t.Fatalf("%d reload runs for %d requests, want 2 or 3", got, n+2)
		}
	})

	t.Run("refused before running and while shutting down", func(t *testing.T) {
		rt := newRuntime(t, nil)
		if err := rt.Reload(context.Background()); !errors.Is(err, lifecycle.ErrNotRunning) {
			t.Fatalf("Reload before Start = %v, want ErrNotRunning", err)
		}
		startRuntime(t, rt)
		rt.InitiateShutdown("test", nil, 0)
		if err := rt.Reload(context.Background()); !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("Reload during shutdown = %v, want ErrShutdown", err)
		}
	})

	t.Run("the caller's context bounds the wait", func(t *testing.T) {
		release := make(chan struct{})
		rt := newRuntime(t, nil, lifecycle.WithProviders(lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
			Reload: func(ctx context.Context) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			},
		})))
		startRuntime(t, rt)
		defer close(release)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := rt.Reload(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Reload = %v, want context.Canceled", err)
		}
	})

	t.Run("SIGHUP reloads", func(t *testing.T) {
		b := newBus(t)
		completed := subscribe[lifecycle.ReloadCompletedEvent](t, b)
		started := subscribe[lifecycle.ReloadStartedEvent](t, b)
		rec := &recorder{}
		osSigs := make(chanSignal)
		rt := newSignalRuntime(t, b, osSigs, lifecycle.WithProviders(recorded(rec, "config", lifecycle.Normal)))
		startRuntime(t, rt)
		osSigs <- syscall.SIGHUP
		if ev := next(t, started); ev.Trigger != "signal: hangup" {
			t.Fatalf("ReloadStarted = %+v", ev)
		}
		if ev := next(t, completed); !ev.Applied {
			t.Fatalf("ReloadCompleted = %+v", ev)
		}
		if got := strings.Join(rec.get(), " "); got != "boot:config validate:config reload:config" {
			t.Fatalf("calls = %q", got)
		}
	})
}

// A provider's Stop never runs while its Reload does; a reload that does
// not return within the stop budget is reported by the provider's name.
func TestStopNeverOverlapsAProvidersReload(t *testing.T) {
	release, releaseNow := releaser(t)
	reloading := make(chan struct{})
	var inReload, overlapped atomic.Bool
	provider := lifecycle.NewProvider("slow-reloader", lifecycle.Normal, lifecycle.Hooks{
		Reload: func(context.Context) error {
			inReload.Store(true)
			close(reloading)
			<-release // ignores its context
			inReload.Store(false)
			return nil
		},
		Stop: func(context.Context) error {
			if inReload.Load() {
				overlapped.Store(true)
			}
			return nil
		},
	})
	var rt *lifecycle.Runtime
	var stopped *fxbus.Subscription[lifecycle.StoppedEvent]
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module,
		fx.StopTimeout(300*time.Millisecond),
		lifecycle.AsProvider(func() lifecycle.Provider { return provider }),
		fx.Populate(&rt),
		fx.Invoke(func(b *fxbus.Bus) { stopped = fxbus.Subscribe[lifecycle.StoppedEvent](b) }))
	if err := app.Err(); err != nil {
		t.Fatalf("fx.New: %v", err)
	}
	t.Cleanup(stopped.Close)
	stopLater(t, app)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	reloadCtx, reloadCancel := context.WithTimeout(context.Background(), 2*wait)
	defer reloadCancel()
	reloaded := make(chan error, 1)
	go func() { reloaded <- rt.Reload(reloadCtx) }()
	waitFor(t, reloading, "the provider's Reload to begin")

	stopCtx, stopCancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer stopCancel()
	stopErr := app.Stop(stopCtx)
	// Fx returns at its deadline; the runtime's own stop ends with Stopped.
	ev := next(t, stopped)
	if overlapped.Load() {
		t.Error("the provider's Stop ran while its Reload was still running")
	}
	named := func(err error) bool { return err != nil && strings.Contains(err.Error(), "slow-reloader") }
	if !named(stopErr) && !named(ev.Err) {
		t.Errorf("neither app.Stop's error (%v) nor Stopped.Err (%v) names the provider whose Reload did not return", stopErr, ev.Err)
	}
	releaseNow()
	waitFor(t, reloaded, "Reload to return once the provider's Reload did")
	goleak.VerifyNone(t)
}
