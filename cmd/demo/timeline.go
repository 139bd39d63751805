package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// Timeline prints the events of the bus as they arrive, one line each:
// time since start, event type, key fields. It also keeps their names, so
// that the tour can wait for the events of one step before the next.
//
// Each event type has its own ring on the bus, read here by its own
// goroutine: the bus keeps the order of the events of one type, not across
// types, so events emitted within microseconds of each other arrive in any
// order. The timeline therefore holds what arrives until the bus has been
// quiet for a moment (settle, at most maxHold), and prints that batch in
// the order of the runtime's phases (see phases), keeping the order of
// arrival within a type.
type Timeline struct {
	start   time.Time
	kick    chan struct{}  // capacity 1: a batch is pending
	quit    chan struct{}  // closed when every reader has returned
	done    chan struct{}  // closed when the printer has printed the last batch
	readers sync.WaitGroup // one per watched type; each returns when the bus closes

	mu      sync.Mutex    // guards the fields below; held while writing lines
	out     io.Writer     // where lines go
	pending []line        // received, not yet printed
	names   []string      // type names of the events printed, in order
	last    time.Duration // the time shown on the last line
	changed chan struct{} // closed, and replaced, when a batch is printed
}

// line is one received event, formatted.
type line struct {
	at     time.Duration // since start, when it was received
	name   string
	detail string
}

// How long the timeline holds events to put a burst in order.
const (
	settle  = 3 * time.Millisecond
	maxHold = 25 * time.Millisecond
)

// newTimeline returns a timeline that writes to out, timed from now. It
// starts printing when [Timeline.watchAll] has subscribed it to a bus.
func newTimeline(out io.Writer) *Timeline {
	return &Timeline{
		start:   time.Now(),
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		out:     out,
		changed: make(chan struct{}),
	}
}

// Printf writes a line that is not an event, such as a heading, after
// the events already received.
func (t *Timeline) Printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
	fmt.Fprintf(t.out, format+"\n", args...)
}

// Note prints a line of the tour's own in the events' format, after the
// events already received.
func (t *Timeline) Note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
	t.printLocked(line{at: time.Since(t.start), name: "tour", detail: fmt.Sprintf(format, args...)})
	t.wakeLocked()
}

// Mark returns the position of the next event printed, for
// [Timeline.WaitFor].
func (t *Timeline) Mark() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.names)
}

// WaitFor waits until the events printed from position from on include at
// least want[name] events of each type name, or ctx is done. Its error
// lists what is still missing.
func (t *Timeline) WaitFor(ctx context.Context, from int, want map[string]int) error {
	for {
		t.mu.Lock()
		missing := missingEvents(t.names[from:], want)
		changed := t.changed
		t.mu.Unlock()
		if missing == "" {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("still waiting for %s: %w", missing, ctx.Err())
		}
	}
}

// missingEvents describes what of want is not in got, in name order.
func missingEvents(got []string, want map[string]int) string {
	count := make(map[string]int, len(want))
	for _, n := range got {
		count[n]++
	}
	var missing []string
	for name, n := range want {
		if count[name] < n {
			missing = append(missing, fmt.Sprintf("%d %s", n-count[name], name))
		}
	}
	sort.Strings(missing)
	return strings.Join(missing, ", ")
}

// Wait waits, at most timeout, for every watched type to be read to the
// end (the bus closes last when the app stops) and printed, and reports
// whether it was.
func (t *Timeline) Wait(timeout time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// record queues one event for the printer.
func (t *Timeline) record(name, detail string) {
	t.mu.Lock()
	t.pending = append(t.pending, line{at: time.Since(t.start), name: name, detail: detail})
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default: // already kicked
	}
}

// print prints batches until the readers have returned, then the last.
func (t *Timeline) print() {
	defer close(t.done)
	for {
		select {
		case <-t.kick:
		case <-t.quit:
			t.flush()
			return
		}
		// Hold the batch until the bus is quiet for settle, or maxHold.
		hold := time.NewTimer(maxHold)
		for quiet := false; !quiet; {
			calm := time.NewTimer(settle)
			select {
			case <-t.kick:
			case <-calm.C:
				quiet = true
			case <-hold.C:
				quiet = true
			}
			calm.Stop()
		}
		hold.Stop()
		t.flush()
	}
}

// flush prints the pending events.
func (t *Timeline) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
}

// flushLocked prints the pending events in phase order and wakes WaitFor.
func (t *Timeline) flushLocked() {
	if len(t.pending) == 0 {
		return
	}
	sort.SliceStable(t.pending, func(i, j int) bool {
		return phaseOrder(t.pending[i].name) < phaseOrder(t.pending[j].name)
	})
	for _, l := range t.pending {
		t.printLocked(l)
	}
	t.pending = t.pending[:0]
	t.wakeLocked()
}

