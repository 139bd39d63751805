package lifecycle_test

// Fault injection for the runtime (issue 6, part 3): tasks, bus handlers
// and providers that fail, hang or panic; shutdown requested at awkward
// moments; signal storms. Each subtest checks that the application keeps
// serving or stops within its deadline, that the right event and log entry
// appear exactly once, the exit code, and (through goleak in TestMain)
// that no goroutine is left behind: user code blocked for good is released
// by releaser when the subtest ends.

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
)

func TestFaultTasks(t *testing.T) {
	t.Run("a critical task panics: one shutdown with its exit code", func(t *testing.T) {
		log, logs := ftLogger()
		var failed *fxbus.Subscription[lifecycle.TaskFailedEvent]
		var stopped *fxbus.Subscription[lifecycle.TaskStoppedEvent]
		var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
		a := ftRun(t, context.Background(), make(chanSignal), log, func(b *fxbus.Bus) {
			failed = subscribe[lifecycle.TaskFailedEvent](t, b)
			stopped = subscribe[lifecycle.TaskStoppedEvent](t, b)
			shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		},
			fx.Supply(lifecycle.Config{TaskExitCode: 7}),
			lifecycle.AsTask(func() lifecycle.Task {
				return lifecycle.Task{Name: "crasher", Run: func(context.Context) error { panic("ft: nil map") }}
			}))
		if code := a.exit(t, wait); code != 7 {
			t.Fatalf("exit code %d, want 7", code)
		}
		ev := ftOne(t, failed)
		var pe *lifecycle.PanicError
		if ev.Name != "crasher" || ev.Policy != lifecycle.Critical || !errors.As(ev.Err, &pe) ||
			pe.Value != "ft: nil map" || !strings.Contains(string(pe.Stack), "faults_test.go") {
			t.Fatalf("TaskFailed = %+v, want crasher's panic with its stack", ev)
		}
		sh := ftOne(t, shut)
		var te *lifecycle.TaskError
		if sh.ExitCode != 7 || !errors.As(sh.Cause, &te) || te.Task != "crasher" || !errors.As(sh.Cause, &pe) {
			t.Fatalf("ShutdownInitiatedEvent = %+v", sh)
		}
		if ev := ftOne(t, stopped); ev.Name != "crasher" {
			t.Fatalf("TaskStopped = %+v", ev)
		}
		if e := ftLogOnce(t, logs, "task failed"); ftField(e, "task") != "crasher" {
			t.Fatalf("task failed log: %v", e.ContextMap())
		}
		ftLogOnce(t, logs, "shutdown initiated")
		ftLogOnce(t, logs, "stopped")
	})

	t.Run("an ignored task panics: the app keeps serving", func(t *testing.T) {
		log, logs := ftLogger()
		b := ftBus(t, log)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		shut := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		if err := rt.Go("optional", func(context.Context) error { panic("ft: optional") },
			lifecycle.WithPolicy(lifecycle.Ignore)); err != nil {
			t.Fatal(err)
		}
		ev := next(t, stopped)
		var pe *lifecycle.PanicError
		if ev.Name != "optional" || !errors.As(ev.Err, &pe) {
			t.Fatalf("TaskStopped = %+v", ev)
		}
		ftServing(t, rt)
		ftLogOnce(t, logs, "task failed")
		none(t, shut)
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		ftOne(t, shut)
	})

	t.Run("a task panics in a loop: restart budget, then one escalation", func(t *testing.T) {
		log, logs := ftLogger()
		clock := &fakeClock{now: time.Unix(0, 0)}
		var failed *fxbus.Subscription[lifecycle.TaskFailedEvent]
		var restarting *fxbus.Subscription[lifecycle.TaskRestartingEvent]
		var stopped *fxbus.Subscription[lifecycle.TaskStoppedEvent]
		var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
		a := ftRun(t, context.Background(), make(chanSignal), log, func(b *fxbus.Bus) {
			failed = subscribe[lifecycle.TaskFailedEvent](t, b)
			restarting = subscribe[lifecycle.TaskRestartingEvent](t, b)
			stopped = subscribe[lifecycle.TaskStoppedEvent](t, b)
			shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		},
			lifecycle.With(lifecycle.WithClock(clock)),
			lifecycle.AsTask(func() lifecycle.Task {
				return lifecycle.Task{
					Name: "looper", Run: func(context.Context) error { panic("ft: loop") },
					Policy: lifecycle.Restart, ExitCode: 5,
					Restart: lifecycle.RestartPolicy{Initial: time.Millisecond, Budget: 3, Window: time.Minute},
				}
			}))
		if code := a.exit(t, wait); code != 5 {
			t.Fatalf("exit code %d, want 5", code)
		}
		if n := len(ftDrain(t, failed)); n != 4 {
			t.Fatalf("%d TaskFailed, want 4 (a budget of 3, then the escalating one)", n)
		}
		if n := len(ftDrain(t, restarting)); n != 3 {
			t.Fatalf("%d TaskRestarting, want 3", n)
		}
		ftOne(t, stopped)
		sh := ftOne(t, shut)
		var be *lifecycle.BudgetError
		if !errors.As(sh.Cause, &be) || be.Task != "looper" || be.Failures != 4 || sh.ExitCode != 5 {
			t.Fatalf("ShutdownInitiatedEvent = %+v, want looper's *BudgetError", sh)
		}
		ftLogOnce(t, logs, "task restart budget exhausted, escalating")
		ftLogOnce(t, logs, "shutdown initiated")
		if n := ftLogCount(logs, "task restarting"); n != 3 {
			t.Fatalf("%d restart log entries, want 3", n)
		}
	})

	t.Run("a task ignores cancellation: reported by name, stop within its budget", func(t *testing.T) {
		const budget = 100 * time.Millisecond
		log, logs := ftLogger()
		release, _ := releaser(t)
		started := make(chan struct{})
		sigs := make(chanSignal)
		var drained *fxbus.Subscription[lifecycle.DrainCompletedEvent]
		var stoppedEv *fxbus.Subscription[lifecycle.StoppedEvent]
		a := ftRun(t, context.Background(), sigs, log, func(b *fxbus.Bus) {
			drained = subscribe[lifecycle.DrainCompletedEvent](t, b)
			stoppedEv = subscribe[lifecycle.StoppedEvent](t, b)
		},
			fx.Supply(lifecycle.Config{TaskTimeout: budget}),
			lifecycle.AsTask(func() lifecycle.Task {
				return lifecycle.Task{Name: "stubborn", Run: func(context.Context) error {
					close(started)
					<-release // not ctx
					return nil
				}}
			}),
			lifecycle.AsTask(func() lifecycle.Task { return lifecycle.Task{Name: "polite", Run: blockUntilDone} }))
		a.waitRunning(t)
		waitFor(t, started, "the stubborn task")
		stopBegin := time.Now()
		sigs <- syscall.SIGTERM
		if code := a.exit(t, wait); code != lifecycle.ExitFailure {
			t.Fatalf("exit code %d, want %d: the stop failed", code, lifecycle.ExitFailure)
		}
		ftAtLeast(t, stopBegin, budget)
		if took := time.Since(stopBegin); took > budget+ftSlack {
			t.Fatalf("stop took %v, budget %v", took, budget)
		}
		ev := ftOne(t, drained)
		if len(ev.Stragglers) != 1 || ev.Stragglers[0].Name != "stubborn" || ev.Stragglers[0].Waited < budget {
			t.Fatalf("DrainCompleted = %+v, want stubborn after %v", ev, budget)
		}
		var de *lifecycle.DrainError
		if st := ftOne(t, stoppedEv); !errors.As(st.Err, &de) {
			t.Fatalf("Stopped = %+v, want a *DrainError", st)
		}
		ftLogOnce(t, logs, "tasks did not return")
		ftLogOnce(t, logs, "stopped with errors")
	})

	t.Run("a task blocks forever: the app keeps serving, stop takes half its deadline", func(t *testing.T) {
		const deadline = 400 * time.Millisecond
		log, logs := ftLogger()
		b := ftBus(t, log)
		drained := subscribe[lifecycle.DrainCompletedEvent](t, b)
		rec := &recorder{}
		rt := newRuntime(t, b, lifecycle.WithProviders(recorded(rec, "db", lifecycle.Normal)))
		release, _ := releaser(t)
		startRuntime(t, rt)
		blocked := make(chan struct{})
		if err := rt.Go("stuck", func(context.Context) error { close(blocked); <-release; return nil }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, blocked, "the stuck task")
		ftServing(t, rt)
		if err := rt.Reload(context.Background()); err != nil {
			t.Fatalf("Reload beside a stuck task: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		begin := time.Now()
		err := rt.Stop(ctx)
		var de *lifecycle.DrainError
		if !errors.As(err, &de) || len(de.Stragglers) != 1 || de.Stragglers[0].Name != "stuck" {
			t.Fatalf("Stop = %v, want a *DrainError naming stuck", err)
		}
		ftAtLeast(t, begin, deadline/4) // half of what is left after the gate
		if ctx.Err() != nil {
			t.Fatal("the stuck task used up the whole stop deadline")
		}
		if got := strings.Join(rec.get(), " "); !strings.HasSuffix(got, "stop:db") {
			t.Fatalf("calls %q: the provider was not stopped after the stuck task", got)
		}
		ftOne(t, drained)
		ftLogOnce(t, logs, "tasks did not return")
		ftLogOnce(t, logs, "provider stopped")
	})
}

func TestFaultHandlers(t *testing.T) {
	t.Run("handlers that panic are logged once each; the app keeps serving", func(t *testing.T) {
		log, logs := ftLogger()
		sigs := make(chanSignal)
		var completed *fxbus.Subscription[lifecycle.ReloadCompletedEvent]
		var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
		a := ftRun(t, context.Background(), sigs, log, func(b *fxbus.Bus) {
			completed = subscribe[lifecycle.ReloadCompletedEvent](t, b)
			shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		},
			fxbus.Handle(func(context.Context, lifecycle.ReadyEvent) error { panic("ft: on ready") }),
			fxbus.Handle(func(context.Context, lifecycle.ReloadStartedEvent) error { panic("ft: on reload") }),
			fxbus.Handle(func(context.Context, fxbus.ShutdownInitiatedEvent) error { panic("ft: on shutdown") }))
		a.waitRunning(t)
		sigs <- syscall.SIGHUP
		if ev := next(t, completed); !ev.Applied || len(ev.Errors) != 0 {
			t.Fatalf("ReloadCompleted = %+v", ev)
		}
		ftServing(t, a.rt)
		sigs <- syscall.SIGTERM
		if code := a.exit(t, wait); code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		ftOne(t, shut)
		panics := logs.FilterMessage("handler panicked").All()
		seen := map[any]int{}
		for _, e := range panics {
			seen[ftField(e, "panic")]++
		}
		for _, v := range []string{"ft: on ready", "ft: on reload", "ft: on shutdown"} {
			if seen[v] != 1 {
				t.Errorf("%d panic log entries for %q, want 1 (all: %v)", seen[v], v, seen)
			}
		}
		if len(panics) != 3 {
			t.Errorf("%d panic log entries, want 3", len(panics))
		}
		ftLogOnce(t, logs, "stopped")
	})

	t.Run("a handler that blocks: the app keeps serving, the stop ends within its deadline", func(t *testing.T) {
		const stopTimeout = 300 * time.Millisecond
		log, logs := ftLogger()
		sigs := make(chanSignal)
		release, _ := releaser(t)
		entered := make(chan struct{}, 1)
		var completed *fxbus.Subscription[lifecycle.ReloadCompletedEvent]
		var stopped *fxbus.Subscription[lifecycle.StoppedEvent]
		var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
		a := ftRun(t, context.Background(), sigs, log, func(b *fxbus.Bus) {
			completed = subscribe[lifecycle.ReloadCompletedEvent](t, b)
			stopped = subscribe[lifecycle.StoppedEvent](t, b)
			shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		},
			fx.StopTimeout(stopTimeout),
			fxbus.Handle(func(ctx context.Context, _ lifecycle.ReadyEvent) error {
				entered <- struct{}{}
				<-release // ignores ctx: nothing can unblock it but the test's end
				return nil
			}))
		a.waitRunning(t)
		waitFor(t, entered, "the blocking handler")
		for range 3 {
			sigs <- syscall.SIGHUP
			if ev := next(t, completed); !ev.Applied {
				t.Fatalf("ReloadCompleted = %+v", ev)
			}
		}
		ftServing(t, a.rt)
		stopBegin := time.Now()
		sigs <- syscall.SIGTERM
		// The runtime stops within the deadline whatever the handler
		// does, and the stop reports the handler that did not finish.
		if code := a.exit(t, wait); code != lifecycle.ExitFailure {
			t.Fatalf("exit code %d, want %d: the stop reported the stuck handler", code, lifecycle.ExitFailure)
		}
		ftAtLeast(t, stopBegin, stopTimeout/2)
		if took := time.Since(stopBegin); took > stopTimeout+ftSlack {
			t.Fatalf("stop took %v, deadline %v", took, stopTimeout)
		}
		if ev := ftOne(t, stopped); ev.Err != nil {
			t.Fatalf("Stopped = %+v, want the runtime's own stop clean", ev)
		}
		if a.rt.State() != lifecycle.StateStopped {
			t.Fatalf("state %v after Run, want stopped", a.rt.State())
		}
		ftOne(t, shut)
		ftLogOnce(t, logs, "shutdown initiated")
		ftLogOnce(t, logs, "stopped")
		ftNoLog(t, logs, "stopped with errors")
	})
}

// TestFaultStuckStopHook covers an OnStop hook of the application's own
// that ignores its context: Fx skips every hook after it, the runtime's
// included, and Run must finish the runtime itself.
func TestFaultStuckStopHook(t *testing.T) {
	const stopTimeout = 300 * time.Millisecond
	log, logs := ftLogger()
	sigs := make(chanSignal)
	release, _ := releaser(t)
	var stopped *fxbus.Subscription[lifecycle.StoppedEvent]
	a := ftRun(t, context.Background(), sigs, log, func(b *fxbus.Bus) {
		stopped = subscribe[lifecycle.StoppedEvent](t, b)
	},
		fx.StopTimeout(stopTimeout),
		// Depends on the runtime, so it stops before it.
		fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) {
			lc.Append(fx.StopHook(func() { <-release }))
		}))
	a.waitRunning(t)
	stopBegin := time.Now()
	sigs <- syscall.SIGTERM
	if code := a.exit(t, wait); code != lifecycle.ExitFailure {
		t.Fatalf("exit code %d, want %d: the stop failed", code, lifecycle.ExitFailure)
	}
	ftAtLeast(t, stopBegin, stopTimeout)
	if ev := ftOne(t, stopped); ev.Err == nil || !strings.Contains(ev.Err.Error(), "skipped") {
		t.Fatalf("Stopped = %+v, want the skipped stop reported", ev)
	}
	if a.rt.State() != lifecycle.StateStopped {
		t.Fatalf("state %v after Run, want stopped", a.rt.State())
	}
	ftLogOnce(t, logs, "stopped with errors")
}

