package debugpage_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/debugpage"
	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/fxbustest"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

const wait = 5 * time.Second

// service is a bus and a runtime in a known state, with the page served
// over HTTP on loopback:
//   - providers db and cache, cache after db;
//   - task "sync" (restart policy) fails twice, then runs;
//   - task "optional" (ignore policy) fails once and stops;
//   - one unit of work holds the gate.
type service struct {
	bus    *fxbus.Bus
	rt     *lifecycle.Runtime
	page   *debugpage.Page
	srv    *httptest.Server
	events *fxbustest.Recorder[lifecycle.Event]
	permit *lifecycle.Permit
}

func newService(t *testing.T, opts ...debugpage.Option) *service {
	t.Helper()
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	s := &service{bus: bus, events: fxbustest.Record[lifecycle.Event](t, bus)}
	stopped := fxbustest.Record[lifecycle.TaskStoppedEvent](t, bus) // in either order with sync's attempts
	var syncRuns atomic.Int32
	s.rt, err = lifecycle.New(bus, lifecycle.WithoutSignals(),
		lifecycle.WithProviders(
			lifecycle.NewProvider("cache", lifecycle.Early, lifecycle.Hooks{}),
			lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{})),
		lifecycle.After(lifecycle.ByName("cache"), lifecycle.ByName("db")),
		lifecycle.WithTasks(
			lifecycle.Task{Name: "sync", Policy: lifecycle.Restart,
				Restart: lifecycle.RestartPolicy{Initial: time.Millisecond, Jitter: lifecycle.NoJitter, Budget: 5},
				Run: func(ctx context.Context) error {
					if syncRuns.Add(1) <= 2 {
						return errors.New("upstream 503\nwith a second line")
					}
					<-ctx.Done()
					return nil
				}},
			lifecycle.Task{Name: "optional", Policy: lifecycle.Ignore,
				Run: func(context.Context) error { return errors.New("feature off") }}))
	if err != nil {
		t.Fatal(err)
	}
	s.page, err = debugpage.New(bus, s.rt, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.page.Close)
	mux := http.NewServeMux()
	mux.Handle("/debug/fxruntime", s.page)
	mux.Handle("/debug/fxruntime.json", s.page)
	s.srv = httptest.NewServer(mux) // a real server on 127.0.0.1
	t.Cleanup(s.srv.Close)

	if err := s.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.rt.Stop(context.Background()) })
	fxbustest.WaitFor(t, s.events, wait, func(ev lifecycle.TaskStartedEvent) bool {
		return ev.Name == "sync" && ev.Attempt == 3
	})
	fxbustest.WaitFor(t, stopped, wait, func(ev lifecycle.TaskStoppedEvent) bool { return ev.Name == "optional" })
	if s.permit, err = s.rt.Gate().Enter(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.permit.Release)
	return s
}

// get requests path and returns the status, the content type and the body.
func (s *service) get(t *testing.T, method, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func (s *service) snapshot(t *testing.T) debugpage.Snapshot {
	t.Helper()
	code, ctype, body := s.get(t, http.MethodGet, "/debug/fxruntime.json")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("GET .json: %d %q: %s", code, ctype, body)
	}
	var snap debugpage.Snapshot
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatalf("decoding the JSON: %v\n%s", err, body)
	}
	return snap
}

func findTask(t *testing.T, snap debugpage.Snapshot, name string) debugpage.Task {
	t.Helper()
	for _, tk := range snap.Tasks {
		if tk.Name == name {
			return tk
		}
	}
	t.Fatalf("no task %q in %+v", name, snap.Tasks)
	return debugpage.Task{}
}

func findLog(snap debugpage.Snapshot, typ string) (debugpage.EventLog, bool) {
	for _, l := range snap.Events {
		if l.Type == typ {
			return l, true
		}
	}
	return debugpage.EventLog{}, false
}

func findType(snap debugpage.Snapshot, typ string) (debugpage.TypeStats, bool) {
	for _, st := range snap.Types {
		if st.Name == typ {
			return st, true
		}
	}
	return debugpage.TypeStats{}, false
}