// printLocked prints one line. Lines put in order keep their times in
// order: a line shows at least the time of the line before.
func (t *Timeline) printLocked(l line) {
	t.last = max(t.last, l.at)
	fmt.Fprintf(t.out, "%+8.3fs  %-31s %s\n", t.last.Seconds(), l.name, l.detail)
	t.names = append(t.names, l.name)
}

// wakeLocked wakes the WaitFor calls.
func (t *Timeline) wakeLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// phases lists event types in the order their phases follow each other,
// to put a burst of events in order; other types go in the middle.
var phases = []string{
	"lifecycle.SignalReceivedEvent", "lifecycle.ShutdownForcedEvent",
	"ConfigLoaded", "ServerListening", "lifecycle.ProviderBootedEvent", "lifecycle.BootedEvent",
	"lifecycle.TaskStartedEvent", "lifecycle.TaskFailedEvent", "lifecycle.TaskRestartingEvent", "WarehouseConnected",
	"lifecycle.ReadyEvent",
	"lifecycle.ReloadStartedEvent", "ConfigReloaded", "lifecycle.ReloadCompletedEvent",
	"OrderPlaced", "OrderRecorded", "RequestServed", "WorkStarted", "tour",
	"fxbus.ShutdownInitiatedEvent", "LedgerClosed", "lifecycle.GateDrainedEvent", "lifecycle.GateForcedEvent",
	"lifecycle.TaskStoppedEvent", "lifecycle.DrainCompletedEvent", "ServerStopped", "lifecycle.ProviderStoppedEvent",
	"lifecycle.StoppedEvent",
}

// phaseOrder returns the rank of an event type name in phases.
func phaseOrder(name string) int {
	for i, p := range phases {
		if p == name {
			return i
		}
	}
	return len(phases) / 2
}

// watch subscribes to events of type E now, and prints them with format
// from a goroutine that ends when the bus closes.
func watch[E any](t *Timeline, bus *fxbus.Bus, format func(E) string) {
	name := eventName[E]()
	watchNamed(t, bus, func(ev E) (string, string) { return name, format(ev) })
}

// watchNamed is watch for events whose printed name depends on the value
// (the types behind an interface).
func watchNamed[E any](t *Timeline, bus *fxbus.Bus, format func(E) (name, detail string)) {
	name := eventName[E]()
	sub := fxbus.Subscribe[E](bus)
	t.readers.Add(1)
	go func() {
		defer t.readers.Done()
		defer sub.Close()
		for {
			ev, err := sub.Recv(context.Background())
			var lag *fxbus.LaggedError
			switch {
			case errors.Is(err, fxbus.ErrClosed):
				return
			case errors.As(err, &lag):
				t.record(name, fmt.Sprintf("(the timeline missed %d events)", lag.Missed))
			case err != nil:
				t.record(name, "error: "+err.Error())
				return
			default:
				t.record(format(ev))
			}
		}
	}()
}

// eventName is the name of E as the timeline prints it: the demo's own
// types bare, the others with their package.
func eventName[E any]() string {
	return strings.TrimPrefix(reflect.TypeFor[E]().String(), "main.")
}

// watchAll subscribes the timeline to every event type it prints and
// starts printing. It runs from an fx.Invoke, before the app starts, so
// that the boot is seen. Its goroutines end when the bus closes, which
// fxbus.Module does when the app stops, or when it fails to start; they
// would outlive an app that failed to build after this Invoke.
func (t *Timeline) watchAll(bus *fxbus.Bus) {
	t.watchEvents(bus)
	go t.print()
	go func() {
		t.readers.Wait()
		close(t.quit)
	}()
}

// watchEvents subscribes the timeline to each event type, with its format.
func (t *Timeline) watchEvents(bus *fxbus.Bus) {
	// The demo's events.
	watch(t, bus, func(e ConfigLoaded) string { return e.File + ": " + e.Config.String() })
	watch(t, bus, func(e ConfigReloaded) string { return e.File + ": " + configDiff(e.Old, e.New) })
	watch(t, bus, func(e ServerListening) string { return e.URL })
	watch(t, bus, func(e ServerStopped) string { return errOr(e.Err, "the HTTP server has shut down") })
	watch(t, bus, func(e RequestServed) string {
		return fmt.Sprintf("%s %s -> %d (took=%v)", e.Method, e.Target, e.Status, round(e.Took))
	})
	watch(t, bus, func(e WorkStarted) string {
		return fmt.Sprintf("%v of work admitted by the gate; %d in flight", e.For, e.InFlight)
	})
	watch(t, bus, func(e OrderPlaced) string { return fmt.Sprintf("#%d at %s: %s", e.ID, e.Shop, dollars(e.Amount)) })
	watch(t, bus, func(e OrderRecorded) string {
		return fmt.Sprintf("#%d booked by the ledger: %s, %s", e.ID, plural(e.Orders, "order"), dollars(e.Revenue))
	})
	watch(t, bus, func(e LedgerClosed) string {
		return fmt.Sprintf("ledger closed on %q: %s, %s", e.Reason, plural(e.Orders, "order"), dollars(e.Revenue))
	})
	watch(t, bus, func(e WarehouseConnected) string { return fmt.Sprintf("connected on attempt %d", e.Attempt) })

	watch(t, bus, func(e fxbus.ShutdownInitiatedEvent) string {
		return fmt.Sprintf("reason %q, exit code %d%s", e.Reason, e.ExitCode, errSuffix(e.Cause))
	})

	// The runtime's events, all through one subscription to the closed set
	// lifecycle.Event: they arrive in the order the runtime emitted them.
	watchNamed(t, bus, func(ev lifecycle.Event) (string, string) {
		return strings.TrimPrefix(reflect.TypeOf(ev).String(), "main."), describeLifecycle(ev)
	})
}

