package lifecycle

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// Exit codes returned by [Main] and [Run] besides 0 and the codes asked
// for with [Runtime.InitiateShutdown].
const (
	// ExitFailure: the application failed to build, start or stop.
	ExitFailure = 1
)

// Main builds an Fx application from fxbus.Module, [Module] and opts, runs
// it until shutdown, stops it, and returns the process exit code, so that
// a command's main is:
//
//	func main() { os.Exit(lifecycle.Main(app.Module)) }
//
// The exit code is [ExitFailure] if the application fails to build, start
// or stop; the code given to [Runtime.InitiateShutdown] (0 for a signal);
// or [Config.ForceExitCode] when a second SIGINT or SIGTERM arrives during
// shutdown, in which case Main returns without waiting for the stop.
// Main is Run with a background context.
//
// Main decorates fx.Shutdowner (to learn of direct calls without making
// Fx listen to signals itself), so opts must not decorate or replace it.
func Main(opts ...fx.Option) int {
	return Run(context.Background(), opts...)
}

// Run is [Main] with a context: when ctx is done the application shuts
// down with ctx's cause.
//
// Run writes an error building the application to standard error. It
// does not write a start failure: Fx logs it, and Runtime.Cause (populate
// the *Runtime to read it) has a failed boot's error.
//
// Run returns once the runtime has finished starting or stopping, even
// when Fx gave up waiting for it at a deadline: a failed boot has been
// rolled back (within [Config.RollbackTimeout]). If Fx skips the runtime's
// OnStop hook (an OnStop hook that stops before it used up the stop
// deadline), Run still ends the runtime's signal handling once app.Stop
// returns, and reports the skipped stop with a [StoppedEvent] event; the exit
// code is then [ExitFailure].
func Run(ctx context.Context, opts ...fx.Option) int {
	forced := make(chan int, 1)
	requested := make(chan struct{}, 1)
	var rt *Runtime
	app := fx.New(
		fxbus.Module,
		Module,
		fx.Options(opts...),
		fx.Supply(&mainHooks{forceExit: func(code int) {
			select {
			case forced <- code:
			default: // already forced
			}
		}}),
		fx.Populate(&rt),
		fx.Decorate(func(s fx.Shutdowner) fx.Shutdowner {
			return &notifyingShutdowner{Shutdowner: s, requested: requested}
		}),
	)
	if app.Err() != nil {
		fmt.Fprintln(os.Stderr, "lifecycle: building the application:", app.Err())
		return ExitFailure
	}

	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	// Signals are handled from the runtime's Start on, while later OnStart
	// hooks may still run: a second signal must force the exit then too.
	startErr := make(chan error, 1)
	go func() { startErr <- app.Start(startCtx) }()
	select {
	case err := <-startErr:
		if err != nil {
			// Fx's logger has the error (nothing, with fx.NopLogger) and
			// Runtime.Cause has a failed boot's; Run reports only the code.
			// A failed boot's rollback may outlast Fx's start deadline.
			rt.settle(true)
			if code := rt.ExitCode(); code != 0 {
				return code // a shutdown initiated before the start: its code wins
			}
			return ExitFailure
		}
	case code := <-forced:
		// Return at once, as the process is to exit; should it not, the
		// app is stopped in the background once its start has ended.
		go func() {
			<-startErr
			stopCtx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
			defer cancel()
			_ = app.Stop(stopCtx)
			rt.settle(false)
		}()
		return code
	}

	// Wait for a shutdown from any side. Run does not call app.Wait
	// before a shutdown is requested: that would make Fx handle SIGINT and
	// SIGTERM too, and the runtime handles them.
	select {
	case <-rt.Done():
	case <-requested: // fx.Shutdowner used directly; Wait has its code
		sig := <-app.Wait()
		rt.beginShutdown("fx: shutdown requested", nil, sig.ExitCode, false)
	case <-ctx.Done():
		rt.InitiateShutdown("context done", context.Cause(ctx), 0)
	case code := <-forced:
		return code
	}

	// Whoever won the shutdown (perhaps another goroutine's
	// InitiateShutdown, still between recording its cause and announcing
	// it) announces it before cancelling the token: wait for that, or
	// app.Stop's own announcement ("fx: application stopping", exit code
	// 0) could come first and be the one ShutdownInitiatedEvent of this
	// shutdown, disagreeing with the runtime's cause and Run's exit code.
	<-rt.Done()

	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(stopCtx) }()
	select {
	case err := <-stopped:
		// Fx returns at its deadline even if the runtime's Stop goes
		// on, and skips the runtime's OnStop hook if the deadline passed
		// before its turn: let the runtime finish, so that none of its
		// goroutines outlives Run.
		rt.settle(false)
		if code := rt.ExitCode(); code != 0 {
			return code
		}
		if err != nil {
			return ExitFailure
		}
		return 0
	case code := <-forced:
		return code
	}
}

// settle waits until the runtime's run has ended after app.Start failed
// or app.Stop returned: fxbus.Module ends a run that Fx abandoned at a
// deadline, and rolls the runtime back within Config.RollbackTimeout. If
// nothing ended the run by then (Fx ran no hook at all), it is ended here.
func (r *Runtime) settle(startFailed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RollbackTimeout+time.Second)
	defer cancel()
	r.wait(ctx)
	r.runEnded(startFailed)
}

// notifyingShutdowner tells Run that fx.Shutdowner was called, without
// making Fx listen to signals.
//
// It also serializes the calls: Fx 1.24's Shutdown stores the exit code
// in the shutdowner without a lock before broadcasting it, so the
// runtime's InitiateShutdown and a direct call from another goroutine
// raced (a data race, and one call's exit code broadcast by the other).
type notifyingShutdowner struct {
	fx.Shutdowner
	requested chan struct{}
	mu        sync.Mutex // serializes Shutdown
}

func (s *notifyingShutdowner) Shutdown(opts ...fx.ShutdownOption) error {
	s.mu.Lock()
	err := s.Shutdowner.Shutdown(opts...)
	s.mu.Unlock()
	select {
	case s.requested <- struct{}{}:
	default: // already told
	}
	return err
}