var ftFaults = []string{"fails", "hangs", "panics"}

func TestFaultProviders(t *testing.T) {
	for _, fault := range ftFaults {
		t.Run("boot "+fault+": start fails naming it, rollback, exit 1", func(t *testing.T) {
			const startTimeout = 300 * time.Millisecond
			log, logs := ftLogger()
			release, _ := releaser(t)
			boom := errors.New("no route to host")
			rec := &recorder{}
			var booted *fxbus.Subscription[lifecycle.ProviderBootedEvent]
			var ready *fxbus.Subscription[lifecycle.ReadyEvent]
			var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
			a := ftRun(t, context.Background(), make(chanSignal), log, func(b *fxbus.Bus) {
				booted = subscribe[lifecycle.ProviderBootedEvent](t, b)
				ready = subscribe[lifecycle.ReadyEvent](t, b)
				shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
			},
				fx.StartTimeout(startTimeout),
				lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "db", lifecycle.Early) }),
				lifecycle.AsProvider(func() lifecycle.Provider {
					return lifecycle.NewProvider("faulty", lifecycle.Normal, lifecycle.Hooks{
						Boot: ftHook(fault, boom, release, nil),
					})
				}))
			if code := a.exit(t, startTimeout+ftSlack); code != lifecycle.ExitFailure {
				t.Fatalf("exit code %d, want %d", code, lifecycle.ExitFailure)
			}
			if fault == "hangs" {
				ftAtLeast(t, a.begin, startTimeout)
			}
			if got := strings.Join(rec.get(), " "); got != "boot:db stop:db" {
				t.Fatalf("calls %q, want db booted then rolled back", got)
			}
			if ev := ftOne(t, booted); ev.Name != "db" {
				t.Fatalf("ProviderBooted = %+v", ev)
			}
			if evs := ftDrain(t, ready); len(evs) != 0 {
				t.Fatal("Ready after a failed boot")
			}
			sh := ftOne(t, shut)
			var pe *lifecycle.ProviderError
			switch {
			case errors.As(sh.Cause, &pe) && pe.Provider == "faulty" && pe.Phase == lifecycle.PhaseBoot:
				ftCheckFault(t, fault, pe.Err, boom)
			case fault == "hangs" && sh.Reason == "fx: start failed" && errors.Is(sh.Cause, context.DeadlineExceeded) &&
				strings.Contains(sh.Cause.Error(), "Runtime).Start"):
				// The start deadline ended the start: fxbus.Module saw it
				// at the same moment as the runtime, and announced first,
				// naming the runtime's hook.
			default:
				t.Fatalf("ShutdownInitiatedEvent = %+v, want faulty's boot error (or, for a hang, the start deadline naming the runtime's hook)", sh)
			}
			e := ftLogOnce(t, logs, "boot failed")
			if s, _ := ftField(e, "error").(string); !strings.Contains(s, `provider "faulty"`) {
				t.Fatalf("boot failed log %v does not name the provider", e.ContextMap())
			}
			ftLogOnce(t, logs, "provider stopped") // db's rollback
			ftNoLog(t, logs, "ready")
			if a.rt.State() != lifecycle.StateStopped {
				t.Fatalf("state %v", a.rt.State())
			}
		})
	}

	for _, fault := range ftFaults {
		t.Run("reload "+fault+": reported per provider, the app keeps serving", func(t *testing.T) {
			const reloadTimeout = 100 * time.Millisecond
			log, logs := ftLogger()
			b := ftBus(t, log)
			completed := subscribe[lifecycle.ReloadCompletedEvent](t, b)
			release := make(chan struct{})
			var once sync.Once
			releaseOnce := func() { once.Do(func() { close(release) }) }
			t.Cleanup(releaseOnce)
			boom := errors.New("bad config")
			var healed atomic.Bool
			faulty := ftHook(fault, boom, release, nil)
			rec := &recorder{}
			rt := newRuntime(t, b,
				lifecycle.WithConfig(lifecycle.Config{ReloadTimeout: reloadTimeout}),
				// cache reloads before faulty: a hung reload uses up the
				// run's ReloadTimeout, and the providers after it get none.
				lifecycle.WithProviders(recorded(rec, "cache", lifecycle.Early),
					lifecycle.NewProvider("faulty", lifecycle.Normal, lifecycle.Hooks{
						Reload: func(ctx context.Context) error {
							if healed.Load() {
								return nil
							}
							return faulty(ctx)
						},
					})))
			startRuntime(t, rt)
			begin := time.Now()
			err := rt.Reload(context.Background())
			if fault == "hangs" {
				ftAtLeast(t, begin, reloadTimeout)
			}
			var re *lifecycle.ReloadError
			if !errors.As(err, &re) || !re.Applied || len(re.Errors) != 1 ||
				re.Errors[0].Provider != "faulty" || re.Errors[0].Phase != lifecycle.PhaseReload {
				t.Fatalf("Reload = %v, want one reload error of faulty", err)
			}
			ftCheckFault(t, fault, re.Errors[0].Err, boom)
			if !strings.Contains(strings.Join(rec.get(), " "), "reload:cache") {
				t.Fatalf("calls %q: the other provider was not reloaded", rec.get())
			}
			ev := ftOne(t, completed)
			if !ev.Applied || len(ev.Errors) != 1 || ev.Errors[0].Provider != "faulty" {
				t.Fatalf("ReloadCompleted = %+v", ev)
			}
			ftLogOnce(t, logs, "reload completed with errors")
			if rt.State() != lifecycle.StateRunning {
				t.Fatalf("state %v after a failed reload, want running", rt.State())
			}
			ftServing(t, rt)
			healed.Store(true)
			if fault == "hangs" {
				// The abandoned reload still runs: the provider's next hook
				// waits for it and, within its budget, says so.
				err := rt.Reload(context.Background())
				if !errors.As(err, &re) || len(re.Errors) != 1 || re.Errors[0].Provider != "faulty" ||
					!strings.Contains(re.Errors[0].Error(), "previous hook is still running") {
					t.Fatalf("Reload while faulty's last reload still runs = %v, want faulty refused as still running", err)
				}
				releaseOnce()
			}
			if err := rt.Reload(context.Background()); err != nil {
				t.Fatalf("Reload once healed: %v", err)
			}
			ftLogOnce(t, logs, "reload completed")
			if err := stopRuntime(t, rt); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		})
	}

	for _, fault := range ftFaults {
		t.Run("shutdown "+fault+": the others still stop, exit 1 within the deadline", func(t *testing.T) {
			const stopTimeout = 300 * time.Millisecond
			log, logs := ftLogger()
			sigs := make(chanSignal)
			release, _ := releaser(t)
			boom := errors.New("flush failed")
			rec := &recorder{}
			var stopped *fxbus.Subscription[lifecycle.StoppedEvent]
			a := ftRun(t, context.Background(), sigs, log, func(b *fxbus.Bus) {
				stopped = subscribe[lifecycle.StoppedEvent](t, b)
			},
				fx.StopTimeout(stopTimeout),
				lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "db", lifecycle.Early) }),
				lifecycle.AsProvider(func() lifecycle.Provider {
					return lifecycle.NewProvider("faulty", lifecycle.Normal, lifecycle.Hooks{
						Stop: ftHook(fault, boom, release, nil),
					})
				}))
			a.waitRunning(t)
			stopBegin := time.Now()
			sigs <- syscall.SIGTERM
			if code := a.exit(t, wait); code != lifecycle.ExitFailure {
				t.Fatalf("exit code %d, want %d", code, lifecycle.ExitFailure)
			}
			if took := time.Since(stopBegin); took > stopTimeout+ftSlack {
				t.Fatalf("stop took %v, deadline %v", took, stopTimeout)
			}
			// A hung stop uses up the stop deadline: Fx's app.Stop gives
			// up when the runtime's Stop does, and Run waits for the
			// runtime to finish reporting.
			st := ftOne(t, stopped)
			var pe *lifecycle.ProviderError
			if !errors.As(st.Err, &pe) || pe.Provider != "faulty" || pe.Phase != lifecycle.PhaseStop {
				t.Fatalf("Stopped = %+v, want faulty's stop error", st)
			}
			ftCheckFault(t, fault, pe.Err, boom)
			// A hung stop leaves the providers stopped after it an expired
			// context: db may be reported too when faulty hangs.
			var faultyLogs int
			for _, e := range logs.FilterMessage("provider stop failed").All() {
				if ftField(e, "provider") == "faulty" {
					faultyLogs++
				}
			}
			if faultyLogs != 1 {
				t.Fatalf("%d stop failure log entries for faulty, want 1", faultyLogs)
			}
			ftLogOnce(t, logs, "stopped with errors")
			if got := strings.Join(rec.get(), " "); fault != "hangs" && got != "boot:db stop:db" {
				t.Fatalf("calls %q: db was not stopped after faulty", got)
			}
		})
	}
}

