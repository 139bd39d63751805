package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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
	// ShutdownDelay is how long the runtime keeps admitting new work once
	// a shutdown has begun, while readiness already answers false, so
	// that a load balancer has time to stop routing requests here before
	// the gate closes: the delay Kubernetes' own API server waits between
	// turning unready and no longer accepting requests. The shutdown
	// token stays live until then too. It applies to a runtime that was
	// ready (running or reloading) when the shutdown began; it counts
	// against the stop budget, of which it takes at most half; a second
	// SIGINT or SIGTERM cuts it short (a third one forces the exit).
	// [Main] waits for it before stopping the application; otherwise it
	// is the first step of [Runtime.Stop]. Zero, the default, closes the
	// gate at once.
	ShutdownDelay time.Duration
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
}

func (c Config) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ShutdownDelay", c.ShutdownDelay},
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
// with [With]. Options are checked once, by New: an invalid value is an
// error naming the option; an option that sets something (all but
// [WithProviders], [WithTasks], [After] and [Before]) may be given once,
// since Fx gives the options of With in no set order; and [WithSignals]
// and [WithoutSignals] exclude each other.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// setOption is an option that sets something once: New refuses it twice.
type setOption struct {
	name string
	set  func(*options)
}

func (s setOption) apply(o *options) {
	if o.given == nil {
		o.given = make(map[string]int)
	}
	o.given[s.name]++
	s.set(o)
}

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
	given     map[string]int
	errs      []error

	// Set by Module from the graph and by Run: defaults under the user's
	// options (the logger), or what must win over them (Run's forced exit).
	graphLog     *zap.Logger
	runForceExit func(code int)
}

// check reports the options given more than once, and the ones that
// exclude each other.
func (o *options) check() {
	names := make([]string, 0, len(o.given))
	for name, n := range o.given {
		if n > 1 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		o.errs = append(o.errs, fmt.Errorf("lifecycle: %s given %d times: give it once (under Fx, the options of With come in no set order)", name, o.given[name]))
	}
	if o.given["WithSignals"] > 0 && o.given["WithoutSignals"] > 0 {
		o.errs = append(o.errs, errors.New("lifecycle: WithSignals and WithoutSignals both given: give one"))
	}
}

// WithConfig sets the runtime's configuration. Under Fx, a
// lifecycle.Config supplied to the graph counts as this option.
func WithConfig(c Config) Option {
	return setOption{"WithConfig", func(o *options) { o.cfg = c }}
}

// WithLogger sets the logger for the runtime's log entries, which are
// named "lifecycle" (zap's Named). Without it, the runtime uses the
// *zap.Logger of the Fx graph, else the bus's (under [Module] without a
// logger in the graph, fxbus.Module's default), else, with no bus, a
// default that writes warnings and errors to standard error, one line
// each; a nil logger means the same as none.
func WithLogger(l *zap.Logger) Option {
	return setOption{"WithLogger", func(o *options) { o.log = l }}
}

// WithClock replaces the clock used for task backoff and budget windows.
func WithClock(c Clock) Option {
	return setOption{"WithClock", func(o *options) {
		if c == nil {
			o.errs = append(o.errs, errors.New("lifecycle: WithClock: nil Clock: give a Clock, or leave the option out for the real one"))
			return
		}
		o.clock = c
	}}
}

// WithSignals makes the runtime read signals from ch instead of
// subscribing to SIGINT, SIGTERM and SIGHUP with os/signal: tests send
// values on ch instead of real signals. The runtime never closes ch;
// closing it means no more signals.
func WithSignals(ch <-chan os.Signal) Option {
	return setOption{"WithSignals", func(o *options) {
		if ch == nil {
			o.errs = append(o.errs, errors.New("lifecycle: WithSignals: nil channel (use WithoutSignals to disable signals)"))
			return
		}
		o.signals = ch
	}}
}

// WithoutSignals turns off signal handling.
func WithoutSignals() Option {
	return setOption{"WithoutSignals", func(o *options) { o.noSignals = true }}
}

// WithForceExit replaces what the runtime does when a second interrupt or
// termination signal arrives during shutdown. The default is os.Exit with
// the force exit code; [Main] and [Run] return the code instead, whatever
// this option says.
func WithForceExit(exit func(code int)) Option {
	return setOption{"WithForceExit", func(o *options) {
		if exit == nil {
			o.errs = append(o.errs, errors.New("lifecycle: WithForceExit: nil function"))
			return
		}
		o.forceExit = exit
	}}
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

// withGraph sets what Module found in the graph: the logger, a default
// under WithLogger; a supplied Config, which counts as WithConfig.
func withGraph(l *zap.Logger, c *Config) Option {
	return optionFunc(func(o *options) {
		o.graphLog = l
		if c != nil {
			setOption{"WithConfig", func(o *options) { o.cfg = *c }}.apply(o)
		}
	})
}

// withRunForceExit sets Run's forced exit, which wins over WithForceExit.
func withRunForceExit(exit func(code int)) Option {
	return optionFunc(func(o *options) { o.runForceExit = exit })
}

// withStopper sets how InitiateShutdown asks the host (Fx) to stop.
func withStopper(stop func(code int)) Option {
	return optionFunc(func(o *options) { o.stopper = stop })
}
