package lifecycle_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// runApp runs lifecycle.Run on its own goroutine with injected signals and
// returns the runtime once it runs, and the channel of Run's result.
func runApp(t *testing.T, ctx context.Context, sigs chanSignal, opts ...fx.Option) (*lifecycle.Runtime, chan int) {
	t.Helper()
	rts := make(chan *lifecycle.Runtime, 1)
	code := make(chan int, 1)
	go func() {
		code <- lifecycle.Run(ctx, fx.NopLogger, lifecycle.With(lifecycle.WithSignals(sigs)),
			fx.Invoke(func(rt *lifecycle.Runtime) { rts <- rt }), fx.Options(opts...))
	}()
	select {
	case rt := <-rts:
		wctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := rt.WaitRunning(wctx); err != nil && !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("WaitRunning: %v", err)
		}
		return rt, code
	case c := <-code:
		return nil, func() chan int { ch := make(chan int, 1); ch <- c; return ch }()
	}
}

func TestRun(t *testing.T) {
	t.Run("a signal exits 0", func(t *testing.T) {
		sigs := make(chanSignal)
		_, code := runApp(t, context.Background(), sigs)
		sigs <- syscall.SIGTERM
		if c := waitFor(t, code, "Run"); c != 0 {
			t.Fatalf("exit code = %d, want 0", c)
		}
	})

	t.Run("InitiateShutdown's exit code", func(t *testing.T) {
		rt, code := runApp(t, context.Background(), make(chanSignal))
		rt.InitiateShutdown("job done", nil, 5)
		if c := waitFor(t, code, "Run"); c != 5 {
			t.Fatalf("exit code = %d, want 5", c)
		}
	})

	t.Run("a critical task's failure", func(t *testing.T) {
		_, code := runApp(t, context.Background(), make(chanSignal),
			fx.Invoke(func(rt *lifecycle.Runtime) error {
				return rt.Go("worker", func(context.Context) error { return errors.New("fatal") })
			}))
		if c := waitFor(t, code, "Run"); c != lifecycle.DefaultTaskExitCode {
			t.Fatalf("exit code = %d, want %d", c, lifecycle.DefaultTaskExitCode)
		}
	})

	t.Run("context cancellation exits 0", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, code := runApp(t, ctx, make(chanSignal))
		cancel()
		if c := waitFor(t, code, "Run"); c != 0 {
			t.Fatalf("exit code = %d, want 0", c)
		}
	})

	t.Run("a start failure exits 1", func(t *testing.T) {
		_, code := runApp(t, context.Background(), make(chanSignal),
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{
					Boot: func(context.Context) error { return errors.New("refused") },
				})
			}))
		if c := waitFor(t, code, "Run"); c != lifecycle.ExitFailure {
			t.Fatalf("exit code = %d, want 1", c)
		}
	})

	t.Run("a build failure exits 1", func(t *testing.T) {
		c := lifecycle.Run(context.Background(), fx.NopLogger, fx.Invoke(func(*testing.T) {}))
		if c != lifecycle.ExitFailure {
			t.Fatalf("exit code = %d, want 1", c)
		}
	})

	t.Run("a second signal during shutdown returns the force code at once", func(t *testing.T) {
		sigs := make(chanSignal)
		stopping := make(chan struct{})
		release := make(chan struct{})
		_, code := runApp(t, context.Background(), sigs,
			fx.Supply(lifecycle.Config{ForceExitCode: 7}),
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
					Stop: func(context.Context) error { close(stopping); <-release; return nil },
				})
			}))
		sigs <- syscall.SIGINT
		waitFor(t, stopping, "the provider's stop")
		sigs <- syscall.SIGINT
		if c := waitFor(t, code, "Run"); c != 7 {
			t.Fatalf("exit code = %d, want 7", c)
		}
		close(release) // let the abandoned stop finish, for goleak
	})
}

// A second SIGINT while an OnStart hook is slow makes Run return the force
// exit code at once, not ExitFailure once StartTimeout has passed; Run
// stops the abandoned app in the background when its start ends.
func TestRunForcesExitOnASecondSignalDuringASlowStart(t *testing.T) {
	sigs := make(chanSignal, 2)
	entered := make(chan struct{})
	res := make(chan int, 1)
	begin := time.Now()
	var rt *lifecycle.Runtime
	go func() {
		res <- lifecycle.Run(context.Background(), fx.NopLogger,
			fx.StartTimeout(500*time.Millisecond),
			fx.Populate(&rt),
			lifecycle.With(lifecycle.WithSignals(sigs)),
			fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) {
				lc.Append(fx.StartHook(func(ctx context.Context) error {
					close(entered)
					<-ctx.Done()
					return ctx.Err()
				}))
			}))
	}()
	<-entered
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	code := <-res
	took := time.Since(begin)
	if code != lifecycle.DefaultForceExitCode || took > 400*time.Millisecond {
		t.Fatalf("Run returned %d after %v; want %d promptly", code, took, lifecycle.DefaultForceExitCode)
	}
	// Run stops the abandoned app in the background once its start ends.
	deadline := time.Now().Add(10 * time.Second)
	for rt.State() != lifecycle.StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("state %v 10 s after the forced exit, want stopped", rt.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunShutdowner(t *testing.T) {
	t.Run("fx.Shutdowner used directly gives its exit code", func(t *testing.T) {
		var sd fx.Shutdowner
		rt, code := runApp(t, context.Background(), make(chanSignal), fx.Populate(&sd))
		if err := sd.Shutdown(fx.ExitCode(4)); err != nil {
			t.Fatal(err)
		}
		if c := waitFor(t, code, "Run"); c != 4 {
			t.Fatalf("exit code = %d, want 4", c)
		}
		if rt.ExitCode() != 4 {
			t.Fatalf("runtime exit code = %d", rt.ExitCode())
		}
	})
}

// A shutdown initiated while the app is built is the one announcement of
// the run, and its exit code is Run's.
func TestEarlyShutdownIsAnnouncedOnceWithItsExitCode(t *testing.T) {
	var events *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	cause := errors.New("feature flag missing")
	code := make(chan int, 1)
	go func() {
		code <- lifecycle.Run(context.Background(), fx.NopLogger,
			lifecycle.With(lifecycle.WithoutSignals()),
			// Before the invoke that initiates: sees every announcement.
			fx.Invoke(func(b *fxbus.Bus) { events = fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](b) }),
			fx.Invoke(func(rt *lifecycle.Runtime) { rt.InitiateShutdown("config says no", cause, 7) }),
		)
	}()
	c := waitFor(t, code, "Run")
	t.Cleanup(events.Close)
	evs := ftDrain(t, events)
	if c != 7 {
		t.Errorf("Run returned %d, want 7, the code given to InitiateShutdown", c)
	}
	if len(evs) != 1 {
		t.Fatalf("%d ShutdownInitiatedEvent events, want 1: %+v", len(evs), evs)
	}
	if ev := evs[0]; ev.Reason != "config says no" || ev.ExitCode != 7 || !errors.Is(ev.Cause, cause) {
		t.Fatalf("ShutdownInitiatedEvent = %+v, want reason %q, cause %v, exit code 7", ev, "config says no", cause)
	}
}
