package lifecycle

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

// The value groups [Module] reads.
const (
	ProvidersGroup = "lifecycle.providers"
	TasksGroup     = "lifecycle.tasks"
	OptionsGroup   = "lifecycle.options"
)

// originsGroup holds an origin for each provider that AsProvider and
// ProviderOf register: where Module finds it in the Fx graph.
const originsGroup = "lifecycle.origins"

// providerType is the type of the ProvidersGroup's values.
var providerType = reflect.TypeFor[Provider]()

// groupTag returns the result tag that puts a value into group.
func groupTag(group string) string { return fmt.Sprintf("group:%q", group) }

// Module provides one [*Runtime] (and its [*Gate]) to an Fx application
// and ties it to the application's lifecycle. Use it next to fxbus.Module,
// both at the top level:
//
//	fx.New(fxbus.Module, lifecycle.Module, lifecycle.AsProvider(NewCache), ...)
//
// The runtime is built from an optional [Config], an optional *zap.Logger
// (else the bus's) and the options given with [With]; then it collects the
// providers and tasks of the [ProvidersGroup] and [TasksGroup] value
// groups, whose constructors may therefore depend on the *Runtime and the
// *Gate (an HTTP server that serves a readiness probe and admits requests
// through the gate, for example). It orders the providers by the
// dependencies that fx.DotGraph shows between them (see the package
// documentation), the edges given with [After] and [Before], priority and
// name, and fails the application on a cycle. Its
// OnStart hook calls [Runtime.Start] with the start context; its OnStop
// hook calls [Runtime.Stop] with the stop context. The runtime's hook is
// appended once the constructors of its providers and tasks have run, so
// that Fx orders it as it orders any component after what it needs: the
// components that providers and tasks need (a connection pool, a client
// with Fx hooks of its own) start before the providers boot and the tasks
// start, and stop after the providers have stopped and the tasks have
// ended. Components built later that depend on the runtime (by an
// fx.Invoke at the top level of fx.New, or in an fx.Module listed after
// Module) start after it and stop before it. Fx runs the invokes of the
// modules listed before Module first: a component built there starts
// before the providers boot, so list Module before your own modules.
//
// The runtime enters [StateRunning] and emits [ReadyEvent] when every OnStart
// hook of the application has returned, not only its own.
//
// [Runtime.InitiateShutdown] asks Fx to stop with fx.Shutdowner. When Fx
// stops on its own (app.Stop, or a signal under app.Run), the runtime
// begins its shutdown when fxbus.Module announces it, before the first
// OnStop hook of any component runs: components see IsShuttingDown, a
// cancelled token and a closed gate from their first OnStop hook on.
//
// Module does not decorate fx.Lifecycle (fxbus.Module does).
var Module fx.Option = fx.Module("lifecycle",
	fx.Provide(provideRuntime, (*Runtime).Gate),
	fx.Invoke(registerComponents),
)

// components are the value groups the runtime collects once it is built,
// so that providers and tasks may depend on the *Runtime and its *Gate.
type components struct {
	fx.In

	Lifecycle fx.Lifecycle
	Runtime   *Runtime
	Providers []Provider `group:"lifecycle.providers"`
	Origins   []origin   `group:"lifecycle.origins"`
	Graph     fx.DotGraph
	Tasks     []Task `group:"lifecycle.tasks"`
}

func registerComponents(c components) error {
	deps, err := readDependencies(string(c.Graph), c.Origins)
	if err != nil {
		return err
	}
	if err := c.Runtime.register(c.Providers, c.Tasks, deps); err != nil {
		return err
	}
	// Appended now, after the constructors of the providers and tasks
	// have run: Fx starts the hooks those constructors appended (and
	// those of everything they need) before the runtime boots the
	// providers and starts the tasks, and stops them only after the
	// runtime has stopped both.
	c.Lifecycle.Append(fx.Hook{OnStart: c.Runtime.Start, OnStop: c.Runtime.Stop})
	return nil
}

// params are what [Module] reads from the graph.
type params struct {
	fx.In

	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	Bus        *fxbus.Bus
	Config     Config      `optional:"true"`
	Logger     *zap.Logger `optional:"true"`
	Options    []Option    `group:"lifecycle.options"`
	Main       *mainHooks  `optional:"true"` // supplied by Run only
}

// mainHooks are what [Run] tells the runtime it builds.
type mainHooks struct {
	forceExit func(code int)
}

func provideRuntime(p params) (*Runtime, error) {
	var cfg *Config
	if p.Config != (Config{}) {
		cfg = &p.Config
	}
	opts := []Option{
		withGraph(p.Logger, cfg),
		withLateOrder(), // the edges name providers that register adds
		withStopper(func(code int) {
			// Non-blocking. It fails only when a receiver's channel is
			// full, that is, when a stop was already requested.
			_ = p.Shutdowner.Shutdown(fx.ExitCode(code))
		}),
	}
	opts = append(opts, p.Options...)
	if p.Main != nil {
		opts = append(opts, withRunForceExit(p.Main.forceExit)) // Run must return the code
	}
	hooks := runhooks.Of(p.Bus)
	if hooks.Managed() && !hooks.Covers(p.Lifecycle) {
		// The bus's decoration does not reach this scope: the runtime
		// could not know when the app is up, nor begin its shutdown before
		// the other OnStop hooks.
		return nil, errors.New("lifecycle: Module is outside the scope of fxbus.Module: pass fxbus.Module at the top level of fx.New, not inside another fx.Module")
	}
	r, err := New(p.Bus, opts...)
	if err != nil {
		return nil, err
	}
	// fxbus.Module calls these synchronously: the first when it announces
	// a stop that Fx began on its own (app.Stop, or a signal under
	// app.Run), or a failed start, before any OnStop hook runs; the
	// second when every OnStart hook of the app has returned; the third
	// when a run of the app ends, before the bus closes, to finish a run
	// whose OnStop hook Fx skipped.
	hooks.OnShutdown(func(reason string, cause error, exitCode int) {
		r.beginShutdown(reason, cause, exitCode, false)
	})
	r.readyLater = hooks.OnAppStarted(r.becomeReady)
	hooks.OnRunEnd(r.runEnded)
	return r, nil
}