func TestJSONShowsTheLiveStateOverHTTP(t *testing.T) {
	s := newService(t)
	snap := s.snapshot(t)

	rt := snap.Runtime
	if rt == nil || rt.State != "running" || !rt.Ready || rt.GateInFlight != 1 || rt.GateClosed || rt.Cause != "" {
		t.Fatalf("runtime = %+v, want running, ready, 1 in flight, gate open", rt)
	}
	if len(rt.Plan) != 2 || rt.Plan[0].Name != "db" || rt.Plan[1].Name != "cache" || rt.Plan[1].Priority != "early" ||
		len(rt.Plan[1].After) != 1 || !strings.HasPrefix(rt.Plan[1].After[0], "db: ") {
		t.Fatalf("plan = %+v, want db, then cache (early) after db", rt.Plan)
	}

	sync := findTask(t, snap, "sync")
	if sync.Status != "running" || sync.Attempt != 3 || sync.Policy != "restart" || sync.Failures != 2 ||
		sync.LastError != "upstream 503 ..." || sync.LastErrorAt == nil {
		t.Fatalf("task sync = %+v, want running attempt 3, restart, 2 failures, last error upstream 503", sync)
	}
	opt := findTask(t, snap, "optional")
	if opt.Status != "stopped" || opt.Attempt != 1 || opt.Policy != "ignore" || opt.LastError != "feature off" {
		t.Fatalf("task optional = %+v, want stopped after 1 attempt, ignore, feature off", opt)
	}

	failed, ok := findLog(snap, "lifecycle.TaskFailedEvent")
	if !ok || failed.Count != 3 || len(failed.Recent) != 3 {
		t.Fatalf("TaskFailedEvent log = %+v, want 3 events", failed)
	}
	var texts []string
	for _, r := range failed.Recent {
		texts = append(texts, r.Text)
	}
	if all := strings.Join(texts, "\n"); !strings.Contains(all, "{Name:sync Attempt:1 Policy:restart Err:upstream 503 ...") ||
		!strings.Contains(all, "{Name:optional Attempt:1 Policy:ignore Err:feature off}") || strings.Contains(all, "second line") {
		t.Errorf("TaskFailedEvents shown as\n%s\nwant the fields of each, on one line", all)
	}
	for _, typ := range []string{"lifecycle.ProviderBootedEvent", "lifecycle.BootedEvent", "lifecycle.TaskStartedEvent", "lifecycle.TaskRestartingEvent", "lifecycle.TaskStoppedEvent", "lifecycle.ReadyEvent"} {
		if _, ok := findLog(snap, typ); !ok {
			t.Errorf("no %s in the recent events", typ)
		}
	}
	// Counters of the bus: the page and the test's recorder subscribe to
	// lifecycle.Event; 2 providers booted, 4 starts, 3 failures, 2
	// restarts, 1 stop, booted, ready.
	if st, ok := findType(snap, "lifecycle.Event"); !ok || st.Subscribers != 2 || st.Emitted != 14 || st.Missed != 0 {
		t.Errorf("bus counters of lifecycle.Event = %+v, want 2 subscribers, 14 emitted", st)
	}

	// The shutdown shows at once.
	s.rt.InitiateShutdown("maintenance", errors.New("disk full"), 4)
	snap = s.snapshot(t)
	if rt := snap.Runtime; rt.State != "shutting down" || rt.Ready || !rt.GateClosed || rt.ExitCode != 4 ||
		!strings.Contains(rt.Cause, "disk full") {
		t.Fatalf("runtime after InitiateShutdown = %+v", rt)
	}
	if l, ok := findLog(snap, "fxbus.ShutdownInitiatedEvent"); !ok || l.Count != 1 || !strings.Contains(l.Recent[0].Text, "Reason:maintenance") {
		t.Fatalf("ShutdownInitiatedEvent log = %+v", l)
	}
	s.permit.Release()
	if err := s.rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap = s.snapshot(t)
	if snap.Runtime.State != "stopped" || findTask(t, snap, "sync").Status != "stopped" {
		t.Fatalf("after Stop: runtime %+v, tasks %+v", snap.Runtime, snap.Tasks)
	}
	if _, ok := findLog(snap, "lifecycle.StoppedEvent"); !ok {
		t.Fatal("no StoppedEvent in the recent events after Stop")
	}
}

