package lifecycle_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// delayRuntime builds a runtime with a shutdown delay, signals from sigs
// and a forced exit that reports its code on forced.
func delayRuntime(t *testing.T, delay time.Duration, sigs <-chan os.Signal, forced chan<- int, opts ...lifecycle.Option) (*lifecycle.Runtime, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	opts = append([]lifecycle.Option{
		lifecycle.WithConfig(lifecycle.Config{ShutdownDelay: delay}),
		lifecycle.WithLogger(zap.New(core)),
		lifecycle.WithSignals(sigs),
		lifecycle.WithForceExit(func(code int) { forced <- code }),
	}, opts...)
	rt, err := lifecycle.New(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rt, logs
}

// stopAsync calls Stop within budget on its own goroutine; the channel
// receives its result.
func stopAsync(rt *lifecycle.Runtime, budget time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		done <- rt.Stop(ctx)
	}()
	return done
}

func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(prodWait):
		t.Fatalf("%s: not within %v", what, prodWait)
		return nil
	}
}

// TestShutdownDelayAdmitsWorkThenCloses: when shutdown begins, readiness
// is false at once while the gate still admits work and the token is
// live, for the delay; then the gate refuses and the token is cancelled.
func TestShutdownDelayAdmitsWorkThenCloses(t *testing.T) {
	const delay = 300 * time.Millisecond
	rt, logs := delayRuntime(t, delay, make(chan os.Signal), make(chan int, 1))
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	rt.InitiateShutdown("deploy", nil, 0)
	if rt.Ready() || rt.State() != lifecycle.StateShuttingDown || !rt.IsShuttingDown() {
		t.Fatalf("state %v, Ready %v right after the shutdown began; want shutting down, not ready", rt.State(), rt.Ready())
	}
	p, err := rt.Gate().Enter()
	if err != nil {
		t.Fatalf("the gate refused work during the delay: %v", err)
	}
	if rt.Context().Err() != nil {
		t.Fatal("the token was cancelled during the delay")
	}
	stopped := stopAsync(rt, prodWait)
	// The gate admits work until the delay is over, then refuses it.
	deadline := time.Now().Add(prodWait)
	for {
		q, err := rt.Gate().Enter()
		if errors.Is(err, lifecycle.ErrGateClosed) {
			break
		}
		q.Release()
		if time.Now().After(deadline) {
			t.Fatal("the gate still admits work long after the delay")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if closedAfter := time.Since(begin); closedAfter < delay {
		t.Fatalf("the gate closed %v after the shutdown began, before the delay %v", closedAfter, delay)
	}
	if !errors.Is(context.Cause(rt.Context()), lifecycle.ErrShutdown) {
		t.Fatalf("the token after the delay: %v, want cancelled with the shutdown", context.Cause(rt.Context()))
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with work in flight", err)
	default:
	}
	p.Release()
	if err := waitErr(t, stopped, "Stop"); err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessage("shutdown delay over").Len() != 1 {
		t.Errorf("no %q entry: %v", "shutdown delay over", logs.All())
	}
}

// TestNoShutdownDelayByDefault: the zero Config closes the gate and
// cancels the token as the shutdown begins.
func TestNoShutdownDelayByDefault(t *testing.T) {
	rt, _ := delayRuntime(t, 0, make(chan os.Signal), make(chan int, 1))
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.InitiateShutdown("deploy", nil, 0)
	if _, err := rt.Gate().Enter(); !errors.Is(err, lifecycle.ErrGateClosed) {
		t.Fatalf("Enter: %v, want ErrGateClosed at once", err)
	}
	if rt.Context().Err() == nil {
		t.Fatal("the token is live after the shutdown began")
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownDelayOnlyWhenReady: a shutdown that begins while booting
// does not wait: nothing was routed to a runtime that was never ready.
func TestShutdownDelayOnlyWhenReady(t *testing.T) {
	var rt *lifecycle.Runtime
	entered := make(chan error, 1)
	boot := lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{Boot: func(context.Context) error {
		rt.InitiateShutdown("config missing", nil, 1)
		_, err := rt.Gate().Enter()
		entered <- err
		return nil
	}})
	rt, _ = delayRuntime(t, time.Hour, make(chan os.Signal), make(chan int, 1), lifecycle.WithProviders(boot))
	_ = rt.Start(context.Background())
	if err := <-entered; !errors.Is(err, lifecycle.ErrGateClosed) {
		t.Fatalf("Enter during a shutdown that began while booting: %v, want ErrGateClosed", err)
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
}

// TestSecondSignalCutsTheShutdownDelay: a second SIGTERM ends the delay
// at once and the stop goes on gracefully; a third one forces the exit.
func TestSecondSignalCutsTheShutdownDelay(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	forced := make(chan int, 1)
	release := make(chan struct{})
	stopping := make(chan struct{})
	slow := lifecycle.NewProvider("server", lifecycle.Normal, lifecycle.Hooks{Stop: func(ctx context.Context) error {
		close(stopping)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}})
	rt, logs := delayRuntime(t, time.Hour, sigs, forced, lifecycle.WithProviders(slow))
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGTERM
	for deadline := time.Now().Add(prodWait); !rt.IsShuttingDown(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first signal did not begin the shutdown")
		}
	}
	if rt.Context().Err() != nil {
		t.Fatal("the token was cancelled at the first signal, despite the delay")
	}
	stopped := stopAsync(rt, time.Minute) // the delay could take 30s of it
	sigs <- syscall.SIGTERM
	select {
	case <-stopping: // the delay is over: the providers stop
	case <-time.After(prodWait):
		t.Fatalf("the second signal did not cut the delay short: %v", logs.All())
	}
	select {
	case code := <-forced:
		t.Fatalf("the second signal forced the exit (%d) instead of ending the delay", code)
	default:
	}
	if logs.FilterMessage("shutdown delay cut short by a second signal").Len() != 1 {
		t.Errorf("no entry for the cut: %v", logs.All())
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-forced:
		if code != lifecycle.DefaultForceExitCode {
			t.Errorf("forced exit code %d, want %d", code, lifecycle.DefaultForceExitCode)
		}
	case <-time.After(prodWait):
		t.Fatal("the third signal did not force the exit")
	}
	close(release)
	if err := waitErr(t, stopped, "Stop"); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownDelayCountsAgainstTheStopBudget: a delay longer than the
// stop budget takes half of it, with a warning, and the drain the rest.
func TestShutdownDelayCountsAgainstTheStopBudget(t *testing.T) {
	rt, logs := delayRuntime(t, time.Hour, make(chan os.Signal), make(chan int, 1))
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.InitiateShutdown("deploy", nil, 0)
	const budget = 400 * time.Millisecond
	begin := time.Now()
	if err := waitErr(t, stopAsync(rt, budget), "Stop"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < budget/2 {
		t.Errorf("the stop took %v, less than half of its budget %v: the delay was skipped", took, budget)
	}
	if e := logs.FilterMessage("shutdown delay cut to half of the stop budget: make it shorter than half of the stop timeout").All(); len(e) != 1 || e[0].Level != zapcore.WarnLevel {
		t.Errorf("no warning that the delay was cut: %v", logs.All())
	}
}

func TestShutdownDelayMustNotBeNegative(t *testing.T) {
	_, err := lifecycle.New(nil, lifecycle.WithConfig(lifecycle.Config{ShutdownDelay: -time.Second}))
	if err == nil || err.Error() != "lifecycle: Config.ShutdownDelay must not be negative, got -1s" {
		t.Fatalf("New: %v, want an error naming Config.ShutdownDelay and the value", err)
	}
}

// TestMainRunsTheShutdownDelayBeforeTheComponentsStop: under Main (Run),
// the delay runs before app.Stop, so that a component stopped by an OnStop
// hook of its own (which Fx runs before the runtime's) does not stop while
// work is still admitted: its hook runs after the delay, with the gate
// closed and the token cancelled.
func TestMainRunsTheShutdownDelayBeforeTheComponentsStop(t *testing.T) {
	const delay = 300 * time.Millisecond
	var began time.Time
	type seen struct {
		after      time.Duration
		gateClosed bool
		tokenErr   error
	}
	stopped := make(chan seen, 1)
	code := lifecycle.Run(context.Background(),
		fx.NopLogger,
		fx.Supply(zap.NewNop()),
		fx.Supply(lifecycle.Config{ShutdownDelay: delay}),
		fx.Invoke(func(lc fx.Lifecycle, rt *lifecycle.Runtime) {
			lc.Append(fx.StopHook(func() {
				stopped <- seen{time.Since(began), rt.Gate().Closed(), rt.Context().Err()}
			}))
		}),
		lifecycle.AsTask(func(rt *lifecycle.Runtime) lifecycle.Task {
			return lifecycle.Task{Name: "stopper", Run: func(ctx context.Context) error {
				if rt.WaitRunning(ctx) == nil {
					began = time.Now()
					rt.InitiateShutdown("deploy", nil, 0)
				}
				<-ctx.Done()
				return nil
			}}
		}),
	)
	if code != 0 {
		t.Fatalf("Run: exit code %d", code)
	}
	s := <-stopped
	if s.after < delay || !s.gateClosed || s.tokenErr == nil {
		t.Fatalf("the component's OnStop hook ran %v after the shutdown began (gate closed %v, token %v); want after the delay %v, gate closed, token cancelled",
			s.after, s.gateClosed, s.tokenErr, delay)
	}
}
