package debugpage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
)

// Defaults of the page's options.
const (
	// DefaultRecent is how many events of each type the page keeps.
	DefaultRecent = 5
	// DefaultRefresh is how often the HTML page reloads itself.
	DefaultRefresh = 2 * time.Second
)

// maxRecent bounds WithRecent: the page holds that many events per type.
const maxRecent = 1000

// maxText is the length to which an event's fields are cut.
const maxText = 300

// Page shows the live state of a bus and of a runtime: see the package
// documentation. It is an http.Handler. Build it with [New], or with
// [Module] under Fx. Every method is safe for concurrent use.
type Page struct {
	bus     *fxbus.Bus
	rt      *lifecycle.Runtime // nil: the page shows the bus only
	recent  int
	refresh time.Duration
	since   time.Time
	now     func() time.Time

	// own is set for a page built by New, which reads its own
	// subscriptions; under Fx, fxbus.Listen handlers feed the page.
	own *feed

	mu     sync.Mutex // guards the fields below, and own's subscriptions
	tasks  map[string]*Task
	logs   map[string]*EventLog
	order  []string // event type names, in the order first seen
	missed uint64   // events the page's subscriptions lost to lag
}

// feed is the subscriptions of a page built by New, and the goroutine that
// keeps them drained.
type feed struct {
	events   *fxbus.Subscription[lifecycle.Event]
	shutdown *fxbus.Subscription[fxbus.ShutdownInitiatedEvent]
	ended    bool          // guarded by Page.mu: the subscriptions are closed
	done     chan struct{} // closed when the goroutine has returned
}

// An Option configures a [Page] built by [New].
type Option interface {
	apply(*Page) error
}

type optionFunc func(*Page) error

func (f optionFunc) apply(p *Page) error { return f(p) }

// WithRecent sets how many events of each type the page keeps and shows,
// from 1 to 1000; the default is [DefaultRecent].
func WithRecent(n int) Option {
	return optionFunc(func(p *Page) error {
		if n < 1 || n > maxRecent {
			return fmt.Errorf("debugpage: WithRecent(%d): want 1 to %d events per type", n, maxRecent)
		}
		p.recent = n
		return nil
	})
}

// WithRefresh sets how often the HTML page reloads itself; 0 turns the
// reload off. The default is [DefaultRefresh].
func WithRefresh(d time.Duration) Option {
	return optionFunc(func(p *Page) error {
		if d < 0 {
			return fmt.Errorf("debugpage: WithRefresh(%v): want 0 (off) or a positive interval", d)
		}
		p.refresh = d
		return nil
	})
}

// New returns a page for bus and rt (nil for a page of the bus alone). It
// subscribes to the runtime's events at once, so it sees every event
// emitted from now on, and a request shows every event emitted before it.
// Close it when done. It fails on a nil bus or an invalid option.
func New(bus *fxbus.Bus, rt *lifecycle.Runtime, opts ...Option) (*Page, error) {
	p, err := newPage(bus, rt, opts)
	if err != nil {
		return nil, err
	}
	p.own = &feed{
		events:   fxbus.Subscribe[lifecycle.Event](bus),
		shutdown: fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus),
		done:     make(chan struct{}),
	}
	go p.pump()
	return p, nil
}

func newPage(bus *fxbus.Bus, rt *lifecycle.Runtime, opts []Option) (*Page, error) {
	if bus == nil {
		return nil, errors.New("debugpage: nil bus; the page shows a bus's counters and needs one")
	}
	p := &Page{
		bus: bus, rt: rt,
		recent: DefaultRecent, refresh: DefaultRefresh,
		now:   time.Now,
		tasks: map[string]*Task{}, logs: map[string]*EventLog{},
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("debugpage: nil Option")
		}
		if err := o.apply(p); err != nil {
			return nil, err
		}
	}
	p.since = p.now()
	return p, nil
}

// Close ends the subscriptions of a page built by New and waits for its
// goroutine; the page goes on serving what it had seen. Close is
// idempotent. A page built by Module ends with the application.
func (p *Page) Close() {
	if p.own == nil {
		return
	}
	p.own.events.Close()
	p.own.shutdown.Close()
	<-p.own.done
}

// pump keeps the subscriptions of a page built by New drained, so that a
// page that nobody looks at does not lag, until they are closed.
func (p *Page) pump() {
	defer close(p.own.done)
	for {
		p.mu.Lock()
		p.drainLocked()
		if p.own.ended {
			p.mu.Unlock()
			return
		}
		// Armed under mu: the subscriptions have one reader at a time.
		a, b := p.own.events.Ready(), p.own.shutdown.Ready()
		p.mu.Unlock()
		select {
		case <-a:
		case <-b:
		}
	}
}