func TestHTMLShowsTheSameState(t *testing.T) {
	s := newService(t, debugpage.WithRefresh(5*time.Second))
	code, ctype, body := s.get(t, http.MethodGet, "/debug/fxruntime")
	if code != http.StatusOK || ctype != "text/html; charset=utf-8" {
		t.Fatalf("GET: %d %q", code, ctype)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`<a href="fxruntime.json">JSON</a>`,
		`<span class="state running">running</span>`,
		"1 in flight",
		"<td>cache</td><td>early</td>",
		"<td>sync</td>",
		"upstream 503 ...",
		"lifecycle.TaskFailedEvent",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %q", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
	if code, _, _ := s.get(t, http.MethodPost, "/debug/fxruntime"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", code)
	}
	if code, _, body := s.get(t, http.MethodHead, "/debug/fxruntime.json"); code != http.StatusOK || body != "" {
		t.Errorf("HEAD: %d %q", code, body)
	}
}

func TestPageKeepsTheLastEventsOfEachType(t *testing.T) {
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	page, err := debugpage.New(bus, nil, debugpage.WithRecent(2))
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	for i := 1; i <= 5; i++ {
		fxbus.Emit[lifecycle.Event](bus, lifecycle.TaskStartedEvent{Name: "t", Attempt: i})
	}
	snap := page.Snapshot()
	l, ok := findLog(snap, "lifecycle.TaskStartedEvent")
	if !ok || l.Count != 5 || len(l.Recent) != 2 || l.Recent[0].Text != "{Name:t Attempt:4}" || l.Recent[1].Text != "{Name:t Attempt:5}" {
		t.Fatalf("log = %+v, want 5 counted, the last 2 kept", l)
	}
	if snap.Runtime != nil {
		t.Fatalf("a page without a runtime shows %+v", snap.Runtime)
	}
	page.Close()
	page.Close() // idempotent
	fxbus.Emit[lifecycle.Event](bus, lifecycle.ReadyEvent{})
	if _, ok := findLog(page.Snapshot(), "lifecycle.ReadyEvent"); ok {
		t.Fatal("a closed page went on recording")
	}
}

func TestBadOptionsAreRefusedByName(t *testing.T) {
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	for _, tt := range []struct {
		desc string
		bus  *fxbus.Bus
		give debugpage.Option
		want string
	}{
		{"nil bus", nil, nil, "nil bus"},
		{"no recent events", bus, debugpage.WithRecent(0), "WithRecent(0): want 1 to 1000"},
		{"too many", bus, debugpage.WithRecent(5000), "WithRecent(5000)"},
		{"negative refresh", bus, debugpage.WithRefresh(-time.Second), "WithRefresh(-1s): want 0 (off) or a positive interval"},
		{"nil option", bus, nil, "nil Option"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			var opts []debugpage.Option
			if tt.bus != nil {
				opts = append(opts, tt.give)
			}
			p, err := debugpage.New(tt.bus, nil, opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				if p != nil {
					p.Close()
				}
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestModuleFollowsTheApplication(t *testing.T) {
	var page *debugpage.Page
	var rt *lifecycle.Runtime
	app := fxtest.New(t, fx.NopLogger, fxbus.Module, lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{Name: "worker", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }}
		}),
		fx.Supply(debugpage.Config{Recent: 3, Refresh: -1}),
		debugpage.Module, fx.Populate(&page, &rt))
	for run := 1; run <= 2; run++ {
		app.RequireStart()
		app.RequireStop() // under fxbus.Module, the handlers have handled everything by then
		snap := page.Snapshot()
		if w := findTask(t, snap, "worker"); w.Status != "stopped" || w.Attempt != 1 {
			t.Fatalf("run %d: task worker = %+v", run, w)
		}
		l, ok := findLog(snap, "lifecycle.StoppedEvent")
		if !ok || l.Count != uint64(run) {
			t.Fatalf("run %d: StoppedEvent log %+v, want %d", run, l, run)
		}
		if snap.Runtime.State != "stopped" {
			t.Fatalf("run %d: state %q", run, snap.Runtime.State)
		}
	}
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/fxruntime", nil))
	if body := rec.Body.String(); strings.Contains(body, "http-equiv") {
		t.Errorf("Config.Refresh -1 did not turn the reload off")
	}
}
