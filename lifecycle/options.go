package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// Default values used for the zero fields of [Config].
const (
	// DefaultForceExitCode is the exit code of a shutdown forced by a second
	// interrupt or termination signal.
	DefaultForceExitCode = 3
	// DefaultTaskExitCode is the exit code requested when a critical task
	// fails or a restarting task exhausts its budget.
	DefaultTaskExitCode = 1
	// DefaultRollbackTimeout bounds the rollback of booted providers after
	// a failed boot.
	DefaultRollbackTimeout = 5 * time.Second
	// DefaultReloadTimeout bounds one reload run.
	DefaultReloadTimeout = 30 * time.Second
	// DefaultStopTimeout is the stop budget assumed when Stop's context has
	// no deadline.
	DefaultStopTimeout = 15 * time.Second
)

// Config holds the runtime's settings. Every zero field means its default,
// so the zero Config is ready to use; a negative duration or exit code is
// an error that names the field. With Fx, supply it to the graph:
//
//	fx.Supply(lifecycle.Config{ForceExitCode: 9})
type Config struct {
	// GateTimeout bounds the wait for in-flight work on stop. Zero means
	// a quarter of the time left before the stop deadline.
	GateTimeout time.Duration
	// TaskTimeout bounds the wait for tasks to return after cancellation
	// on stop. Zero means half of the time left before the stop deadline.
	TaskTimeout time.Duration
	// RollbackTimeout bounds the rollback after a failed boot; zero means
	// [DefaultRollbackTimeout].
	RollbackTimeout time.Duration
	// ReloadTimeout bounds one reload run; zero means [DefaultReloadTimeout].
	ReloadTimeout time.Duration
	// ForceExitCode is the exit code of a forced shutdown; zero means
	// [DefaultForceExitCode].
	ForceExitCode int
	// TaskExitCode is the exit code requested by a failing critical task;
	// zero means [DefaultTaskExitCode].
	TaskExitCode int
	// Restart holds the defaults for tasks with the [Restart] policy that
	// leave fields of their own [RestartPolicy] zero.
	Restart RestartPolicy
	// DisableSignals stops the runtime from listening to OS signals.
	DisableSignals bool
}

func (c Config) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"GateTimeout", c.GateTimeout},
		{"TaskTimeout", c.TaskTimeout},
		{"RollbackTimeout", c.RollbackTimeout},
		{"ReloadTimeout", c.ReloadTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("lifecycle: Config.%s must not be negative, got %v", d.name, d.v))
		}
	}
	if c.ForceExitCode < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: Config.ForceExitCode must not be negative, got %d", c.ForceExitCode))
	}
	if c.TaskExitCode < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: Config.TaskExitCode must not be negative, got %d", c.TaskExitCode))
	}
	if err := c.Restart.validate("Config.Restart"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() Config {
	if c.RollbackTimeout == 0 {
		c.RollbackTimeout = DefaultRollbackTimeout
	}
	if c.ReloadTimeout == 0 {
		c.ReloadTimeout = DefaultReloadTimeout
	}
	if c.ForceExitCode == 0 {
		c.ForceExitCode = DefaultForceExitCode
	}
	if c.TaskExitCode == 0 {
		c.TaskExitCode = DefaultTaskExitCode
	}
	c.Restart = c.Restart.withDefaults(defaultRestart)
	return c
}

// Clock is the runtime's source of time, replaceable with [WithClock] so
// that backoff and budget windows can be tested without waiting.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx is done, and returns ctx.Err() in the
	// second case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// An Option configures a runtime built by [New]. With Fx, pass options
// with [With].
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	cfg       Config
	log       *zap.Logger
	clock     Clock
	signals   <-chan os.Signal
	noSignals bool
	forceExit func(code int)
	stopper   func(code int)
	providers []Provider
	tasks     []Task
	order     []orderRule // explicit edges, checked against the providers by the plan
	lateOrder bool        // Module registers providers after New: check the edges then
	errs      []error
}

// WithConfig sets the runtime's configuration.
func WithConfig(c Config) Option {
	return optionFunc(func(o *options) { o.cfg = c })
}

// WithLogger sets the logger for the runtime's log entries. A nil logger,
// like the default, falls back to the bus's logger.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) { o.log = l })
}

// WithClock replaces the clock used for task backoff and budget windows.
func WithClock(c Clock) Option {
	return optionFunc(func(o *options) {
		if c == nil {
			o.errs = append(o.errs, errors.New("lifecycle: WithClock: nil clock"))
			return
		}
		o.clock = c
	})
}

// WithSignals makes the runtime read signals from ch instead of
// subscribing to SIGINT, SIGTERM and SIGHUP with os/signal: tests send
// values on ch instead of real signals. The runtime never closes ch.
func WithSignals(ch <-chan os.Signal) Option {
	return optionFunc(func(o *options) {
		if ch == nil {
			o.errs = append(o.errs, errors.New("lifecycle: WithSignals: nil channel (use WithoutSignals to disable signals)"))
			return
		}
		o.signals, o.noSignals = ch, false
	})
}

// WithoutSignals turns off signal handling, as [Config.DisableSignals].
// Of WithSignals and WithoutSignals, the last given wins.
func WithoutSignals() Option {
	return optionFunc(func(o *options) { o.signals, o.noSignals = nil, true })
}

// WithForceExit replaces what the runtime does when a second interrupt or
// termination signal arrives during shutdown. The default is os.Exit with
// the force exit code; [Main] returns the code instead.
func WithForceExit(exit func(code int)) Option {
	return optionFunc(func(o *options) {
		if exit == nil {
			o.errs = append(o.errs, errors.New("lifecycle: WithForceExit: nil function"))
			return
		}
		o.forceExit = exit
	})
}

// WithProviders registers providers with a runtime built by [New]. Under
// Fx, use [AsProvider] instead.
func WithProviders(ps ...Provider) Option {
	return optionFunc(func(o *options) { o.providers = append(o.providers, ps...) })
}

// WithTasks registers tasks that start with the runtime. Under Fx, use
// [AsTask] instead.
func WithTasks(ts ...Task) Option {
	return optionFunc(func(o *options) { o.tasks = append(o.tasks, ts...) })
}

// withLateOrder makes New leave the explicit edges to the plan that
// Module builds once it has registered the providers of its value group.
func withLateOrder() Option {
	return optionFunc(func(o *options) { o.lateOrder = true })
}

// withStopper sets how InitiateShutdown asks the host (Fx) to stop.
func withStopper(stop func(code int)) Option {
	return optionFunc(func(o *options) { o.stopper = stop })
}
