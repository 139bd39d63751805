package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/claviron/fxruntime/lifecycle"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The attributes of the runtime's instruments. Each takes a value from a
// small fixed set, except the task name, whose values are capped at
// MaxTaskNames.
const (
	attrState     = "fxruntime.state"
	attrTaskName  = "fxruntime.task.name"
	attrPolicy    = "fxruntime.task.policy"
	attrOutcome   = "fxruntime.reload.outcome"
	attrDrainStep = "fxruntime.drain.step"
	attrDrainEnd  = "fxruntime.drain.outcome"
)

// MaxTaskNames is the number of distinct task names the task instruments
// record as attribute values. The tasks named after them share the name
// [OtherTasks], so that tasks started with per-job names
// (lifecycle.Runtime.Go) cannot grow the number of series without bound;
// their counts are kept, under that name.
const MaxTaskNames = 100

// OtherTasks is the fxruntime.task.name of the tasks past [MaxTaskNames].
const OtherTasks = "_other"

// The values of fxruntime.reload.outcome.
const (
	reloadSucceeded = "success"
	reloadRefused   = "refused" // validation failed: nothing was reloaded
	reloadFailed    = "failed"  // reloaded, and at least one provider failed
)

// durationBuckets are the histogram boundaries, in seconds: from a
// millisecond to the minute that bounds a slow reload or stop.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// states are the runtime's states, in the order of a run.
var states = []lifecycle.State{
	lifecycle.StateBooting, lifecycle.StateRunning, lifecycle.StateReloading,
	lifecycle.StateShuttingDown, lifecycle.StateStopped,
}

// runtimeInstruments are a runtime's instruments: the observable ones are
// read from the runtime at collection time, the others are recorded from
// its events by one handler of lifecycle.Event.
type runtimeInstruments struct {
	rt *lifecycle.Runtime

	state    metric.Int64ObservableUpDownCounter
	inFlight metric.Int64ObservableUpDownCounter

	taskStarts     metric.Int64Counter
	taskFailures   metric.Int64Counter
	taskRestarts   metric.Int64Counter
	reloadDuration metric.Float64Histogram
	drainDuration  metric.Float64Histogram
	forcedExits    metric.Int64Counter

	// stateSets[i] is the attribute set of states[i], built once.
	stateSets []metric.ObserveOption

	mu    sync.Mutex          // guards tasks
	tasks map[string]struct{} // the task names recorded as such, at most MaxTaskNames
}

func newRuntimeInstruments(m metric.Meter, rt *lifecycle.Runtime) (*runtimeInstruments, error) {
	ri := &runtimeInstruments{rt: rt, tasks: make(map[string]struct{})}
	for _, s := range states {
		ri.stateSets = append(ri.stateSets,
			metric.WithAttributeSet(attribute.NewSet(attribute.String(attrState, stateName(s)))))
	}
	var errs [8]error
	ri.state, errs[0] = m.Int64ObservableUpDownCounter("fxruntime.state",
		// Not "1": Prometheus translation would name a gauge of unit "1"
		// a ratio (fxruntime_state_ratio).
		metric.WithUnit("{state}"),
		metric.WithDescription("1 for the runtime's current state, 0 for the others."))
	ri.inFlight, errs[1] = m.Int64ObservableUpDownCounter("fxruntime.gate.in_flight",
		metric.WithUnit("{permit}"),
		metric.WithDescription("Units of work admitted by the runtime's gate and not yet released."))
	ri.taskStarts, errs[2] = m.Int64Counter("fxruntime.task.starts",
		metric.WithUnit("{start}"),
		metric.WithDescription("Runs of supervised tasks begun, restarts included."))
	ri.taskFailures, errs[3] = m.Int64Counter("fxruntime.task.failures",
		metric.WithUnit("{failure}"),
		metric.WithDescription("Runs of supervised tasks that returned an error or panicked before shutdown."))
	ri.taskRestarts, errs[4] = m.Int64Counter("fxruntime.task.restarts",
		metric.WithUnit("{restart}"),
		metric.WithDescription("Restarts of failed tasks scheduled by the restart policy."))
	ri.reloadDuration, errs[5] = m.Float64Histogram("fxruntime.reload.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of reload runs, by outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	ri.drainDuration, errs[6] = m.Float64Histogram("fxruntime.drain.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time the stop waited for the gate's in-flight work and for the cancelled tasks."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	ri.forcedExits, errs[7] = m.Int64Counter("fxruntime.forced_exits",
		metric.WithUnit("{exit}"),
		metric.WithDescription("Exits forced by a second interrupt or termination signal during shutdown."))
	return ri, errors.Join(errs[:]...)
}