// describeLifecycle gives the key fields of one of the runtime's events.
func describeLifecycle(ev lifecycle.Event) string {
	switch e := ev.(type) {
	case lifecycle.ProviderBootedEvent:
		return fmt.Sprintf("%s (%v)", e.Name, e.Priority)
	case lifecycle.BootedEvent:
		return fmt.Sprintf("providers %v", e.Providers)
	case lifecycle.ReadyEvent:
		return "running: /readyz answers 200"
	case lifecycle.TaskStartedEvent:
		return fmt.Sprintf("%s (attempt %d)", e.Name, e.Attempt)
	case lifecycle.TaskFailedEvent:
		return fmt.Sprintf("%s attempt %d, policy %v: %v", e.Name, e.Attempt, e.Policy, e.Err)
	case lifecycle.TaskRestartingEvent:
		return fmt.Sprintf("%s attempt %d in %v (%s in the budget's window)",
			e.Name, e.Attempt, e.Delay.Round(time.Millisecond), plural(e.Failures, "failure"))
	case lifecycle.TaskStoppedEvent:
		return e.Name + errSuffix(e.Err)
	case lifecycle.SignalReceivedEvent:
		return e.Signal.String()
	case lifecycle.ReloadStartedEvent:
		return "trigger: " + e.Trigger
	case lifecycle.ReloadCompletedEvent:
		if e.Applied && len(e.Errors) == 0 {
			return fmt.Sprintf("applied (took=%v)", round(e.Duration))
		}
		var errs []string
		for _, pe := range e.Errors {
			errs = append(errs, fmt.Sprintf("%q failed to %s: %v", pe.Provider, pe.Phase, pe.Err))
		}
		verdict := "applied with errors"
		if !e.Applied {
			verdict = "refused, nothing changed"
		}
		return verdict + ": " + strings.Join(errs, "; ")
	case lifecycle.GateDrainedEvent:
		return fmt.Sprintf("in-flight work finished (waited=%v)", round(e.Waited))
	case lifecycle.GateForcedEvent:
		return fmt.Sprintf("gave up with %d in flight (waited=%v)", e.Left, round(e.Waited))
	case lifecycle.DrainCompletedEvent:
		if len(e.Stragglers) == 0 {
			return fmt.Sprintf("every task returned (took=%v)", round(e.Duration))
		}
		return fmt.Sprintf("tasks still running: %v (took=%v)", e.Stragglers, round(e.Duration))
	case lifecycle.ShutdownForcedEvent:
		return fmt.Sprintf("second %v: exit code %d", e.Signal, e.ExitCode)
	case lifecycle.ProviderStoppedEvent:
		return e.Name + errSuffix(e.Err)
	case lifecycle.StoppedEvent:
		return fmt.Sprintf("took=%v%s", round(e.Duration), errSuffix(e.Err))
	}
	return fmt.Sprintf("%+v", ev)
}

// configDiff names the fields that a reload changed.
func configDiff(was, now Config) string {
	var d []string
	add := func(field string, o, n any) {
		if o != n {
			d = append(d, fmt.Sprintf("%s %v -> %v", field, o, n))
		}
	}
	add("shop", was.Shop, now.Shop)
	add("order_interval", was.OrderInterval, now.OrderInterval)
	add("orders_per_batch", was.OrdersPerBatch, now.OrdersPerBatch)
	add("max_work", was.MaxWork, now.MaxWork)
	if len(d) == 0 {
		return "unchanged"
	}
	return strings.Join(d, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func dollars(cents int) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

// round keeps measured durations short.
func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + oneLine(err)
}

func errOr(err error, ok string) string {
	if err != nil {
		return "error: " + oneLine(err)
	}
	return ok
}

// timelineModule subscribes the timeline to the bus when the app is built.
func timelineModule(t *Timeline) fx.Option {
	return fx.Module("timeline", fx.Invoke(t.watchAll))
}
