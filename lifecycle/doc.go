// Package lifecycle is a runtime for Fx applications: it boots components
// in a set order, supervises background tasks, reloads on demand or on
// SIGHUP, admits and drains in-flight work, and shuts down gracefully,
// announcing every phase as a typed event on an [fxbus.Bus] and in a zap
// log entry.
//
// It is the Go port of the lifecycle half of the Rust crate runtime-rs;
// dig and Fx are its typed service registry.
//
// # Wiring
//
// Pass [Module] next to fxbus.Module, both at the top level of fx.New:
//
//	fx.New(
//		fxbus.Module,
//		lifecycle.Module,
//		lifecycle.AsProvider(NewCache),   // a Provider
//		lifecycle.AsTask(NewIndexer),     // a Task
//		fx.Supply(lifecycle.Config{...}), // optional
//	)
//
// or let [Main] build and run the application and return the exit code:
//
//	func main() { os.Exit(lifecycle.Main(app.Module)) }
//
// Main adds fxbus.Module and Module unless its options include them. The
// recommended layout is an application module that includes both at its
// top level, so that the same module runs under fxtest in the tests and
// under Main:
//
//	// package app
//	var Module = fx.Options(
//		fxbus.Module,
//		lifecycle.Module,
//		fx.Module("shop", fx.Provide(NewRepo), lifecycle.AsTask(NewIndexer)),
//	)
//
//	// package main
//	func main() { os.Exit(lifecycle.Main(app.Module)) }
//
//	// the tests
//	app := fxtest.New(t, app.Module, fx.Populate(&rt))
//
// Module does not decorate fx.Lifecycle; fxbus.Module does, and Fx allows
// one decoration per scope. Without Fx, build a runtime with [New], then
// call [Runtime.Start] and [Runtime.Stop].
//
// # Runs, restarts and failed starts
//
// A runtime runs in runs: [Runtime.Start] begins one, [Runtime.Stop] ends
// it, and an application started again after a stop (Fx allows
// Start, Stop, Start) gets a new run: a new shutdown token, the providers
// booted again, the registered tasks started again, one
// fxbus.ShutdownInitiatedEvent per stop. A task that outlives its run's
// stop budget is waited for by the next Start (which fails naming it if
// its context ends first); it belongs to its own run, whose
// [StoppedEvent] is the last event of its tasks: what it reports after
// that is dropped, and the next run's subscribers never see it.
//
// Under [Module], whatever way the application's start fails (a hook's
// error, the start timeout, a panic or runtime.Goexit in a hook, which
// fxbus.Module turns into errors), the run ends on its own: the shutdown
// is announced once, a runtime that had booted is rolled back within
// [Config.RollbackTimeout], and the bus closes. This holds under plain
// fx.New as under [Run]; app.Stop after a failed start changes nothing
// but returns once that end is complete, so call it to know when. When a
// stop passes its deadline, the run ends as soon as the runtime's stop in
// progress (bounded by its own expired budget) allows; if Fx skipped the
// runtime's OnStop hook, the token is cancelled, signal handling ends and
// a [StoppedEvent] reports the skipped stop. Then the bus closes, waking
// every reader.
// Both modules must be at the top level of fx.New: a runtime outside
// fxbus.Module's scope fails the build, and hooks appended outside it fail
// the start.
//
// # Panics and runtime.Goexit
//
// A panic in a task, a provider's hook or a bus handler is recovered into
// an error carrying the stack ([*PanicError]), and a call of
// runtime.Goexit (t.FailNow, log.Fatal-like helpers) into an error wrapping
// [ErrGoexit]; the policy that applies to a failure applies to them. This
// differs from errgroup, which lets a panic crash the process, and from
// conc, which re-raises it at Wait: a service's background task or
// reloadable component failing must not take down the requests the rest
// of the process is serving, and the supervisor is where the policy for
// that failure lives.
//
// # Shutdown token
//
// [Runtime.Context] lives until shutdown begins, then is cancelled with a
// [*ShutdownError] as its cause. Long-lived work must derive from it, never
// from an OnStart context: Fx's start context expires with the start
// timeout (fxtest cancels it as soon as Start returns).
//
// [Runtime.InitiateShutdown] begins the shutdown from any goroutine; the
// first call wins, later ones change nothing. It closes the [Gate],
// emits fxbus.ShutdownInitiatedEvent (once per shutdown: fxbus.Module's own
// stop-time announcement is the same event), cancels the token, and asks Fx
// to stop with the exit code. When Fx stops on its own (app.Stop, or a
// signal under app.Run) the runtime begins its shutdown when fxbus.Module
// announces it, before the first OnStop hook of any component runs.
//
// The readiness state ([Runtime.State], [Runtime.Ready],
// [Runtime.WaitRunning]) goes booting, running (reloading and back),
// shutting down, stopped: what a readiness probe reports. Under [Module]
// the runtime is running once every OnStart hook of the application has
// returned, not only its own.
//
// # Providers
//
// A [Provider] has a name and takes part in the phases it implements:
// [Booter], [Validator], [Reloader], [Stopper]. Providers validate, boot and
// reload in the order of the runtime's [Plan], and stop in the reverse.
// They boot within the start budget; a boot that fails or does not return
// in time stops those already booted, in reverse, and fails Start with a
// [*ProviderError] naming the provider. The hooks of one provider never
// run at the same time: a hook abandoned at its deadline (a reload cut
// short by the shutdown, say) is waited for, within the budget of the next
// one, and the next one fails naming the provider if it does not return.
//
// # Provider order
//
// The plan is made before boot and does not depend on the order in which
// the Fx value group gives the providers:
//
//   - a provider comes after every provider it depends on (see below) and
//     after those that [After] and [Before] edges put before it;
//   - among the providers whose predecessors are all placed, the one with
//     the lowest [Priority] ([Early], [Normal], [Late]) comes next, then the
//     first by name.
//
// So priority orders only what no edge orders: it never moves a provider
// past a dependency, and an Early provider that needs a Late one boots
// after it. A cycle (of explicit edges, or of an explicit edge against
// dependencies) fails [New], and under Fx the application, before any
// provider boots, with a [*CycleError] naming every provider in it and the
// edge that closes it; so does an edge whose [Ref] names no provider.
// [Runtime.Plan] returns the plan with the reason for each provider's place
// (its dependencies, its explicit edges, its priority): it is complete once
// fx.New has returned, and the runtime logs it at debug level when it
// starts. For example, with
//
//	fx.Provide(NewDB), lifecycle.ProviderOf[*DB](), // NewDB() *DB; *DB is a Provider
//	fx.Provide(NewRepo),                            // NewRepo(*DB) *Repo
//	lifecycle.AsProvider(NewCache),                 // NewCache(*Repo) *Cache
//	lifecycle.AsProvider(NewMailer),                // talks to the cache over the network
//	lifecycle.With(lifecycle.After(lifecycle.ByName("mailer"), lifecycle.ByType[*Cache]())),
//
// the plan is db, cache ("needs *app.Repo, which needs *app.DB"), mailer
// (the After edge), whatever the priorities.
//
// # Dependencies
//
// Under [Module], a provider depends on another when one of its
// constructors needs, directly or through any chain of other constructors,
// a value that a constructor of the other builds. A provider's
// constructors are, for [AsProvider], the constructor given; for
// [ProviderOf], the constructor of T. Module reads the constructor graph
// from fx.DotGraph, the rendering of the whole graph that Fx and dig give
// an application, once all is provided; reflecting on the constructors
// passed to AsProvider would see only their own parameters, and Fx's
// event log and dig's ProvideInfo show no parameters to the application.
//
// Seen, in every module and scope (fx.Private included): parameters and
// fx.In fields; named values, by name; optional values, when something
// provides them; value groups (a constructor that takes a group needs every
// constructor that feeds it); values given with fx.Supply; annotated
// constructors (fx.Annotate), by the parameters the annotation gives them;
// the other results of an AsProvider constructor.
//
// Not seen:
//
//   - providers registered with [WithProviders], or put into
//     [ProvidersGroup] without AsProvider or ProviderOf: only edges,
//     priority and name order them (the debug log of the plan lists them);
//   - what fx.Decorate and fx.Replace add: the graph does not show
//     decorators, so a dependency that only a decorator's parameters create
//     is missed;
//   - anything outside the constructor graph: values wired together in
//     fx.Invoke functions, captured in closures or package variables, or
//     reached through the bus or the network. Order those with [After] and
//     [Before].
//
// The graph names a type as dig prints it, "*db.Client": two distinct
// types printed the same (same package name and type name, different
// import paths), or one type provided privately in two modules, are one
// value to the plan, which may then order more than it must, never less.
// If fx.DotGraph cannot be read (a dig release that draws it otherwise),
// the application fails to build with an error that says so, rather than
// boot in an order that may be wrong.
//
// # Tasks
//
// A [Task] runs on the runtime's context under a [Policy]: [Critical] (its
// failure initiates shutdown with it as cause and a non-zero exit code),
// [Restart] (exponential backoff with jitter and a failure budget over a
// window, see [RestartPolicy]; past the budget, escalate with a
// [*BudgetError]) or [Ignore]. A panic becomes a [*PanicError] with the
// stack. Register tasks with [AsTask], or start them at run time with
// [Runtime.Go].
//
// On stop the runtime waits for its cancelled tasks within a slice of the
// stop budget ([Config.TaskTimeout]), then reports those still running by
// name, with how long they were waited on, in a [*DrainError], and goes on:
// Go cannot abort a goroutine, and Fx skips every hook once its stop
// deadline passes.
//
// # Reload
//
// [Runtime.Reload] validates every provider, then reloads them, both in
// plan order; a failed validation changes nothing. Requests coalesce, and SIGHUP is
// one (from Start to Stop only: Go's default for SIGHUP kills the process).
//
// # Gate
//
// A [Gate] admits units of in-flight work and refuses them once closed;
// the runtime's gate closes when shutdown begins and is drained on stop
// within [Config.GateTimeout]: [GateDrainedEvent], or [GateForcedEvent] with the
// number left.
//
// # Shutdown delay
//
// Behind a load balancer (a Kubernetes Service), a process that turns
// unready is removed from the endpoints after a while, not at once:
// closing the gate as the shutdown begins refuses requests still routed
// to it. With [Config.ShutdownDelay], a runtime that was ready when its
// shutdown began answers unready at once ([Runtime.Ready] is false, the
// readiness handler says 503) but keeps admitting work, and keeps its
// token live, for the delay; then the gate closes, the tasks are
// cancelled and the drain begins. The delay counts against the stop
// budget (it takes at most half of it); a second SIGINT or SIGTERM cuts
// it short, and a third then forces the exit. [Main] and [Run] wait for
// it before app.Stop, so that components stopped by OnStop hooks of their
// own stop after it, with the gate closed. Under plain fx.New, Fx runs
// the hooks of components that no provider or task needs before the
// runtime's, whose [Runtime.Stop] begins with the delay: such components
// stop before it (those that providers or tasks need stop after the
// runtime; see [Module]). Run a server that must serve
// through the delay as a provider ([NewHTTPServer]), which stops after
// the drain either way.
//
// # Signals
//
// From Start to the end of Stop the runtime handles SIGINT and SIGTERM
// (the first initiates shutdown, the second forces the exit with
// [Config.ForceExitCode], or first cuts a shutdown delay short) and
// SIGHUP (reload). Signals are counted as the
// runtime receives them: under app.Run, Fx relays the same first signal,
// which does not count twice. Tests inject a channel with [WithSignals];
// [WithoutSignals] turns signals off.
//
// # Probes and HTTP
//
// [Runtime.ReadinessHandler] and [Runtime.LivenessHandler] are the probe
// handlers of an orchestrator; [HTTPServer] runs an *http.Server as a
// provider: it listens at boot, admits requests through the gate, and
// shuts down after the drain, within the stop budget.
//
// # systemd
//
// Started by systemd with NOTIFY_SOCKET set (Type=notify or
// Type=notify-reload), the runtime sends READY=1 when it is running,
// RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a reload,
// STOPPING=1 when the shutdown begins, a STATUS= line per phase, and,
// with WatchdogSec=, WATCHDOG=1 every half interval until a shutdown that
// reports a failure. A unit file:
//
//	[Service]
//	Type=notify-reload        # or notify, with ExecReload=kill -HUP $MAINPID
//	ExecStart=/usr/local/bin/shop
//	WatchdogSec=30s
//	TimeoutStopSec=20s        # above fx.StopTimeout (15s by default)
//	Restart=on-failure
//
// # Events
//
// Each phase emits a plain value on the bus, each alongside a log entry:
// [ProviderBootedEvent], [BootedEvent], [ReadyEvent], [ReloadStartedEvent],
// [ReloadCompletedEvent], [TaskStartedEvent], [TaskFailedEvent],
// [TaskRestartingEvent], [TaskStoppedEvent], [GateDrainedEvent],
// [GateForcedEvent], [DrainCompletedEvent], [SignalReceivedEvent],
// [ShutdownForcedEvent], [ProviderStoppedEvent], [StoppedEvent]; the
// shutdown itself is fxbus.ShutdownInitiatedEvent. They form a closed set,
// [Event]: subscribe to one type, or to Event for all of them in order.
//
// # Logging
//
// The runtime's log entries are named "lifecycle" (zap's Named), the
// bus's "fxbus". They go to the *zap.Logger of the Fx graph, used as it
// is (or the one given with [WithLogger]). With none, the runtime and the
// bus are never silent: warnings and errors (a task's failure, a
// restart, the budget's escalation, a failed boot or stop, a handler's
// error or panic) go to standard error, one line each; debug and info
// entries are dropped.
//
// # Exit codes
//
// [Main] and [Run] return 0 after a clean shutdown, the code given to
// InitiateShutdown (a critical task's is [Config.TaskExitCode]),
// [ExitFailure] if the application fails to build, start or stop, and
// [Config.ForceExitCode] when a second signal forces the exit. For a
// non-zero code they write one line to standard error, once, with the
// code, the reason and the cause:
//
//	lifecycle: exit code 1: shutdown: task "indexer" failed (attempt 1): index corrupt
package lifecycle

import "github.com/claviron/fxruntime/fxbus"

var _ *fxbus.Bus // for the doc links