// AsProvider registers the result of the constructor ctor as a [Provider]
// of the runtime. ctor is an Fx constructor (it may take dependencies and
// return an error too) whose first result implements Provider; the result
// goes into the [ProvidersGroup], and into the graph under a name of the
// runtime's own, through which [Module] finds what it depends on. To also
// have the concrete type in the graph, provide it and use [ProviderOf].
// Anything else fails the application's build with an error naming it.
func AsProvider(ctor any) fx.Option {
	if err := checkCtor("AsProvider", ctor, "implements lifecycle.Provider", true, func(t reflect.Type) bool {
		return t.Implements(providerType)
	}); err != nil {
		return fx.Error(err)
	}
	t := reflect.TypeOf(ctor)
	// The address of tag, allocated as long as the option and then the
	// provider live, makes the name unique in the application.
	tag := new(byte)
	name := fmt.Sprintf("lifecycle.AsProvider(%s)@%p", funcName(ctor), tag)
	nameTag := fmt.Sprintf("name:%q", name)
	key := fmt.Sprintf("%v[name=%v]", providerType, name) // as dig.Visualize prints it
	// A tag for each result, the error aside: with fewer, fx v1.24 panics
	// on a constructor of more than one result annotated with As.
	resultTags := make([]string, t.NumOut())
	resultTags[0] = nameTag
	if t.Out(t.NumOut()-1) == reflect.TypeFor[error]() {
		resultTags = resultTags[:len(resultTags)-1]
	}
	return fx.Options(
		fx.Provide(fx.Annotate(ctor, fx.As(new(Provider)), fx.ResultTags(resultTags...))),
		fx.Provide(fx.Annotate(
			func(p Provider) (Provider, origin) { return p, origin{provider: p, key: key, tag: tag} },
			fx.ParamTags(nameTag),
			fx.ResultTags(groupTag(ProvidersGroup), groupTag(originsGroup)),
		)),
	)
}

// ProviderOf registers the T found in the graph as a [Provider]. [Module]
// finds what it depends on through the constructor of T.
func ProviderOf[T Provider]() fx.Option {
	key := reflect.TypeFor[T]().String() // as dig.Visualize prints it
	return fx.Provide(fx.Annotate(
		func(p T) (Provider, origin) { return p, origin{provider: p, key: key} },
		fx.ResultTags(groupTag(ProvidersGroup), groupTag(originsGroup)),
	))
}

// funcName returns the name of the function f, or its type.
func funcName(f any) string {
	if fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer()); fn != nil {
		return fn.Name()
	}
	return fmt.Sprintf("%T", f)
}

// AsTask registers the [Task] returned by the constructor ctor, an Fx
// constructor (it may take dependencies and return an error too).
func AsTask(ctor any) fx.Option {
	// Anything else would land in a group of another type that nothing
	// reads: the task would silently never run.
	if err := checkCtor("AsTask", ctor, "is a lifecycle.Task", false, func(t reflect.Type) bool {
		return t == reflect.TypeFor[Task]()
	}); err != nil {
		return fx.Error(err)
	}
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(groupTag(TasksGroup))))
}

// checkCtor checks that ctor is a function whose first result passes ok,
// followed by at most an error, or, with more, by any results.
func checkCtor(fn string, ctor any, want string, more bool, ok func(reflect.Type) bool) error {
	t := reflect.TypeOf(ctor)
	if t == nil {
		return fmt.Errorf("lifecycle: %s: got nil, want a constructor (a function) whose first result %s", fn, want)
	}
	if t.Kind() != reflect.Func || reflect.ValueOf(ctor).IsNil() {
		return fmt.Errorf("lifecycle: %s: got %v, want a constructor (a function) whose first result %s", fn, t, want)
	}
	errType := reflect.TypeFor[error]()
	bad := t.NumOut() == 0 || !ok(t.Out(0))
	if !more {
		bad = bad || t.NumOut() > 2 || (t.NumOut() == 2 && t.Out(1) != errType)
	}
	if bad {
		return fmt.Errorf("lifecycle: %s: constructor %v: want its first result to be a type that %s, optionally followed by an error", fn, t, want)
	}
	return nil
}

// With passes options to the runtime that [Module] builds. Fx gives value
// groups in no set order, so the runtime refuses an option that sets
// something given twice, and WithSignals with WithoutSignals; the options
// that add (WithProviders, WithTasks, After, Before) may be given any
// number of times.
func With(opts ...Option) fx.Option {
	fxOpts := make([]fx.Option, len(opts))
	for i, o := range opts {
		fxOpts[i] = fx.Provide(fx.Annotate(
			func() Option { return o },
			fx.ResultTags(groupTag(OptionsGroup)),
		))
	}
	return fx.Options(fxOpts...)
}