func TestFaultShutdownRequests(t *testing.T) {
	t.Run("during boot: no Ready, one shutdown, its exit code", func(t *testing.T) {
		log, logs := ftLogger()
		booting := make(chan struct{})
		resume := make(chan struct{})
		rec := &recorder{}
		var ready *fxbus.Subscription[lifecycle.ReadyEvent]
		var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
		var stopped *fxbus.Subscription[lifecycle.StoppedEvent]
		a := ftRun(t, context.Background(), make(chanSignal), log, func(b *fxbus.Bus) {
			ready = subscribe[lifecycle.ReadyEvent](t, b)
			shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
			stopped = subscribe[lifecycle.StoppedEvent](t, b)
		},
			lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "db", lifecycle.Early) }),
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
					Boot: func(context.Context) error { close(booting); <-resume; return nil },
				})
			}))
		waitFor(t, booting, "the slow boot")
		if !a.rt.InitiateShutdown("ft: during boot", nil, 6) {
			t.Fatal("InitiateShutdown during boot returned false")
		}
		waited := make(chan error, 1)
		go func() { waited <- a.rt.WaitRunning(context.Background()) }()
		if err := waitFor(t, waited, "WaitRunning"); !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("WaitRunning = %v, want ErrShutdown", err)
		}
		close(resume)
		if code := a.exit(t, wait); code != 6 {
			t.Fatalf("exit code %d, want 6", code)
		}
		if evs := ftDrain(t, ready); len(evs) != 0 {
			t.Fatal("Ready emitted although shutdown began during boot")
		}
		if sh := ftOne(t, shut); sh.Reason != "ft: during boot" || sh.ExitCode != 6 {
			t.Fatalf("ShutdownInitiatedEvent = %+v", sh)
		}
		if st := ftOne(t, stopped); st.Err != nil {
			t.Fatalf("Stopped = %+v", st)
		}
		if got := strings.Join(rec.get(), " "); got != "boot:db stop:db" {
			t.Fatalf("calls %q", got)
		}
		ftNoLog(t, logs, "ready")
		ftLogOnce(t, logs, "shutdown initiated")
		ftLogOnce(t, logs, "stopped")
	})

	for _, honours := range []bool{true, false} {
		name := "during reload: the reload ends at once, one shutdown"
		if !honours {
			name = "during a reload that ignores its context: the stop does not wait for it"
		}
		t.Run(name, func(t *testing.T) {
			log, logs := ftLogger()
			sigs := make(chanSignal)
			release, _ := releaser(t)
			reloading := make(chan struct{})
			var completed *fxbus.Subscription[lifecycle.ReloadCompletedEvent]
			var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
			a := ftRun(t, context.Background(), sigs, log, func(b *fxbus.Bus) {
				completed = subscribe[lifecycle.ReloadCompletedEvent](t, b)
				shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
			},
				fx.StopTimeout(wait),
				lifecycle.AsProvider(func() lifecycle.Provider {
					return lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{
						Reload: func(ctx context.Context) error {
							close(reloading)
							if honours {
								<-ctx.Done()
								return ctx.Err()
							}
							<-release
							return nil
						},
					})
				}))
			a.waitRunning(t)
			sigs <- syscall.SIGHUP
			waitFor(t, reloading, "the reload")
			if a.rt.State() != lifecycle.StateReloading {
				t.Fatalf("state %v, want reloading", a.rt.State())
			}
			stopBegin := time.Now()
			sigs <- syscall.SIGTERM
			if code := a.exit(t, wait); code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}
			if took := time.Since(stopBegin); took > ftSlack {
				t.Fatalf("stop took %v: it waited for the reload", took)
			}
			ev := ftOne(t, completed)
			if len(ev.Errors) != 1 || !errors.Is(ev.Errors[0].Err, context.Canceled) {
				t.Fatalf("ReloadCompleted = %+v, want the reload cancelled by the shutdown", ev)
			}
			if sh := ftOne(t, shut); sh.Reason != "signal: terminated" {
				t.Fatalf("ShutdownInitiatedEvent = %+v", sh)
			}
			ftLogOnce(t, logs, "reload completed with errors")
			ftLogOnce(t, logs, "shutdown initiated")
			ftLogOnce(t, logs, "stopped")
		})
	}

	t.Run("from many goroutines at once: one event, one log, one exit code", func(t *testing.T) {
		log, logs := ftLogger()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var sd fx.Shutdowner
		var shut *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
		a := ftRun(t, ctx, make(chanSignal), log, func(b *fxbus.Bus) {
			shut = subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		}, fx.Populate(&sd))
		a.waitRunning(t)
		const n = 64
		var wins atomic.Int32
		var wg sync.WaitGroup
		startGun := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startGun
				switch i {
				case 0:
					cancel() // Run's context
				case 1:
					_ = sd.Shutdown(fx.ExitCode(100)) // Fx's own shutdowner
				default:
					if a.rt.InitiateShutdown("ft: caller", nil, i) {
						wins.Add(1)
					}
				}
			}()
		}
		close(startGun)
		wg.Wait()
		code := a.exit(t, wait)
		sh := ftOne(t, shut)
		// One shutdown: Run's exit code, the event's and the runtime's
		// agree, whoever won.
		if code != sh.ExitCode || code != a.rt.ExitCode() {
			t.Fatalf("Run's exit code %d, the event's %d, the runtime's %d: want one", code, sh.ExitCode, a.rt.ExitCode())
		}
		if wins.Load() > 1 {
			t.Fatalf("%d InitiateShutdown calls won", wins.Load())
		}
		ftLogOnce(t, logs, "shutdown initiated")
		ftLogOnce(t, logs, "stopped")
	})
}