// drainLocked takes every event waiting for a page built by New. Called
// with mu held.
func (p *Page) drainLocked() {
	if p.own == nil || p.own.ended {
		return
	}
	closedA := drain(p, p.own.events)
	closedB := drain(p, p.own.shutdown)
	if closedA || closedB {
		// The bus closed, or Close was called: both are closed, or about
		// to be. Close both, so that neither keeps the goroutine awake.
		p.own.events.Close()
		p.own.shutdown.Close()
		p.own.ended = true
	}
}

// drain observes the events waiting on s and reports whether s is closed.
func drain[E any](p *Page, s *fxbus.Subscription[E]) bool {
	for {
		ev, err := s.TryRecv()
		var lag *fxbus.LaggedError
		switch {
		case err == nil:
			p.observeLocked(ev)
		case errors.As(err, &lag):
			p.missed += lag.Missed
		case errors.Is(err, fxbus.ErrEmpty):
			return false
		default:
			return true
		}
	}
}

// observeLocked records one event: in its type's log, and in the state of
// its task. Called with mu held.
func (p *Page) observeLocked(ev any) {
	at := p.now()
	name := fmt.Sprintf("%T", ev)
	l := p.logs[name]
	if l == nil {
		l = &EventLog{Type: name}
		p.logs[name] = l
		p.order = append(p.order, name)
	}
	l.Count++
	if len(l.Recent) == p.recent {
		copy(l.Recent, l.Recent[1:])
		l.Recent = l.Recent[:p.recent-1]
	}
	l.Recent = append(l.Recent, EventRecord{At: at, Text: text(ev)})

	switch ev := ev.(type) {
	case lifecycle.TaskStartedEvent:
		t := p.task(ev.Name, at)
		t.Status, t.Attempt, t.NextDelay = "running", ev.Attempt, 0
	case lifecycle.TaskFailedEvent:
		t := p.task(ev.Name, at)
		t.Status, t.Attempt, t.Policy = "failed", ev.Attempt, ev.Policy.String()
		t.LastError, t.LastErrorAt = firstLine(errText(ev.Err)), &at
	case lifecycle.TaskRestartingEvent:
		t := p.task(ev.Name, at)
		t.Status, t.Failures, t.NextDelay = "restarting", ev.Failures, ev.Delay
	case lifecycle.TaskStoppedEvent:
		t := p.task(ev.Name, at)
		t.Status, t.NextDelay = "stopped", 0
		if ev.Err != nil {
			t.LastError, t.LastErrorAt = firstLine(ev.Err.Error()), &at
		}
	}
}

// task returns the state of the task name, made if new, marked changed at.
func (p *Page) task(name string, at time.Time) *Task {
	t := p.tasks[name]
	if t == nil {
		t = &Task{Name: name}
		p.tasks[name] = t
	}
	t.Changed = at
	return t
}

// Snapshot returns what the page shows now. For a page built by New, it
// includes every event emitted before the call.
func (p *Page) Snapshot() Snapshot {
	s := Snapshot{Time: p.now(), Since: p.since, Types: []TypeStats{}, Tasks: []Task{}, Events: []EventLog{}}
	for _, st := range p.bus.Stats() {
		s.Types = append(s.Types, TypeStats{
			Type: st.Type, Name: st.Name, Backlog: st.Backlog, Emitted: st.Emitted, Dropped: st.Dropped, Missed: st.Missed, Subscribers: st.Subscribers,
		})
	}
	if p.rt != nil {
		s.Runtime = runtimeState(p.rt)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drainLocked()
	for _, t := range p.tasks {
		s.Tasks = append(s.Tasks, *t)
	}
	slices.SortFunc(s.Tasks, func(a, b Task) int { return strings.Compare(a.Name, b.Name) })
	for _, name := range p.order {
		l := *p.logs[name]
		l.Recent = slices.Clone(l.Recent)
		s.Events = append(s.Events, l)
	}
	return s
}

// Missed returns the number of the runtime's events the page lost because
// they came faster than it read them, beyond the bus's capacity.
func (p *Page) Missed() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drainLocked()
	return p.missed
}

func runtimeState(rt *lifecycle.Runtime) *Runtime {
	r := &Runtime{
		State:        rt.State().String(),
		Ready:        rt.Ready(),
		ExitCode:     rt.ExitCode(),
		GateInFlight: rt.Gate().InFlight(),
		GateClosed:   rt.Gate().Closed(),
		Plan:         []PlanStep{},
	}
	if c := rt.Cause(); c != nil {
		r.Cause = firstLine(c.Error())
	}
	for _, st := range rt.Plan().Steps {
		ps := PlanStep{Name: st.Name, Priority: st.Priority.String()}
		for _, e := range st.After {
			ps.After = append(ps.After, e.After+": "+e.Reason)
		}
		r.Plan = append(r.Plan, ps)
	}
	return r
}

// text is an event's fields on one line, cut to maxText bytes: an error
// with a stack (a recovered panic) keeps its first line.
func text(ev any) string { return cut(firstLine(fmt.Sprintf("%+v", ev))) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func cut(s string) string {
	if len(s) <= maxText {
		return s
	}
	n := maxText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
