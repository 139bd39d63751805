package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/fx"
)

// servePrometheus serves, on a loopback port, /metrics for an SDK
// MeterProvider read by the Prometheus exporter, and returns the provider
// and the URL of /metrics. Both end with the test.
func servePrometheus(t *testing.T) (*sdkmetric.MeterProvider, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: wait}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
		if err := mp.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return mp, "http://" + ln.Addr().String() + "/metrics"
}

// scrape is one scrape: for each Prometheus series of this module's
// instruments, its value by labels ("k=v,k=v", sorted, the scope labels
// left out). A histogram's series are name_count, name_sum and
// name_bucket, whose labels include le.
type scrape map[string]map[string]float64

func scrapeOver(t *testing.T, url string) scrape {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition of %s: %v", url, err)
	}
	out := scrape{}
	for name, mf := range families {
		if !strings.HasPrefix(name, "fxbus_") && !strings.HasPrefix(name, "fxruntime_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := promLabels(t, name, m)
			put := func(series, labels string, v float64) {
				if out[series] == nil {
					out[series] = map[string]float64{}
				}
				out[series][labels] = v
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				put(name, labels, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				put(name, labels, m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				put(name+"_count", labels, float64(h.GetSampleCount()))
				put(name+"_sum", labels, h.GetSampleSum())
				for _, b := range h.GetBucket() {
					le := fmt.Sprintf("le=%g", b.GetUpperBound())
					put(name+"_bucket", joinLabels(labels, le), float64(b.GetCumulativeCount()))
				}
			default:
				t.Fatalf("%s: unexpected type %v", name, mf.GetType())
			}
		}
	}
	return out
}

// promLabels returns m's labels but the scope's, which it checks.
func promLabels(t *testing.T, name string, m *dto.Metric) string {
	t.Helper()
	var parts []string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "otel_scope_name":
			if l.GetValue() != metrics.ScopeName {
				t.Errorf("%s: otel_scope_name=%q, want %q", name, l.GetValue(), metrics.ScopeName)
			}
		case "otel_scope_version", "otel_scope_schema_url":
		default:
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func joinLabels(a, b string) string {
	if a == "" {
		return b
	}
	parts := append(strings.Split(a, ","), b)
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// check compares the series of s, except those whose name is in skip,
// with want, exactly: no series missing, none more, every value equal.
func (s scrape) check(t *testing.T, when string, want scrape, skip ...string) {
	t.Helper()
	for series, points := range want {
		for labels, v := range points {
			if got, ok := s[series][labels]; !ok || got != v {
				t.Errorf("%s: %s{%s} = %v (present: %v), want %v", when, series, labels, got, ok, v)
			}
		}
	}
	names := make([]string, 0, len(s))
	for series := range s {
		names = append(names, series)
	}
	sort.Strings(names)
	for _, series := range names {
		if slices.Contains(skip, series) {
			continue
		}
		for labels, v := range s[series] {
			if _, ok := want[series][labels]; !ok {
				t.Errorf("%s: %s{%s} = %v, not expected", when, series, labels, v)
			}
		}
	}
}

// states is the fxruntime_state series with current at 1.
func statesAt(current string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range []string{"booting", "running", "reloading", "shutting_down", "stopped"} {
		v := 0.0
		if s == current {
			v = 1
		}
		out["fxruntime_state="+s] = v
	}
	return out
}

// checkHistogram checks the series of a histogram that recorded one
// value, v seconds: count 1, sum v, and every bucket the module advises,
// holding it or not.
func (s scrape) checkHistogram(t *testing.T, series, labels string, v time.Duration) {
	t.Helper()
	if got := s[series+"_count"][labels]; got != 1 {
		t.Errorf("%s_count{%s} = %v, want 1", series, labels, got)
	}
	if got := s[series+"_sum"][labels]; got != v.Seconds() {
		t.Errorf("%s_sum{%s} = %v, want %v", series, labels, got, v.Seconds())
	}
	bounds := []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, math.Inf(1)}
	n := 0
	for key := range s[series+"_bucket"] {
		if strings.Contains(key, labels) {
			n++
		}
	}
	if n != len(bounds) {
		t.Errorf("%s{%s} has %d buckets, want %d", series, labels, n, len(bounds))
	}
	for _, le := range bounds {
		key := joinLabels(labels, fmt.Sprintf("le=%g", le))
		want := 0.0
		if v.Seconds() <= le {
			want = 1
		}
		if got, ok := s[series+"_bucket"][key]; !ok || got != want {
			t.Errorf("%s_bucket{%s} = %v (present: %v), want %v", series, key, got, ok, want)
		}
	}
}

// TestPrometheusScrapeOfAKnownRun runs an application through a known
// sequence and checks every value that Prometheus scrapes from it over HTTP:
// emits, a lag, a task failure and restart, a reload refused, in-flight
// work, and a shutdown whose gate drain times out and whose exit is forced
// by a second signal.
func TestPrometheusScrapeOfAKnownRun(t *testing.T) {
	mp, url := servePrometheus(t)

	var attempts atomic.Int32
	restarted := make(chan struct{})
	signals := make(chan os.Signal, 2)
	forced := make(chan int, 1)
	// What a handler of lifecycle.Event of the test's own sees.
	var seen struct {
		sync.Mutex
		events                   int
		reload, gate, tasksDrain time.Duration
	}
	var bus *fxbus.Bus
	var rt *lifecycle.Runtime
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		lifecycle.Module,
		metrics.Module,
		fx.Provide(func() metric.MeterProvider { return mp }),
		fx.Supply(lifecycle.Config{GateTimeout: 100 * time.Millisecond}),
		lifecycle.With(
			lifecycle.WithSignals(signals),
			lifecycle.WithForceExit(func(code int) { forced <- code }),
		),
		lifecycle.AsTask(func() lifecycle.Task {
			return lifecycle.Task{
				Name:    "flaky",
				Policy:  lifecycle.Restart,
				Restart: lifecycle.RestartPolicy{Initial: time.Millisecond, Jitter: lifecycle.NoJitter},
				Run: func(ctx context.Context) error {
					if attempts.Add(1) == 1 {
						return errors.New("flaky: first run fails")
					}
					close(restarted)
					<-ctx.Done()
					return nil
				},
			}
		}),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{
				Validate: func(context.Context) error { return errors.New("config: invalid") },
			})
		}),
		fxbus.Handle(func(_ context.Context, ev lifecycle.Event) error {
			seen.Lock()
			defer seen.Unlock()
			seen.events++
			switch ev := ev.(type) {
			case lifecycle.ReloadCompletedEvent:
				seen.reload = ev.Duration
			case lifecycle.GateForcedEvent:
				seen.gate = ev.Waited
			case lifecycle.DrainCompletedEvent:
				seen.tasksDrain = ev.Duration
			}
			return nil
		}),
		fx.Populate(&bus, &rt),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// A task failure and restart.
	select {
	case <-restarted:
	case <-ctx.Done():
		t.Fatal("task flaky was not restarted")
	}
	// Emits: three read, two dropped, and a lag of six.
	a := fxbus.Subscribe[evA](bus)
	defer a.Close()
	fxbus.Subscribe[evB](bus).Close()
	c := fxbus.Subscribe[evC](bus)
	defer c.Close()
	for i := range 3 {
		fxbus.Emit(bus, evA{i})
		if _, err := a.TryRecv(); err != nil {
			t.Fatal(err)
		}
	}
	fxbus.Emit(bus, evB{1})
	fxbus.Emit(bus, evB{2})
	for i := range fxbus.DefaultCapacity + 6 {
		fxbus.Emit(bus, evC{i})
	}
	if _, err := c.TryRecv(); !errors.Is(err, fxbus.ErrLagged) {
		t.Fatalf("TryRecv of the lagging subscriber: %v", err)
	}
	// A reload refused.
	var rerr *lifecycle.ReloadError
	if err := rt.Reload(ctx); !errors.As(err, &rerr) || rerr.Applied {
		t.Fatalf("Reload = %v, want a refused *ReloadError", err)
	}
	// In-flight work, the first unit held past the stop.
	held, err := rt.Gate().Enter()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	p, _ := rt.Gate().Enter()

	var (
		typeA  = "fxbus_event_type=" + typeName[evA](bus)
		typeB  = "fxbus_event_type=" + typeName[evB](bus)
		typeC  = "fxbus_event_type=" + typeName[evC](bus)
		typeLE = "fxbus_event_type=" + typeName[lifecycle.Event](bus)
	)
	// The observable instruments are read by the scrape itself; the
	// lifecycle.Event counts and the recorded instruments are checked after
	// the stop, when every handler has handled every event.
	running := scrapeOver(t, url)
	running.check(t, "running", scrape{
		"fxbus_emitted_events_total": {typeA: 3, typeB: 0, typeC: fxbus.DefaultCapacity + 6},
		"fxbus_dropped_events_total": {typeA: 0, typeB: 2, typeC: 0, typeLE: 0},
		"fxbus_missed_events_total":  {typeA: 0, typeB: 0, typeC: 6, typeLE: 0},
		"fxbus_subscription_count":   {typeA: 1, typeB: 0, typeC: 1, typeLE: 2},
		"fxruntime_state":            statesAt("running"),
		"fxruntime_gate_in_flight":   {"": 2},
	}, "fxbus_emitted_events_total", "fxruntime_task_starts_total", "fxruntime_task_failures_total",
		"fxruntime_task_restarts_total", "fxruntime_reload_duration_seconds_count",
		"fxruntime_reload_duration_seconds_sum", "fxruntime_reload_duration_seconds_bucket")
	p.Release()

	// A shutdown by a signal, whose exit a second signal forces.
	signals <- syscall.SIGTERM
	select {
	case <-rt.Done():
	case <-ctx.Done():
		t.Fatal("the first SIGTERM did not begin the shutdown")
	}
	signals <- syscall.SIGTERM
	select {
	case code := <-forced:
		if code != lifecycle.DefaultForceExitCode {
			t.Errorf("forced exit code %d, want %d", code, lifecycle.DefaultForceExitCode)
		}
	case <-ctx.Done():
		t.Fatal("the second SIGTERM did not force the exit")
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// The handlers have handled every event: the bus closed after them.
	seen.Lock()
	defer seen.Unlock()
	stopped := scrapeOver(t, url)
	stopped.check(t, "stopped", scrape{
		"fxbus_emitted_events_total": {
			typeA: 3, typeB: 0, typeC: fxbus.DefaultCapacity + 6, typeLE: float64(seen.events),
		},
		"fxbus_dropped_events_total": {typeA: 0, typeB: 2, typeC: 0, typeLE: 0},
		"fxbus_missed_events_total":  {typeA: 0, typeB: 0, typeC: 6, typeLE: 0},
		// Subscriptions count until closed: the test's are open, and so
		// are those of the two handlers of lifecycle.Event, which ended with
		// the bus; fxbus.Module drops them when the application starts again.
		"fxbus_subscription_count":      {typeA: 1, typeB: 0, typeC: 1, typeLE: 2},
		"fxruntime_state":               statesAt("stopped"),
		"fxruntime_gate_in_flight":      {"": 1},
		"fxruntime_task_starts_total":   {"fxruntime_task_name=flaky": 2},
		"fxruntime_task_failures_total": {"fxruntime_task_name=flaky,fxruntime_task_policy=restart": 1},
		"fxruntime_task_restarts_total": {"fxruntime_task_name=flaky,fxruntime_task_policy=restart": 1},
		"fxruntime_forced_exits_total":  {"": 1},
	}, "fxruntime_reload_duration_seconds_count", "fxruntime_reload_duration_seconds_sum",
		"fxruntime_reload_duration_seconds_bucket", "fxruntime_drain_duration_seconds_count",
		"fxruntime_drain_duration_seconds_sum", "fxruntime_drain_duration_seconds_bucket")
	if seen.events < 10 {
		t.Errorf("the test's handler saw %d lifecycle events: fewer than the run emitted", seen.events)
	}

	const (
		refused   = "fxruntime_reload_outcome=refused"
		gateTO    = "fxruntime_drain_outcome=timeout,fxruntime_drain_step=gate"
		tasksDone = "fxruntime_drain_outcome=drained,fxruntime_drain_step=tasks"
	)
	for _, series := range []string{"fxruntime_reload_duration_seconds_count", "fxruntime_drain_duration_seconds_count"} {
		for labels := range stopped[series] {
			if labels != refused && labels != gateTO && labels != tasksDone {
				t.Errorf("%s{%s}: not expected", series, labels)
			}
		}
	}
	stopped.checkHistogram(t, "fxruntime_reload_duration_seconds", refused, seen.reload)
	stopped.checkHistogram(t, "fxruntime_drain_duration_seconds", gateTO, seen.gate)
	stopped.checkHistogram(t, "fxruntime_drain_duration_seconds", tasksDone, seen.tasksDrain)
}