func (ri *runtimeInstruments) instruments() []metric.Observable {
	return []metric.Observable{ri.state, ri.inFlight}
}

// observe reports the runtime's state and the gate's in-flight work.
func (ri *runtimeInstruments) observe(o metric.Observer) {
	current := ri.rt.State()
	for i, s := range states {
		var v int64
		if s == current {
			v = 1
		}
		o.ObserveInt64(ri.state, v, ri.stateSets[i])
	}
	o.ObserveInt64(ri.inFlight, int64(ri.rt.Gate().InFlight()))
}

// record updates the instruments an event concerns; the others change
// nothing.
func (ri *runtimeInstruments) record(ctx context.Context, ev lifecycle.Event) {
	switch ev := ev.(type) {
	case lifecycle.TaskStartedEvent:
		ri.taskStarts.Add(ctx, 1, metric.WithAttributes(
			attribute.String(attrTaskName, ri.taskName(ev.Name))))
	case lifecycle.TaskFailedEvent:
		ri.taskFailures.Add(ctx, 1, metric.WithAttributes(
			attribute.String(attrTaskName, ri.taskName(ev.Name)),
			attribute.String(attrPolicy, ev.Policy.String())))
	case lifecycle.TaskRestartingEvent:
		// Only the Restart policy restarts a task.
		ri.taskRestarts.Add(ctx, 1, metric.WithAttributes(
			attribute.String(attrTaskName, ri.taskName(ev.Name)),
			attribute.String(attrPolicy, lifecycle.Restart.String())))
	case lifecycle.ReloadCompletedEvent:
		ri.reloadDuration.Record(ctx, ev.Duration.Seconds(), metric.WithAttributes(
			attribute.String(attrOutcome, reloadOutcome(ev))))
	case lifecycle.GateDrainedEvent:
		ri.drain(ctx, "gate", true, ev.Waited.Seconds())
	case lifecycle.GateForcedEvent:
		ri.drain(ctx, "gate", false, ev.Waited.Seconds())
	case lifecycle.DrainCompletedEvent:
		ri.drain(ctx, "tasks", len(ev.Stragglers) == 0, ev.Duration.Seconds())
	case lifecycle.ShutdownForcedEvent:
		ri.forcedExits.Add(ctx, 1)
	}
}

// drain records one wait of the stop: step "gate" or "tasks", outcome
// "drained" when nothing was left, "timeout" when the wait gave up.
func (ri *runtimeInstruments) drain(ctx context.Context, step string, drained bool, seconds float64) {
	outcome := "drained"
	if !drained {
		outcome = "timeout"
	}
	ri.drainDuration.Record(ctx, seconds, metric.WithAttributes(
		attribute.String(attrDrainStep, step),
		attribute.String(attrDrainEnd, outcome)))
}

// stateName is the fxruntime.state value of s: its name in snake case,
// "shutting_down", as label values usually are.
func stateName(s lifecycle.State) string { return strings.ReplaceAll(s.String(), " ", "_") }

func reloadOutcome(ev lifecycle.ReloadCompletedEvent) string {
	switch {
	case !ev.Applied:
		return reloadRefused
	case len(ev.Errors) > 0:
		return reloadFailed
	default:
		return reloadSucceeded
	}
}

// taskName returns the attribute value for the task called name: the name
// itself for the first MaxTaskNames names seen, [OtherTasks] past them.
func (ri *runtimeInstruments) taskName(name string) string {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if _, ok := ri.tasks[name]; ok {
		return name
	}
	if len(ri.tasks) >= MaxTaskNames {
		return OtherTasks
	}
	ri.tasks[name] = struct{}{}
	return name
}
