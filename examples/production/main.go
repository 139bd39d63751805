// Command production is a service wired for production: an HTTP server
// that drains on shutdown, the runtime's probes, a shutdown delay for the
// load balancer, systemd notifications when started by systemd, and
// warnings and errors on stderr, with one line saying why on a non-zero
// exit.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// Module is the whole application, the bus and the runtime included, so
// that its tests run it with fxtest as main runs it with lifecycle.Main.
var Module = fx.Options(
	fxbus.Module,
	lifecycle.Module,
	// On SIGTERM, /readyz turns 503 at once; requests are still served
	// for 5s, while the load balancer catches up; then the drain begins.
	fx.Supply(lifecycle.Config{ShutdownDelay: 5 * time.Second}),
	fx.Module("shop",
		lifecycle.AsProvider(func(rt *lifecycle.Runtime) *lifecycle.HTTPServer {
			mux := http.NewServeMux()
			mux.Handle("GET /readyz", rt.ReadinessHandler())
			mux.Handle("GET /livez", rt.LivenessHandler())
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintln(w, "hello")
			})
			// Listens at boot, serves under the gate, shuts down after the drain.
			return lifecycle.NewHTTPServer("http", &http.Server{
				Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second,
			})
		}),
	),
)

func main() { os.Exit(lifecycle.Main(Module)) }
