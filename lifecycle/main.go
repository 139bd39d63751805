package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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
// Main adds fxbus.Module and Module unless opts include them already (at
// any depth of fx.Options and fx.Module), so that the layout an
// application's tests need works as it is: an application module that
// includes both at its top level, which the tests give to fxtest and main
// gives to Main:
//
//	var Module = fx.Options(fxbus.Module, lifecycle.Module, fx.Module("shop", ...))
//
//	func main() { os.Exit(lifecycle.Main(app.Module)) }       // package main
//	app := fxtest.New(t, app.Module, fx.Populate(&rt))       // the tests
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
// For a non-zero exit code, Run writes one line to standard error with
// the code and why: the shutdown's reason and cause ([Runtime.Cause]), or
// the error that failed the build, start or stop; a panic's stack is left
// out (the failure's log entry has it):
//
//	lifecycle: exit code 1: shutdown: task "indexer" failed (attempt 1): index corrupt
//

// Run returns once the runtime has finished starting or stopping, even
// when Fx gave up waiting for it at a deadline: a failed boot has been
// rolled back (within [Config.RollbackTimeout]). If Fx skips the runtime's
// OnStop hook (an OnStop hook that stops before it used up the stop
// deadline), Run still ends the runtime's signal handling once app.Stop
// returns, and reports the skipped stop with a [StoppedEvent] event; the exit
// code is then [ExitFailure].
func Run(ctx context.Context, opts ...fx.Option) int {
	code, why := runMain(ctx, opts)
	if code != 0 {
		fmt.Fprintf(os.Stderr, "lifecycle: exit code %d: %s\n", code, why)
	}
	return code
}

// runMain is Run without the exit line: it returns the exit code and, for a
// non-zero one, why.
func runMain(ctx context.Context, opts []fx.Option) (code int, why string) {
	// Build the application, with fxbus.Module and Module.
	m := build(opts)
	if err := m.app.Err(); err != nil {
		return ExitFailure, oneLine("building the application: "+inner(err), err)
	}
	// Start it; a second signal may force the exit already.
	if code, over := m.start(); over {
		return code, m.why(code)
	}
	// Wait for a shutdown from any side.
	if code, forced := m.waitShutdown(ctx); forced {
		return code, m.why(code)
	}
	// Stop it within the stop timeout, unless forced.
	code = m.stop()
	return code, m.why(code)
}

// why says why Run exits with code: a forced exit, the runtime's shutdown
// if it asked for code, else the error of the start or stop.
func (m *mainApp) why(code int) string {
	if code == 0 {
		return ""
	}
	cause := m.rt.Cause()
	var msg string
	switch {
	case m.wasForced:
		msg = "a second signal forced the exit"
		if cause != nil {
			msg += " during the " + inner(cause)
		}
	case cause != nil && m.rt.ExitCode() == code:
		msg = inner(cause)
	case m.failed != nil:
		msg = m.failed.Error()
		cause = m.failed
	default:
		msg = "exit code asked for"
	}
	return oneLine(msg, cause)
}

