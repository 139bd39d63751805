package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Policy says what the runtime does when a task fails (returns an error
// or panics) before shutdown. A task that returns nil is done, whatever
// its policy; a task that returns after the runtime cancelled it is
// stopped, not failed.
type Policy int

// The task policies. The zero value is Critical.
const (
	// Critical: the failure initiates shutdown, with the error as cause and
	// [Config.TaskExitCode] (or the task's ExitCode) as exit code.
	Critical Policy = iota
	// Restart: run the task again after an exponential backoff with
	// jitter; past its failure budget, escalate as Critical.
	Restart
	// Ignore: log the failure and let the task end.
	Ignore
)

// String returns "critical", "restart" or "ignore".
func (p Policy) String() string {
	switch p {
	case Critical:
		return "critical"
	case Restart:
		return "restart"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

// RestartPolicy sets the backoff and failure budget of a task with the
// [Restart] policy. Zero fields take [Config.Restart]'s, then the
// defaults; negative values are errors.
type RestartPolicy struct {
	// Initial is the delay before the first restart; default 100ms.
	Initial time.Duration
	// Max caps the delay; default 30s.
	Max time.Duration
	// Multiplier grows the delay after each failure within the window;
	// default 2, at least 1.
	Multiplier float64
	// Jitter spreads each delay uniformly over ±Jitter of it, from 0 to 1;
	// default 0.2. Since zero means the default, turn jitter off with
	// [NoJitter].
	Jitter float64
	// Budget is the number of failures tolerated within Window; the next
	// one escalates. Default 5.
	Budget int
	// Window is the span over which failures count; default 1 minute.
	Window time.Duration
}

// NoJitter, as [RestartPolicy.Jitter], turns jitter off: every delay is
// exactly the computed backoff, as tests and demos want.
const NoJitter = -1.0

var defaultRestart = RestartPolicy{
	Initial:    100 * time.Millisecond,
	Max:        30 * time.Second,
	Multiplier: 2,
	Jitter:     0.2,
	Budget:     5,
	Window:     time.Minute,
}

func (p RestartPolicy) validate(where string) error {
	var errs []error
	if p.Initial < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Initial must not be negative, got %v", where, p.Initial))
	}
	if p.Max < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Max must not be negative, got %v", where, p.Max))
	}
	if p.Multiplier != 0 && (p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0)) {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Multiplier must be at least 1, got %v", where, p.Multiplier))
	}
	if p.Jitter != NoJitter && (p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter)) {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Jitter must be between 0 and 1, or NoJitter, got %v", where, p.Jitter))
	}
	if p.Budget < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Budget must not be negative, got %d", where, p.Budget))
	}
	if p.Window < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Window must not be negative, got %v", where, p.Window))
	}
	if p.Initial > 0 && p.Max > 0 && p.Max < p.Initial {
		errs = append(errs, fmt.Errorf("lifecycle: %s.Max (%v) must not be less than Initial (%v)", where, p.Max, p.Initial))
	}
	return errors.Join(errs...)
}

