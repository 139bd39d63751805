// Command prometheus is a service whose bus and runtime Prometheus scrapes
// at http://127.0.0.1:9464/metrics: the wiring of the metrics module to
// copy. A task emits an OrderPlaced every second, a handler reads it; stop
// it with Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/fx"
)

// OrderPlaced is the service's event.
type OrderPlaced struct{ ID int }

// Config is the service's configuration.
type Config struct {
	// Addr is where /metrics is served.
	Addr string
	// Every is the interval between two orders.
	Every time.Duration
}

func main() {
	cfg := Config{Every: time.Second}
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:9464", "address of the /metrics endpoint")
	flag.Parse()
	os.Exit(lifecycle.Main(service(cfg)))
}

// service is the application; lifecycle.Main adds fxbus.Module and
// lifecycle.Module.
func service(cfg Config) fx.Option {
	return fx.Options(
		fx.Supply(cfg),
		// The metrics: the module, and a MeterProvider for it in the graph,
		// given as the metric.MeterProvider interface.
		metrics.Module,
		fx.Provide(newRegistry, newMeterProvider),
		// The admin server that Prometheus scrapes, a provider of the runtime
		// with an early priority: it listens before the other providers boot
		// and stops after they have stopped.
		fx.Provide(newAdmin),
		lifecycle.ProviderOf[*Admin](),
		lifecycle.AsTask(newOrders),
		fxbus.Handle(func(_ context.Context, ev OrderPlaced) error {
			log.Printf("order %d placed", ev.ID)
			return nil
		}),
	)
}

// newRegistry is the Prometheus registry /metrics serves: the OpenTelemetry
// instruments, and the Go runtime's and the process's collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newMeterProvider is an SDK MeterProvider read by the Prometheus exporter
// on reg, shut down with the application.
func newMeterProvider(lc fx.Lifecycle, reg *prometheus.Registry) (metric.MeterProvider, error) {
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// Prometheus names: fxbus_emitted_events_total, *_seconds.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	lc.Append(fx.StopHook(mp.Shutdown))
	return mp, nil
}

// Admin serves /metrics.
type Admin struct {
	addr string
	srv  *http.Server
	ln   net.Listener
}

func newAdmin(cfg Config, reg *prometheus.Registry) *Admin {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &Admin{addr: cfg.Addr, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
}

// Name implements lifecycle.Provider.
func (a *Admin) Name() string { return "admin" }

// Priority implements lifecycle.Prioritized.
func (a *Admin) Priority() lifecycle.Priority { return lifecycle.Early }

// Boot listens, and serves until Stop.
func (a *Admin) Boot(context.Context) error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("admin: cannot listen on %s: %w", a.addr, err)
	}
	a.ln = ln
	log.Printf("metrics at http://%s/metrics", ln.Addr())
	go func() {
		if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("admin: %v", err)
		}
	}()
	return nil
}

// Stop ends the server, waiting for the scrapes in progress.
func (a *Admin) Stop(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// URL returns the address of /metrics once booted.
func (a *Admin) URL() string { return "http://" + a.ln.Addr().String() + "/metrics" }

// newOrders is a task that emits an OrderPlaced at every cfg.Every.
func newOrders(cfg Config, bus *fxbus.Bus) lifecycle.Task {
	return lifecycle.Task{Name: "orders", Run: func(ctx context.Context) error {
		tick := time.NewTicker(cfg.Every)
		defer tick.Stop()
		for id := 1; ; id++ {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				fxbus.Emit(bus, OrderPlaced{ID: id})
			}
		}
	}}
}