// oneLine returns msg, the message of err, on one line: the stacks of the
// panics it reports are left out and line breaks become "; ".
func oneLine(msg string, err error) string {
	for e := err; e != nil; {
		var pe *PanicError
		if !errors.As(e, &pe) {
			break
		}
		msg = strings.Replace(msg, "\n\n"+string(pe.Stack), "", 1)
		e = pe.Unwrap()
	}
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// mainApp is the application Run runs, and how it learns of a forced exit
// and of a direct fx.Shutdowner call.
type mainApp struct {
	app       *fx.App
	rt        *Runtime
	forced    chan int      // the code of a forced exit
	requested chan struct{} // fx.Shutdowner was called
	startErr  chan error    // app.Start's result

	// Set by the step that ends Run, read by why.
	wasForced bool  // a second signal forced the exit
	failed    error // the start's or stop's error, wrapped to say which

	// The stop budget, from the moment the shutdown began: the shutdown
	// delay, then app.Stop. Set by waitShutdown.
	stopCtx    context.Context
	stopCancel context.CancelFunc
}

func build(opts []fx.Option) *mainApp {
	m := &mainApp{forced: make(chan int, 1), requested: make(chan struct{}, 1), startErr: make(chan error, 1)}
	var modules []fx.Option // those opts lack: see includes
	if !includes(opts, fxbus.Module) {
		modules = append(modules, fxbus.Module)
	}
	if !includes(opts, Module) {
		modules = append(modules, Module)
	}
	m.app = fx.New(
		fx.Options(modules...),
		fx.Options(opts...),
		fx.Supply(&mainHooks{forceExit: func(code int) {
			select {
			case m.forced <- code:
			default: // already forced
			}
		}}),
		fx.Populate(&m.rt),
		fx.Decorate(func(s fx.Shutdowner) fx.Shutdowner {
			return &notifyingShutdowner{Shutdowner: s, requested: m.requested}
		}),
	)
	return m
}

// start starts the application within its start timeout. It reports
// over when Run must return code: the start failed, or a second signal
// forced the exit while it ran (signals are handled from the runtime's
// Start on, while later OnStart hooks may still run).
func (m *mainApp) start() (code int, over bool) {
	startCtx, cancel := context.WithTimeout(context.Background(), m.app.StartTimeout())
	go func() {
		defer cancel()
		m.startErr <- m.app.Start(startCtx)
	}()
	select {
	case err := <-m.startErr:
		if err == nil {
			return 0, false
		}
		m.failed = wrap("start failed", err)
		// Fx's logger has the error (nothing, with fx.NopLogger) and
		// Runtime.Cause has a failed boot's; Run reports only the code.
		// A failed boot's rollback may outlast Fx's start deadline.
		m.rt.settle(true)
		if code := m.rt.ExitCode(); code != 0 {
			return code, true // a shutdown initiated before the start: its code wins
		}
		return ExitFailure, true
	case code := <-m.forced:
		m.wasForced = true
		// Return at once, as the process is to exit; should it not, the
		// app is stopped in the background once its start has ended.
		go func() {
			<-m.startErr
			stopCtx, cancel := context.WithTimeout(context.Background(), m.app.StopTimeout())
			defer cancel()
			_ = m.app.Stop(stopCtx)
			m.rt.settle(false)
		}()
		return code, true
	}
}

// waitShutdown waits for a shutdown from any side and for its
// announcement. Run does not call app.Wait before a shutdown is
// requested: that would make Fx handle SIGINT and SIGTERM too, and the
// runtime handles them.
func (m *mainApp) waitShutdown(ctx context.Context) (code int, forced bool) {
	select {
	case <-m.rt.begun():
	case <-m.requested: // fx.Shutdowner used directly; Wait has its code
		sig := <-m.app.Wait()
		m.rt.beginShutdown("fx: shutdown requested", nil, sig.ExitCode, false)
	case <-ctx.Done():
		m.rt.InitiateShutdown("context done", context.Cause(ctx), 0)
	case code := <-m.forced:
		m.wasForced = true
		return code, true
	}
	// Whoever won the shutdown (perhaps another goroutine's
	// InitiateShutdown, between recording its cause and announcing it)
	// announces it before marking it begun: from then on, app.Stop's own
	// announcement cannot come first and disagree with the runtime's cause
	// and exit code.
	<-m.rt.begun()

	// The stop budget starts now. The shutdown delay, if one applies, runs
	// before app.Stop: Fx runs the OnStop hooks of the components before
	// the runtime's, and none may stop while work is still admitted. Then
	// the gate closes and the token is cancelled, as every OnStop hook
	// expects.
	m.stopCtx, m.stopCancel = context.WithTimeout(context.Background(), m.app.StopTimeout())
	ru := m.rt.current()
	delayed := make(chan struct{})
	go func() {
		defer close(delayed)
		m.rt.waitDelay(m.stopCtx, ru)
		m.rt.endDelay(ru)
	}()
	select {
	case <-delayed:
		return 0, false
	case code := <-m.forced:
		m.wasForced = true
		m.stopCancel() // ends the wait
		return code, true
	}
}

// stop stops the application and returns the exit code: the shutdown's,
// else ExitFailure if the stop failed, else 0.
func (m *mainApp) stop() int {
	stopCtx := m.stopCtx // set by waitShutdown: the delay took its share
	defer m.stopCancel()
	stopped := make(chan error, 1)
	go func() { stopped <- m.app.Stop(stopCtx) }()
	select {
	case err := <-stopped:
		// Fx returns at its deadline even if the runtime's Stop goes on:
		// let the run end, so that none of its goroutines outlives Run.
		m.rt.settle(false)
		if code := m.rt.ExitCode(); code != 0 {
			return code
		}
		if err != nil {
			m.failed = wrap("stop failed", err)
			return ExitFailure
		}
		return 0
	case code := <-m.forced:
		m.wasForced = true
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