func (p RestartPolicy) withDefaults(d RestartPolicy) RestartPolicy {
	if p.Initial == 0 {
		p.Initial = d.Initial
	}
	if p.Max == 0 {
		p.Max = max(d.Max, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = d.Multiplier
	}
	if p.Jitter == 0 {
		p.Jitter = d.Jitter
	}
	if p.Budget == 0 {
		p.Budget = d.Budget
	}
	if p.Window == 0 {
		p.Window = d.Window
	}
	return p
}

// delay returns the backoff before the restart that follows the n-th
// failure within the window (n >= 1), with jitter.
func (p RestartPolicy) delay(n int) time.Duration {
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	d = min(d, float64(p.Max))
	if p.Jitter > 0 {
		d *= 1 + p.Jitter*(2*rand.Float64()-1)
	}
	// Converting a float beyond the range of int64 gives a negative
	// Duration on amd64: no backoff at all. Saturate instead.
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// TaskFunc is the body of a supervised task. It must return when ctx is
// done; ctx's cause then says why (a [*ShutdownError]).
type TaskFunc func(ctx context.Context) error

// Task is a supervised background task. Register it with [AsTask] under
// Fx, [WithTasks] with [New], or start it at run time with [Runtime.Go].
type Task struct {
	// Name identifies the task in events, logs and errors; unique among
	// the runtime's live tasks, non-empty.
	Name string
	// Run is the task's body; required.
	Run TaskFunc
	// Policy says what a failure does; the zero value is Critical.
	Policy Policy
	// Restart configures the Restart policy.
	Restart RestartPolicy
	// ExitCode overrides [Config.TaskExitCode] when this task's failure
	// initiates shutdown.
	ExitCode int
}

// TaskOption configures a task started with [Runtime.Go]. Task options
// are applied in order: the last one to set a field wins.
type TaskOption interface {
	applyTask(*Task)
}

type taskOptionFunc func(*Task)

func (f taskOptionFunc) applyTask(t *Task) { f(t) }

// WithPolicy sets the task's policy.
func WithPolicy(p Policy) TaskOption { return taskOptionFunc(func(t *Task) { t.Policy = p }) }

// WithRestart sets the [Restart] policy with its backoff and budget.
func WithRestart(rp RestartPolicy) TaskOption {
	return taskOptionFunc(func(t *Task) { t.Policy, t.Restart = Restart, rp })
}

// WithExitCode sets the exit code requested when the task's failure
// initiates shutdown.
func WithExitCode(code int) TaskOption { return taskOptionFunc(func(t *Task) { t.ExitCode = code }) }

func (t Task) validate() error {
	var errs []error
	if t.Name == "" {
		errs = append(errs, errors.New("lifecycle: task has an empty name"))
	}
	if t.Run == nil {
		errs = append(errs, fmt.Errorf("lifecycle: task %q: nil Run function", t.Name))
	}
	if t.Policy < Critical || t.Policy > Ignore {
		errs = append(errs, fmt.Errorf("lifecycle: task %q: unknown policy %d", t.Name, int(t.Policy)))
	}
	if t.ExitCode < 0 {
		errs = append(errs, fmt.Errorf("lifecycle: task %q: ExitCode must not be negative, got %d", t.Name, t.ExitCode))
	}
	if err := t.Restart.validate(fmt.Sprintf("task %q: Restart", t.Name)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// task is a registered task and its goroutine's state.
type task struct {
	Task
	done chan struct{} // closed when the goroutine returns
}

// Go starts a supervised task running fn on the current run's context,
// with the Critical policy unless an option says otherwise. Before the
// first Start, the task is registered like those of [WithTasks]: every run
// starts it. Afterwards it belongs to the current run. Go fails if the
// name is empty or taken by a live task, fn is nil, an option is invalid,
// or shutdown has begun ([ErrShutdown]). Safe from any goroutine.
func (r *Runtime) Go(name string, fn TaskFunc, opts ...TaskOption) error {
	t := Task{Name: name, Run: fn}
	for _, opt := range opts {
		if opt != nil {
			opt.applyTask(&t)
		}
	}
	if err := t.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	idle := r.phase == phaseIdle
	r.mu.Unlock()
	if idle {
		return r.addDefs([]Task{t})
	}
	return r.addTask(r.current(), t)
}

// addDefs registers tasks that every run starts, and adds them to the
// first run.
func (r *Runtime) addDefs(ts []Task) error {
	var errs []error
	for _, t := range ts {
		if err := t.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := r.addTask(r.current(), t); err != nil {
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		r.defs = append(r.defs, t)
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

// addTask adds a validated task to run ru: started at once if the run's
// tasks have started, else by Start.
func (r *Runtime) addTask(ru *run, t Task) error {
	t.Restart = t.Restart.withDefaults(r.cfg.Restart)
	if t.ExitCode == 0 {
		t.ExitCode = r.cfg.TaskExitCode
	}
	tk := &task{Task: t, done: make(chan struct{})}

	r.mu.Lock()
	defer r.mu.Unlock()
	if ru.shutdown != nil || (r.run == ru && r.phase == phaseStopped) {
		return wrap(fmt.Sprintf("task %q", t.Name), ErrShutdown)
	}
	if _, dup := ru.tasks[t.Name]; dup {
		return wrap(fmt.Sprintf("task %q", t.Name), ErrDuplicateName)
	}
	ru.tasks[t.Name] = tk
	if ru.spawned {
		ru.supervised[tk] = struct{}{}
		go r.supervise(ru, tk)
	} else {
		ru.pending = append(ru.pending, tk)
	}
	return nil
}

// startTasks starts the run's tasks.
func (r *Runtime) startTasks(ru *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ru.spawned = true
	for _, tk := range ru.pending {
		ru.supervised[tk] = struct{}{}
		go r.supervise(ru, tk)
	}
	ru.pending = nil
}

// supervise runs one task of run ru until it ends for good. Each attempt
// runs on a goroutine of its own, so that a task calling runtime.Goexit
// fails like one that panics.
func (r *Runtime) supervise(ru *run, tk *task) {
	defer func() {
		r.mu.Lock()
		delete(ru.supervised, tk)
		r.mu.Unlock()
		close(tk.done) // every return goes through taskStopped first
	}()
	log := r.log.With(zap.String("task", tk.Name))
	var failures []time.Time // failure times within the window
	for attempt := 1; ; attempt++ {
		report(r, ru, TaskStartedEvent{Name: tk.Name, Attempt: attempt})
		log.Debug("task started", zap.Int("attempt", attempt))
		err := callGuarded(ru.ctx, tk.Run)
		if err == nil || ru.ctx.Err() != nil {
			r.taskStopped(ru, log, tk, err)
			return
		}
		terr := &TaskError{Task: tk.Name, Attempt: attempt, Err: err}
		report(r, ru, TaskFailedEvent{Name: tk.Name, Attempt: attempt, Policy: tk.Policy, Err: err})
		log.Error("task failed",
			zap.Int("attempt", attempt), zap.Stringer("policy", tk.Policy), zap.Error(err))

		switch tk.Policy {
		case Ignore:
			r.taskStopped(ru, log, tk, err)
			return
		case Critical:
			// The shutdown of the task's own run: never of a later one.
			r.shutdownRun(ru, fmt.Sprintf("task %q failed", tk.Name), terr, tk.ExitCode, true)
			r.taskStopped(ru, log, tk, err)
			return
		}

		now := r.clock.Now()
		failures = append(failures, now)
		for len(failures) > 0 && now.Sub(failures[0]) > tk.Restart.Window {
			failures = failures[1:]
		}
		if len(failures) > tk.Restart.Budget {
			berr := &BudgetError{Task: tk.Name, Failures: len(failures), Window: tk.Restart.Window, Last: terr}
			log.Error("task restart budget exhausted, escalating", zap.Error(berr))
			r.shutdownRun(ru, fmt.Sprintf("task %q exhausted its restart budget", tk.Name), berr, tk.ExitCode, true)
			r.taskStopped(ru, log, tk, err)
			return
		}
		d := tk.Restart.delay(len(failures))
		report(r, ru, TaskRestartingEvent{Name: tk.Name, Attempt: attempt + 1, Delay: d, Failures: len(failures)})
		log.Warn("task restarting",
			zap.Int("attempt", attempt+1), zap.Duration("delay", d), zap.Int("failures", len(failures)))
		if r.clock.Sleep(ru.ctx, d) != nil {
			r.taskStopped(ru, log, tk, err)
			return
		}
	}
}

// taskStopped frees the task's name, then reports that it ended. A task
// that returns after the run's token was cancelled, with nil, the
// cancellation, or the token's cause (a *ShutdownError), stopped as asked:
// its TaskStopped carries no error.
func (r *Runtime) taskStopped(ru *run, log *zap.Logger, tk *task, err error) {
	r.mu.Lock()
	if ru.tasks[tk.Name] == tk {
		delete(ru.tasks, tk.Name) // the name may be used again
	}
	r.mu.Unlock()
	if r.testHookTaskLeft != nil {
		r.testHookTaskLeft(tk.Name)
	}
	if ru.ctx.Err() != nil && err != nil &&
		(errors.Is(err, context.Canceled) || errors.Is(err, ErrShutdown) || err == context.Cause(ru.ctx)) {
		err = nil
	}
	if !report(r, ru, TaskStoppedEvent{Name: tk.Name, Err: err}) {
		log.Warn("task stopped after its run ended: its TaskStoppedEvent is dropped", zap.Error(err))
		return
	}
	log.Info("task stopped", zap.Error(err))
}

// report emits ev, an event of a task of run ru, unless ru has ended, and
// reports whether it did. Once the run has ended its bus may be the next
// run's, whose subscribers must see none of this run's events; the run's
// drain named the task as a straggler (or its stop was skipped, which its
// StoppedEvent reports). See run.reports.
func report[E Event](r *Runtime, ru *run, ev E) bool {
	if !ru.reports.Enter() {
		r.log.Debug("event of an ended run dropped", zap.String("event", fmt.Sprintf("%T", ev)))
		return false
	}
	emit(r, ev)
	ru.reports.Leave()
	return true
}

// drainTasks waits, within the task budget, for run ru's tasks, cancelled
// by its shutdown token, and reports those that did not return.
func (r *Runtime) drainTasks(ctx context.Context, ru *run) error {
	r.mu.Lock()
	live := make([]*task, 0, len(ru.supervised))
	for tk := range ru.supervised {
		live = append(live, tk)
	}
	r.mu.Unlock()

	// Read the clock before the budget's deadline is set, so that a
	// straggler's Waited is never less than the budget it was given.
	begin := time.Now()
	tctx, cancel := budget(ctx, r.cfg.TaskTimeout, 0.5)
	defer cancel()
	var stragglers []Straggler
	for _, tk := range live {
		select {
		case <-tk.done:
		case <-tctx.Done():
		}
	}
	waited := time.Since(begin)
	for _, tk := range live {
		select {
		case <-tk.done:
		default:
			stragglers = append(stragglers, Straggler{Name: tk.Name, Waited: waited})
		}
	}
	sortStragglers(stragglers)
	emit(r, DrainCompletedEvent{Duration: waited, Stragglers: stragglers})
	if len(stragglers) == 0 {
		r.log.Info("tasks drained", zap.Duration("duration", waited), zap.Int("tasks", len(live)))
		return nil
	}
	err := &DrainError{Stragglers: stragglers}
	r.log.Error("tasks did not return", zap.Duration("waited", waited), zap.Error(err))
	return err
}

func sortStragglers(s []Straggler) {
	slices.SortFunc(s, func(a, b Straggler) int { return cmp.Compare(a.Name, b.Name) })
}
