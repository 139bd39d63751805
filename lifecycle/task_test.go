package lifecycle_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
)

func TestGoBadInput(t *testing.T) {
	tests := []struct {
		desc string
		name string
		fn   lifecycle.TaskFunc
		opts []lifecycle.TaskOption
		want []string
	}{
		{desc: "nil function", name: "indexer", want: []string{`task "indexer"`, "nil Run"}},
		{desc: "empty name", fn: blockUntilDone, want: []string{"empty name"}},
		{desc: "negative backoff", name: "poller", fn: blockUntilDone,
			opts: []lifecycle.TaskOption{lifecycle.WithRestart(lifecycle.RestartPolicy{Initial: -time.Second})},
			want: []string{`task "poller"`, "Restart.Initial", "-1s"}},
		{desc: "zero multiplier is the default, below 1 is not", name: "poller", fn: blockUntilDone,
			opts: []lifecycle.TaskOption{lifecycle.WithRestart(lifecycle.RestartPolicy{Multiplier: 0.5})},
			want: []string{"Multiplier", "0.5"}},
		{desc: "jitter above 1", name: "poller", fn: blockUntilDone,
			opts: []lifecycle.TaskOption{lifecycle.WithRestart(lifecycle.RestartPolicy{Jitter: 1.5})},
			want: []string{"Jitter", "1.5"}},
		{desc: "negative window", name: "poller", fn: blockUntilDone,
			opts: []lifecycle.TaskOption{lifecycle.WithRestart(lifecycle.RestartPolicy{Window: -1})},
			want: []string{"Window", "-1ns"}},
		{desc: "unknown policy", name: "poller", fn: blockUntilDone,
			opts: []lifecycle.TaskOption{lifecycle.WithPolicy(lifecycle.Policy(9))},
			want: []string{"unknown policy 9"}},
		{desc: "negative exit code", name: "poller", fn: blockUntilDone,
			opts: []lifecycle.TaskOption{lifecycle.WithExitCode(-2)},
			want: []string{"ExitCode", "-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rt := newRuntime(t, nil)
			err := rt.Go(tt.name, tt.fn, tt.opts...)
			if err == nil {
				t.Fatal("Go succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("duplicate name", func(t *testing.T) {
		rt := newRuntime(t, nil)
		if err := rt.Go("indexer", blockUntilDone); err != nil {
			t.Fatal(err)
		}
		err := rt.Go("indexer", blockUntilDone)
		if !errors.Is(err, lifecycle.ErrDuplicateName) || !strings.Contains(err.Error(), "indexer") {
			t.Fatalf("Go = %v, want ErrDuplicateName naming indexer", err)
		}
		_, err = lifecycle.New(nil, lifecycle.WithTasks(
			lifecycle.Task{Name: "a", Run: blockUntilDone}, lifecycle.Task{Name: "a", Run: blockUntilDone}))
		if !errors.Is(err, lifecycle.ErrDuplicateName) {
			t.Fatalf("New = %v, want ErrDuplicateName", err)
		}
	})

	t.Run("after shutdown", func(t *testing.T) {
		rt := newRuntime(t, nil)
		startRuntime(t, rt)
		rt.InitiateShutdown("test", nil, 0)
		if err := rt.Go("late", blockUntilDone); !errors.Is(err, lifecycle.ErrShutdown) {
			t.Fatalf("Go = %v, want ErrShutdown", err)
		}
	})

	t.Run("invalid config", func(t *testing.T) {
		tests := []struct {
			desc string
			give lifecycle.Config
			want string
		}{
			{"gate timeout", lifecycle.Config{GateTimeout: -1}, "Config.GateTimeout"},
			{"task timeout", lifecycle.Config{TaskTimeout: -time.Second}, "Config.TaskTimeout must not be negative, got -1s"},
			{"rollback timeout", lifecycle.Config{RollbackTimeout: -1}, "Config.RollbackTimeout"},
			{"reload timeout", lifecycle.Config{ReloadTimeout: -1}, "Config.ReloadTimeout"},
			{"force exit code", lifecycle.Config{ForceExitCode: -3}, "Config.ForceExitCode must not be negative, got -3"},
			{"restart backoff", lifecycle.Config{Restart: lifecycle.RestartPolicy{Max: -time.Minute}}, "Config.Restart.Max must not be negative, got -1m0s"},
		}
		for _, tt := range tests {
			t.Run(tt.desc, func(t *testing.T) {
				_, err := lifecycle.New(nil, lifecycle.WithConfig(tt.give))
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("New = %v, want it to contain %q", err, tt.want)
				}
			})
		}
	})

	t.Run("invalid options", func(t *testing.T) {
		tests := []struct {
			desc string
			give lifecycle.Option
			want string
		}{
			{"nil clock", lifecycle.WithClock(nil), "WithClock: nil Clock"},
			{"nil signal channel", lifecycle.WithSignals(nil), "WithSignals: nil channel"},
			{"nil force exit", lifecycle.WithForceExit(nil), "WithForceExit: nil function"},
			{"nil option", nil, "nil Option"},
		}
		for _, tt := range tests {
			t.Run(tt.desc, func(t *testing.T) {
				_, err := lifecycle.New(nil, tt.give)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("New = %v, want it to contain %q", err, tt.want)
				}
			})
		}
	})
}

func TestTaskPolicies(t *testing.T) {
	t.Run("critical failure initiates shutdown with its cause and exit code", func(t *testing.T) {
		b := newBus(t)
		failed := subscribe[lifecycle.TaskFailedEvent](t, b)
		shutdown := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		rt := newRuntime(t, b)
		boom := errors.New("lost leadership")
		if err := rt.Go("leader", func(context.Context) error { return boom }, lifecycle.WithExitCode(6)); err != nil {
			t.Fatal(err)
		}
		startRuntime(t, rt)
		if ev := next(t, failed); ev.Name != "leader" || ev.Policy != lifecycle.Critical || ev.Err != boom {
			t.Fatalf("TaskFailed = %+v", ev)
		}
		ev := next(t, shutdown)
		var te *lifecycle.TaskError
		if !errors.As(ev.Cause, &te) || te.Task != "leader" || !errors.Is(ev.Cause, boom) || ev.ExitCode != 6 {
			t.Fatalf("ShutdownInitiatedEvent = %+v", ev)
		}
		if !strings.Contains(ev.Reason, `"leader"`) || rt.ExitCode() != 6 {
			t.Fatalf("reason %q, exit code %d", ev.Reason, rt.ExitCode())
		}
	})

	t.Run("critical failure uses the configured exit code", func(t *testing.T) {
		rt := newRuntime(t, nil, lifecycle.WithConfig(lifecycle.Config{TaskExitCode: 12}))
		startRuntime(t, rt)
		if err := rt.Go("leader", func(context.Context) error { return errors.New("x") }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, rt.Done(), "the shutdown")
		if rt.ExitCode() != 12 {
			t.Fatalf("exit code = %d, want 12", rt.ExitCode())
		}
	})

	t.Run("ignore logs and lets the task end", func(t *testing.T) {
		b := newBus(t)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		boom := errors.New("optional feature down")
		if err := rt.Go("metrics", func(context.Context) error { return boom }, lifecycle.WithPolicy(lifecycle.Ignore)); err != nil {
			t.Fatal(err)
		}
		if ev := next(t, stopped); ev.Name != "metrics" || ev.Err != boom {
			t.Fatalf("TaskStopped = %+v", ev)
		}
		if rt.IsShuttingDown() {
			t.Fatal("an ignored failure shut the runtime down")
		}
		// The name is free again once the task has ended.
		if err := rt.Go("metrics", blockUntilDone); err != nil {
			t.Fatalf("Go with a reused name: %v", err)
		}
	})

	t.Run("restart backs off exponentially with jitter until success", func(t *testing.T) {
		b := newBus(t)
		restarting := subscribe[lifecycle.TaskRestartingEvent](t, b)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		clock := &fakeClock{now: time.Unix(0, 0)}
		rt := newRuntime(t, b, lifecycle.WithClock(clock))
		runs := 0
		err := rt.Go("sync", func(context.Context) error {
			runs++
			if runs <= 4 {
				return errors.New("upstream 503")
			}
			return nil
		}, lifecycle.WithRestart(lifecycle.RestartPolicy{
			Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: 0.1, Budget: 10, Window: time.Hour,
		}))
		if err != nil {
			t.Fatal(err)
		}
		startRuntime(t, rt)
		if ev := next(t, stopped); ev.Err != nil {
			t.Fatalf("TaskStopped = %+v", ev)
		}
		bases := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second}
		sleeps := clock.Sleeps()
		if len(sleeps) != len(bases) {
			t.Fatalf("slept %v, want %d sleeps", sleeps, len(bases))
		}
		for i, base := range bases {
			lo, hi := time.Duration(float64(base)*0.9), time.Duration(float64(base)*1.1)
			if sleeps[i] < lo || sleeps[i] > hi {
				t.Errorf("sleep %d = %v, want within [%v, %v]", i, sleeps[i], lo, hi)
			}
			ev := next(t, restarting)
			if ev.Attempt != i+2 || ev.Delay != sleeps[i] || ev.Failures != i+1 {
				t.Errorf("TaskRestarting %d = %+v", i, ev)
			}
		}
		if rt.IsShuttingDown() {
			t.Fatal("restarts within budget shut the runtime down")
		}
	})

	t.Run("NoJitter makes every delay exact", func(t *testing.T) {
		b := newBus(t)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		clock := &fakeClock{now: time.Unix(0, 0)}
		rt := newRuntime(t, b, lifecycle.WithClock(clock))
		runs := 0
		err := rt.Go("exact", func(context.Context) error {
			if runs++; runs <= 3 {
				return errors.New("not yet")
			}
			return nil
		}, lifecycle.WithRestart(lifecycle.RestartPolicy{
			Initial: 20 * time.Millisecond, Multiplier: 2, Jitter: lifecycle.NoJitter,
		}))
		if err != nil {
			t.Fatal(err)
		}
		startRuntime(t, rt)
		next(t, stopped)
		want := []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
		got := clock.Sleeps()
		if len(got) != len(want) {
			t.Fatalf("slept %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("slept %v, want %v", got, want)
			}
		}
	})

	t.Run("panicking in a loop exhausts the budget, then escalates", func(t *testing.T) {
		b := newBus(t)
		shutdown := subscribe[fxbus.ShutdownInitiatedEvent](t, b)
		failed := subscribe[lifecycle.TaskFailedEvent](t, b)
		clock := &fakeClock{now: time.Unix(0, 0)}
		rt := newRuntime(t, b, lifecycle.WithClock(clock))
		err := rt.Go("crashy", func(context.Context) error { panic("nil map write") },
			lifecycle.WithRestart(lifecycle.RestartPolicy{Initial: time.Millisecond, Budget: 3, Window: time.Minute}))
		if err != nil {
			t.Fatal(err)
		}
		startRuntime(t, rt)
		ev := next(t, shutdown)
		var be *lifecycle.BudgetError
		if !errors.As(ev.Cause, &be) || be.Task != "crashy" || be.Failures != 4 || be.Window != time.Minute {
			t.Fatalf("cause = %v, want a *BudgetError after 4 failures", ev.Cause)
		}
		var pe *lifecycle.PanicError
		if !errors.As(ev.Cause, &pe) || pe.Value != "nil map write" || !strings.Contains(string(pe.Stack), "task_test.go") {
			t.Fatalf("cause = %v, want the panic with its stack", ev.Cause)
		}
		if ev.ExitCode != lifecycle.DefaultTaskExitCode {
			t.Fatalf("exit code = %d", ev.ExitCode)
		}
		for i := range 4 {
			if f := next(t, failed); f.Attempt != i+1 {
				t.Fatalf("TaskFailed %d = %+v", i, f)
			}
		}
		if n := len(clock.Sleeps()); n != 3 {
			t.Fatalf("%d backoffs, want 3", n)
		}
	})

	t.Run("failures outside the window do not count", func(t *testing.T) {
		b := newBus(t)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		clock := &fakeClock{now: time.Unix(0, 0)}
		rt := newRuntime(t, b, lifecycle.WithClock(clock))
		runs := 0 // only touched by the task's goroutine
		err := rt.Go("flaky", func(context.Context) error {
			runs++
			if runs <= 6 {
				return errors.New("flake")
			}
			return nil
		}, lifecycle.WithRestart(lifecycle.RestartPolicy{Initial: time.Minute, Multiplier: 1, Budget: 1, Window: 30 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		startRuntime(t, rt)
		if ev := next(t, stopped); ev.Err != nil {
			t.Fatalf("TaskStopped = %+v", ev)
		}
		if rt.IsShuttingDown() {
			t.Fatalf("escalated although failures were a minute apart: %v", rt.Cause())
		}
		if n := len(clock.Sleeps()); n != 6 {
			t.Fatalf("%d restarts, want 6", n)
		}
	})
}

// A restart delay never becomes negative (an immediate restart), even when
// Initial times Multiplier to the power of the failure count overflows a
// time.Duration under an uncapped Max.
func TestRestartBackoffNeverGoesNegative(t *testing.T) {
	b, _ := fxbus.New(fxbus.WithCapacity(256))
	defer b.Close()
	restarting := fxbus.Subscribe[lifecycle.TaskRestartingEvent](b)
	defer restarting.Close()
	var fails atomic.Int32
	rt, err := lifecycle.New(b, lifecycle.WithoutSignals(), lifecycle.WithClock(&fakeClock{}),
		lifecycle.WithTasks(lifecycle.Task{Name: "flaky", Policy: lifecycle.Restart,
			Restart: lifecycle.RestartPolicy{Initial: time.Hour, Max: math.MaxInt64, Multiplier: 10,
				Jitter: lifecycle.NoJitter, Budget: 10, Window: time.Duration(math.MaxInt64)},
			Run: func(ctx context.Context) error {
				if fails.Add(1) > 8 {
					<-ctx.Done()
					return ctx.Err()
				}
				return errors.New("boom")
			}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Stop(context.Background())
	for range 8 {
		ev, err := restarting.Recv(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Delay < 0 {
			t.Fatalf("TaskRestarting %+v: negative backoff", ev)
		}
	}
}

func TestTaskDrain(t *testing.T) {
	t.Run("tasks that return on cancellation drain", func(t *testing.T) {
		b := newBus(t)
		drained := subscribe[lifecycle.DrainCompletedEvent](t, b)
		stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
		rt := newRuntime(t, b)
		startRuntime(t, rt)
		if err := rt.Go("consumer", blockUntilDone); err != nil {
			t.Fatal(err)
		}
		if err := stopRuntime(t, rt); err != nil {
			t.Fatalf("Stop = %v", err)
		}
		if ev := next(t, drained); len(ev.Stragglers) != 0 {
			t.Fatalf("DrainCompleted = %+v", ev)
		}
		if ev := next(t, stopped); ev.Name != "consumer" || ev.Err != nil {
			t.Fatalf("TaskStopped = %+v, want no error for a cancelled task", ev)
		}
	})

	t.Run("a task that ignores cancellation is reported by name", func(t *testing.T) {
		b := newBus(t)
		drained := subscribe[lifecycle.DrainCompletedEvent](t, b)
		rt := newRuntime(t, b, lifecycle.WithConfig(lifecycle.Config{TaskTimeout: 50 * time.Millisecond}))
		startRuntime(t, rt)
		release := make(chan struct{})
		defer close(release)
		started := make(chan struct{})
		if err := rt.Go("stubborn", func(context.Context) error { close(started); <-release; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := rt.Go("polite", blockUntilDone); err != nil {
			t.Fatal(err)
		}
		waitFor(t, started, "the stubborn task")
		err := stopRuntime(t, rt)
		var de *lifecycle.DrainError
		if !errors.As(err, &de) || len(de.Stragglers) != 1 || de.Stragglers[0].Name != "stubborn" {
			t.Fatalf("Stop = %v, want a *DrainError naming stubborn", err)
		}
		if w := de.Stragglers[0].Waited; w < 50*time.Millisecond || w > wait {
			t.Fatalf("waited %v, want about the 50ms budget", w)
		}
		if !strings.Contains(err.Error(), `"stubborn" (waited`) {
			t.Fatalf("error %q does not say how long", err)
		}
		if ev := next(t, drained); len(ev.Stragglers) != 1 {
			t.Fatalf("DrainCompleted = %+v", ev)
		}
		if rt.State() != lifecycle.StateStopped {
			t.Fatalf("stop did not finish: %v", rt.State())
		}
	})

	t.Run("the task budget defaults to half the stop deadline", func(t *testing.T) {
		rt := newRuntime(t, nil)
		startRuntime(t, rt)
		release := make(chan struct{})
		defer close(release)
		if err := rt.Go("stubborn", func(context.Context) error { <-release; return nil }); err != nil {
			t.Fatal(err)
		}
		// A 1s stop budget: the task budget is about 500ms, and the checks
		// leave 300ms for a loaded machine to wake the runtime up (with
		// 200ms and a 150ms bound, a run under load waited 150.2ms).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := rt.Stop(ctx)
		var de *lifecycle.DrainError
		if !errors.As(err, &de) {
			t.Fatalf("Stop = %v", err)
		}
		if w := de.Stragglers[0].Waited; w < 250*time.Millisecond || w > 800*time.Millisecond {
			t.Fatalf("waited %v of a 1s stop budget, want about half", w)
		}
		if ctx.Err() != nil {
			t.Fatal("Stop used up the whole stop budget")
		}
	})
}

// A straggler is reported as waited at least Config.TaskTimeout, even when
// the runtime is preempted between fixing the budget's deadline and
// reading the clock. slowDeadline stands for the preemption:
// context.WithTimeout reads the parent's deadline after computing its own.
func TestDrainReportsAStragglerWaitedAtLeastItsBudget(t *testing.T) {
	const budget = 40 * time.Millisecond
	release, _ := releaser(t)
	rt := newRuntime(t, nil, lifecycle.WithConfig(lifecycle.Config{TaskTimeout: budget, GateTimeout: time.Second}))
	startRuntime(t, rt)
	if err := rt.Go("stubborn", func(context.Context) error { <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	var de *lifecycle.DrainError
	if err := rt.Stop(slowDeadline{Context: context.Background(), delay: budget / 2}); !errors.As(err, &de) {
		t.Fatalf("Stop = %v", err)
	}
	if w := de.Stragglers[0].Waited; w < budget {
		t.Fatalf("straggler waited %v, below its %v budget", w, budget)
	}
}

// slowDeadline is a context whose Deadline method takes delay.
type slowDeadline struct {
	context.Context
	delay time.Duration
}

func (c slowDeadline) Deadline() (time.Time, bool) {
	time.Sleep(c.delay) // stands for a preemption, not a wait for an outcome
	return c.Context.Deadline()
}

// TaskStoppedEvent.Err and Priority.String do what their docs say.
func TestTaskStoppedAndPriorityMatchTheirDocs(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		cause error
	}{
		{"TaskStopped.Err is nil for a task that returns context.Cause after shutdown", nil},
		{"TaskStopped.Err is nil for a task that returns context.Cause after a shutdown with a cause", errors.New("disk full")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			b := newBus(t)
			stopped := subscribe[lifecycle.TaskStoppedEvent](t, b)
			rt := newRuntime(t, b)
			startRuntime(t, rt)
			running := make(chan struct{})
			if err := rt.Go("polite", func(ctx context.Context) error {
				close(running)
				<-ctx.Done()
				return context.Cause(ctx) // the *ShutdownError the TaskFunc docs point to
			}); err != nil {
				t.Fatalf("Go: %v", err)
			}
			waitFor(t, running, "the task to run")
			rt.InitiateShutdown("maintenance", tc.cause, 0)
			if ev := next(t, stopped); ev.Name != "polite" || ev.Err != nil {
				t.Fatalf("TaskStopped = %+v, want polite with a nil Err", ev)
			}
		})
	}

	t.Run("Priority.String of the named priorities", func(t *testing.T) {
		for p, want := range map[lifecycle.Priority]string{lifecycle.Early: "early", lifecycle.Normal: "normal", lifecycle.Late: "late"} {
			if got := p.String(); got != want {
				t.Errorf("Priority(%d).String() = %q, want %q", int(p), got, want)
			}
		}
	})

	t.Run("Priority.String of other values is the number", func(t *testing.T) {
		for p, want := range map[lifecycle.Priority]string{-50: "-50", 7: "7", -101: "-101"} {
			if got := p.String(); got != want {
				t.Errorf("Priority(%d).String() = %q, want %q", int(p), got, want)
			}
		}
	})
}