func TestFaultSignalStorms(t *testing.T) {
	t.Run("hundreds of SIGHUP: reloads coalesce, the app keeps serving", func(t *testing.T) {
		const storm = 500
		log, logs := ftLogger()
		b := ftBus(t, log)
		started := subscribe[lifecycle.ReloadStartedEvent](t, b)
		completed := subscribe[lifecycle.ReloadCompletedEvent](t, b)
		sigs := make(chanSignal)
		entered := make(chan struct{}, storm)
		resume := make(chan struct{})
		var runs, inRun, overlap atomic.Int32
		rt := newSignalRuntime(t, b, sigs, lifecycle.WithProviders(
			lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{
				Reload: func(context.Context) error {
					if inRun.Add(1) > 1 {
						overlap.Add(1)
					}
					defer inRun.Add(-1)
					runs.Add(1)
					entered <- struct{}{}
					<-resume
					return nil
				},
			})))
		startRuntime(t, rt)
		sigs <- syscall.SIGHUP
		waitFor(t, entered, "the first reload")
		for range storm - 1 {
			sigs <- syscall.SIGHUP // each send returns once the runtime has it
		}
		ftServing(t, rt)
		ftNoLog(t, logs, "shutdown initiated")
		close(resume)
		// The burst shares the run pending behind the first; the last
		// SIGHUP may be handled after that run started, and make one more.
		waitFor(t, entered, "the coalesced reload")
		for range 2 {
			if ev := next(t, completed); !ev.Applied || len(ev.Errors) != 0 {
				t.Fatalf("ReloadCompleted = %+v", ev)
			}
		}
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		if n := len(ftDrain(t, started)); n < 2 || n > 3 || int(runs.Load()) > n {
			t.Fatalf("%d reload runs (%d hook calls) for %d SIGHUP, want 2 or 3", n, runs.Load(), storm)
		}
		if overlap.Load() != 0 {
			t.Fatal("reload runs overlapped")
		}
		if n := ftLogCount(logs, "signal received"); n != storm {
			t.Fatalf("%d signal log entries, want %d", n, storm)
		}
		// The last SIGHUP may be handled once the stop has begun: it is
		// then refused, rightly. None before.
		if n := ftLogCount(logs, "reload on signal refused"); n > 1 {
			t.Fatalf("%d SIGHUP refused, want at most the last", n)
		}
	})

	t.Run("repeated SIGTERM: one shutdown, then one forced exit", func(t *testing.T) {
		const storm = 100
		log, logs := ftLogger()
		b := ftBus(t, log)
		shut := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		forced := subscribe[lifecycle.ShutdownForcedEvent](t, b)
		received := subscribe[lifecycle.SignalReceivedEvent](t, b)
		sigs := make(chanSignal)
		exits := make(chan int, storm)
		stopping := make(chan struct{})
		release := make(chan struct{})
		var releaseOnce sync.Once
		free := func() { releaseOnce.Do(func() { close(release) }) }
		t.Cleanup(free)
		rt := newSignalRuntime(t, b, sigs,
			lifecycle.WithForceExit(func(code int) { exits <- code }),
			lifecycle.WithConfig(lifecycle.Config{ForceExitCode: 9}),
			lifecycle.WithProviders(lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
				Stop: func(context.Context) error { close(stopping); <-release; return nil },
			})))
		startRuntime(t, rt)
		sigs <- syscall.SIGTERM
		waitFor(t, rt.Done(), "the shutdown")
		stopErr := make(chan error, 1)
		go func() { stopErr <- stopRuntime(t, rt) }()
		waitFor(t, stopping, "the provider's stop")
		for range storm - 1 {
			sigs <- syscall.SIGTERM
		}
		if code := waitFor(t, exits, "the forced exit"); code != 9 {
			t.Fatalf("forced exit code %d, want 9", code)
		}
		free()
		if err := waitFor(t, stopErr, "Stop"); err != nil {
			t.Fatal(err)
		}
		// Stop has waited for the signal goroutine: every signal of the
		// storm has been handled.
		if sh := ftOne(t, shut); sh.Reason != "signal: terminated" || sh.ExitCode != 0 {
			t.Fatalf("ShutdownInitiatedEvent = %+v", sh)
		}
		if n := len(exits); n != 0 {
			t.Fatalf("%d more forced exits, want 1 in all", n)
		}
		if ev := ftOne(t, forced); ev.ExitCode != 9 || ev.Signal != syscall.SIGTERM {
			t.Fatalf("ShutdownForced = %+v", ev)
		}
		if n := len(ftDrain(t, received)); n != storm {
			t.Fatalf("%d SignalReceived, want %d", n, storm)
		}
		ftLogOnce(t, logs, "second signal during shutdown, forcing exit")
		ftLogOnce(t, logs, "shutdown initiated")
	})

	t.Run("repeated SIGTERM under Run: Run returns the force code once", func(t *testing.T) {
		log, logs := ftLogger()
		sigs := make(chanSignal)
		stopping := make(chan struct{})
		release, _ := releaser(t)
		a := ftRun(t, context.Background(), sigs, log, nil,
			fx.Supply(lifecycle.Config{ForceExitCode: 9}),
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("slow", lifecycle.Normal, lifecycle.Hooks{
					Stop: func(context.Context) error { close(stopping); <-release; return nil },
				})
			}))
		a.waitRunning(t)
		sigs <- syscall.SIGTERM
		waitFor(t, stopping, "the provider's stop")
		// Once Run has returned, the runtime soon stops reading signals:
		// each send also watches for Run's result.
		code, returned := 0, false
		for i := 0; i < 50 && !returned; i++ {
			select {
			case sigs <- syscall.SIGTERM:
			case code = <-a.code:
				returned = true
			case <-time.After(wait):
				t.Fatal("timed out sending SIGTERM")
			}
		}
		if !returned {
			code = a.exit(t, wait)
		}
		if code != 9 {
			t.Fatalf("exit code %d, want 9", code)
		}
		ftLogOnce(t, logs, "second signal during shutdown, forcing exit")
		ftLogOnce(t, logs, "shutdown initiated")
	})
}

