package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// ServerListening is emitted when the HTTP server has bound its address.
type ServerListening struct{ URL string }

// ServerStopped is emitted when the HTTP server has shut down.
type ServerStopped struct{ Err error }

// WorkStarted is emitted when a /work request is admitted by the gate.
type WorkStarted struct {
	For      time.Duration // the work asked for
	InFlight int           // requests in flight, this one included
}

// RequestServed is emitted for every request, before its response is
// sent: a client that has its response knows the event is on the bus.
type RequestServed struct {
	Method, Target string
	Status         int
	Took           time.Duration
}

// httpServer runs the demo's endpoints with lifecycle.HTTPServer, a
// provider that listens at boot, admits every request through the
// runtime's gate, and shuts the server down inside the runtime's stop,
// after the gate has drained: so the server keeps answering /readyz (with
// 503) while in-flight /work requests finish, and only then stops. It adds
// the demo's events to it.
//
// It boots after the configuration, because its constructor takes the
// configuration provider, and so stops before it.
type httpServer struct {
	*lifecycle.HTTPServer
	bus   *fxbus.Bus
	cfg   *configProvider
	gate  *lifecycle.Gate // which /work enters, through the server
	admin *http.ServeMux  // the server's routes; mount adds some
}

func newHTTPServer(s settings, bus *fxbus.Bus, cfg *configProvider, rt *lifecycle.Runtime) *httpServer {
	h := &httpServer{bus: bus, cfg: cfg, gate: rt.Gate()}
	mux := http.NewServeMux()
	// The runtime's probes, recorded like every request, and served
	// outside the gate: they answer during the drain too.
	mux.Handle("GET /healthz", lifecycle.Ungated(h.record(rt.LivenessHandler())))
	mux.Handle("GET /readyz", lifecycle.Ungated(h.record(rt.ReadinessHandler())))
	mux.Handle("GET /work", h.record(http.HandlerFunc(h.work)))
	mux.Handle("/", h.record(http.NotFoundHandler()))
	h.admin = mux
	h.HTTPServer = lifecycle.NewHTTPServer("http", &http.Server{Addr: s.Addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second})
	return h
}

// mount serves handler at pattern, without a RequestServed event per
// request, outside the gate: for the debug page, which reloads itself
// every few seconds and shows the drain as it happens.
func (h *httpServer) mount(pattern string, handler http.Handler) {
	h.admin.Handle(pattern, lifecycle.Ungated(handler))
}

// Boot binds the address and starts serving.
func (h *httpServer) Boot(ctx context.Context) error {
	if err := h.HTTPServer.Boot(ctx); err != nil {
		return err
	}
	fxbus.Emit(h.bus, ServerListening{URL: h.URL()})
	return nil
}

// Stop shuts the server down within the stop budget. The runtime calls it
// after the gate drained, so no admitted /work request is cut off.
func (h *httpServer) Stop(ctx context.Context) error {
	err := h.HTTPServer.Stop(ctx)
	fxbus.Emit(h.bus, ServerStopped{Err: err})
	return err
}

// work does ?ms=N milliseconds of hashing. The server admitted it through
// the runtime's gate: it is refused once the gate has closed, and the
// shutdown waits for it to finish.
func (h *httpServer) work(w http.ResponseWriter, r *http.Request) {
	d, err := parseWorkMillis(r.URL.Query().Get("ms"), time.Duration(h.cfg.Current().MaxWork))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fxbus.Emit(h.bus, WorkStarted{For: d, InFlight: h.gate.InFlight()})

	sum, rounds := hashFor(r.Context(), d)
	if r.Context().Err() != nil {
		return // the client went away
	}
	fmt.Fprintf(w, "%d rounds of sha256 in %v: %x\n", rounds, d, sum[:8])
}

// parseWorkMillis parses the ms parameter of /work: a whole number of
// milliseconds from 1 to limit. The bound is checked on the number itself,
// before any conversion that could overflow.
func parseWorkMillis(s string, limit time.Duration) (time.Duration, error) {
	maxMs := limit.Milliseconds()
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 1 || ms > maxMs {
		return 0, fmt.Errorf("ms must be an integer from 1 to %d, got %q", maxMs, s)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// hashFor hashes a buffer over and over for d, or until ctx is done.
func hashFor(ctx context.Context, d time.Duration) (sum [sha256.Size]byte, rounds int) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for range 256 {
			sum = sha256.Sum256(sum[:])
			rounds++
		}
	}
	return sum, rounds
}

// record emits a RequestServed for every request.
func (h *httpServer) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		fxbus.Emit(h.bus, RequestServed{Method: r.Method, Target: r.URL.RequestURI(), Status: sw.status, Took: time.Since(begin)})
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// httpModule serves the probes and the work endpoint.
var httpModule = fx.Module("http",
	fx.Provide(newHTTPServer),
	lifecycle.ProviderOf[*httpServer](),
)
