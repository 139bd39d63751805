package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// stepTimeout bounds the wait for the events of one step of the tour.
const stepTimeout = 5 * time.Second

// tour drives the service through a scripted scenario, as a supervised
// task of the service itself. It acts as an operator would: HTTP requests
// to the server, signals on the channel the runtime reads (lifecycle's
// WithSignals, so the real SIGHUP and SIGTERM code paths run), and, in
// place of editing the configuration file, a new path for it. After each
// action it waits until the timeline has shown every event the action
// causes, so each step's events print under its heading.
type tour struct {
	tl    *Timeline
	sigs  chan<- os.Signal // read by the runtime
	dir   string           // where good2.json and bad.json are
	good2 Config           // good2.json, loaded before the tour starts
}

// steps are the tour's headings: what the step does, then what to watch
// for. The first prints before the app starts.
var steps = [][2]string{
	{"1/5 boot",
		"providers boot in dependency order (http needs config) and tasks start; the warehouse is down,\n" +
			"   so its task fails twice and is restarted with backoff; the order task places a batch, the ledger books it"},
	{"2/5 HTTP",
		"the service answers its probes, and /work runs under the runtime's gate"},
	{"3/5 SIGHUP with good2.json",
		"the new file is validated, applied and announced; the order task places a batch with the new settings"},
	{"4/5 SIGHUP with bad.json",
		"validation fails: the reload is refused with the error, and the config in use is kept"},
	{"5/5 SIGTERM while a 300ms /work request is in flight",
		"/readyz answers 503 at once and the tasks stop; the gate waits for the request; then the server stops"},
}

// heading prints the heading of step i (from 0).
func (tr *tour) heading(i int) { tr.tl.Printf("\n== %s\n   %s", steps[i][0], steps[i][1]) }

// task returns the tour as a critical task: if the scenario goes wrong,
// the service shuts down with exit code 1 and the reason.
func (tr *tour) task(cfg *configProvider, h *httpServer) lifecycle.Task {
	return lifecycle.Task{
		Name:   "tour",
		Policy: lifecycle.Critical,
		Run: func(ctx context.Context) error {
			client := &http.Client{Transport: &http.Transport{}, Timeout: stepTimeout}
			defer client.CloseIdleConnections()
			r := tourRun{tour: tr, ctx: ctx, cfg: cfg, client: client, url: h.URL()}
			return r.all()
		},
	}
}

// tourRun is one run of the tour.
type tourRun struct {
	*tour
	ctx    context.Context // the runtime's token: cancelled by the shutdown
	cfg    *configProvider
	client *http.Client
	url    string
}