// TestFaultSkippedStopUnderPlainFx: with plain fx.New (not Run), an OnStop
// hook that uses up the stop deadline makes Fx skip the runtime's hook.
// The runtime must still finish once the deadline passes: token cancelled,
// state stopped, no signal handled afterwards, no goroutine left. (Found
// in review: the signal goroutine outlived the app and a later double
// SIGTERM forced an exit.)
func TestFaultSkippedStopUnderPlainFx(t *testing.T) {
	sigs := make(chanSignal, 2)
	release, _ := releaser(t)
	var forced atomic.Int32
	var rt *lifecycle.Runtime
	app := fx.New(fx.NopLogger,
		fxbus.Module, lifecycle.Module,
		lifecycle.With(lifecycle.WithSignals(sigs),
			lifecycle.WithForceExit(func(code int) { forced.Store(int32(code)) })),
		fx.Populate(&rt),
		fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime) {
			lc.Append(fx.StopHook(func() { <-release }))
		}))
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = app.Stop(stopCtx) // the deadline passes: the runtime's hook is skipped
	deadline := time.Now().Add(5 * time.Second)
	for rt.State() != lifecycle.StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("state %v 5 s after the stop deadline, want stopped", rt.State())
		}
		time.Sleep(time.Millisecond)
	}
	if rt.Context().Err() == nil {
		t.Fatal("token not cancelled")
	}
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGTERM
	if c := forced.Load(); c != 0 {
		t.Fatalf("forceExit(%d) after the runtime stopped", c)
	}
}