func (r *tourRun) all() error {
	// 1. The boot: the events since the start.
	first := r.cfg.Current()
	if err := r.wait(0, map[string]int{
		"ConfigLoaded":                  1,
		"lifecycle.ProviderBootedEvent": 2,
		"ServerListening":               1,
		"lifecycle.BootedEvent":         1,
		"lifecycle.TaskStartedEvent":    2 + warehouseOutages + 1, // orders, tour, warehouse's attempts
		"lifecycle.TaskFailedEvent":     warehouseOutages,
		"lifecycle.TaskRestartingEvent": warehouseOutages,
		"WarehouseConnected":            1,
		"lifecycle.ReadyEvent":          1,
		"OrderPlaced":                   first.OrdersPerBatch,
		"OrderRecorded":                 first.OrdersPerBatch,
	}); err != nil {
		return fmt.Errorf("step 1: %w", err)
	}

	// 2. HTTP.
	from := r.step(1)
	for _, c := range []struct {
		target string
		want   int
	}{{"/healthz", 200}, {"/readyz", 200}, {"/work?ms=50", 200}} {
		if err := r.get(r.ctx, c.target, c.want); err != nil {
			return fmt.Errorf("step 2: %w", err)
		}
	}
	if err := r.wait(from, map[string]int{"RequestServed": 3, "WorkStarted": 1}); err != nil {
		return fmt.Errorf("step 2: %w", err)
	}

	// 3. A good reload.
	from = r.step(2)
	r.cfg.setPath(filepath.Join(r.dir, "good2.json"))
	r.sigs <- syscall.SIGHUP
	if err := r.wait(from, map[string]int{
		"lifecycle.SignalReceivedEvent":  1,
		"lifecycle.ReloadStartedEvent":   1,
		"ConfigReloaded":                 1,
		"lifecycle.ReloadCompletedEvent": 1,
		"OrderPlaced":                    r.good2.OrdersPerBatch,
		"OrderRecorded":                  r.good2.OrdersPerBatch,
	}); err != nil {
		return fmt.Errorf("step 3: %w", err)
	}

	// 4. A bad reload.
	from = r.step(3)
	r.cfg.setPath(filepath.Join(r.dir, "bad.json"))
	r.sigs <- syscall.SIGHUP
	if err := r.wait(from, map[string]int{
		"lifecycle.SignalReceivedEvent":  1,
		"lifecycle.ReloadStartedEvent":   1,
		"lifecycle.ReloadCompletedEvent": 1,
	}); err != nil {
		return fmt.Errorf("step 4: %w", err)
	}
	if got := r.cfg.Current(); got != r.good2 {
		return fmt.Errorf("step 4: the refused reload changed the config to %v", got)
	}
	r.tl.Note("the config in use is still good2.json's: %v", r.cfg.Current())

	// 5. Shutdown with a request in flight. From here on the runtime's
	// token is cancelled: the tour goes on with a context of its own.
	from = r.step(4)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), stepTimeout)
	defer cancel()
	work := make(chan error, 1)
	go func() { work <- r.get(ctx, "/work?ms=300", 200) }()
	if err := r.tl.WaitFor(ctx, from, map[string]int{"WorkStarted": 1}); err != nil {
		return fmt.Errorf("step 5: %w", err)
	}
	r.sigs <- syscall.SIGTERM
	if err := r.tl.WaitFor(ctx, from, map[string]int{"fxbus.ShutdownInitiatedEvent": 1}); err != nil {
		return fmt.Errorf("step 5: %w", err)
	}
	if err := r.get(ctx, "/readyz", http.StatusServiceUnavailable); err != nil {
		return fmt.Errorf("step 5: %w", err)
	}
	if err := <-work; err != nil {
		return fmt.Errorf("step 5: the in-flight request: %w", err)
	}
	r.tl.Note("the in-flight /work request completed with 200 after the shutdown began")
	return nil
}

// step prints the heading of step i and returns the timeline position
// its events start from.
func (r *tourRun) step(i int) int {
	r.heading(i)
	return r.tl.Mark()
}

// wait waits, at most stepTimeout, for the events of a step.
func (r *tourRun) wait(from int, want map[string]int) error {
	ctx, cancel := context.WithTimeout(r.ctx, stepTimeout)
	defer cancel()
	return r.tl.WaitFor(ctx, from, want)
}

// get requests target and checks the status code.
func (r *tourRun) get(ctx context.Context, target string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+target, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: status %d, want %d", target, resp.StatusCode, want)
	}
	return nil
}

// tourModule adds the tour to the service: the runtime reads signals from
// sigs instead of the OS, and the tour runs as a task.
func tourModule(tr *tour, sigs <-chan os.Signal) fx.Option {
	return fx.Module("tour",
		lifecycle.With(lifecycle.WithSignals(sigs)),
		lifecycle.AsTask(tr.task),
	)
}

// newTour loads the tour's second configuration and checks that the bad
// one is there, so that a missing file is reported before the start.
func newTour(tl *Timeline, sigs chan<- os.Signal, configPath string) (*tour, error) {
	dir := filepath.Dir(configPath)
	good2, err := loadConfig(filepath.Join(dir, "good2.json"))
	if err != nil {
		return nil, fmt.Errorf("tour: %w", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if _, err := loadConfig(bad); err == nil {
		return nil, fmt.Errorf("tour: config %s is valid; the tour needs it invalid", bad)
	} else if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tour: %w", err)
	}
	return &tour{tl: tl, sigs: sigs, dir: dir, good2: good2}, nil
}
