package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
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

// httpServer is a lifecycle provider, not a plain Fx hook, because of when
// it must stop. Fx stops the components that depend on the runtime before
// the runtime itself; a provider stops inside the runtime's stop, after
// the gate has drained. So the server keeps answering /readyz (with 503)
// while in-flight /work requests finish, and only then shuts down.
//
// It boots after the configuration, because its constructor takes the
// configuration provider, and so stops before it.
type httpServer struct {
	addr string
	bus  *fxbus.Bus
	cfg  *configProvider

	rt   *lifecycle.Runtime // whose state /readyz reports
	gate *lifecycle.Gate    // which /work enters

	srv    *http.Server
	admin  *http.ServeMux         // the routes that emit no RequestServed (see mount)
	served chan error             // receives Serve's result; made by Boot
	url    atomic.Pointer[string] // the base URL; set by Boot
}

func newHTTPServer(s settings, bus *fxbus.Bus, cfg *configProvider, rt *lifecycle.Runtime, gate *lifecycle.Gate) *httpServer {
	h := &httpServer{addr: s.Addr, bus: bus, cfg: cfg, rt: rt, gate: gate}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /work", h.work)
	h.admin = http.NewServeMux()
	h.admin.Handle("/", h.record(mux))
	h.srv = &http.Server{Handler: h.admin, ReadHeaderTimeout: 5 * time.Second}
	return h
}

// mount serves handler at pattern, without a RequestServed event per
// request: for the debug page, which reloads itself every few seconds.
func (h *httpServer) mount(pattern string, handler http.Handler) { h.admin.Handle(pattern, handler) }

// Name implements lifecycle.Provider.
func (h *httpServer) Name() string { return "http" }

// Boot binds the address and starts serving.
func (h *httpServer) Boot(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", h.addr)
	if err != nil {
		return err
	}
	h.served = make(chan error, 1)
	go func() { h.served <- h.srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	h.url.Store(&url)
	fxbus.Emit(h.bus, ServerListening{URL: url})
	return nil
}

// URL returns the server's base URL, "http://127.0.0.1:8080"; empty
// before Boot.
func (h *httpServer) URL() string {
	if u := h.url.Load(); u != nil {
		return *u
	}
	return ""
}

// Stop shuts the server down within the stop budget. The runtime calls it
// after the gate drained, so no admitted /work request is cut off.
func (h *httpServer) Stop(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if serr := <-h.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	fxbus.Emit(h.bus, ServerStopped{Err: err})
	return err
}

// healthz is the liveness probe: the process answers.
func (h *httpServer) healthz(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, "ok")
}

// readyz is the readiness probe, read from the runtime's state: 200 while
// running or reloading, 503 while booting and from the moment shutdown
// begins, so that a load balancer stops sending traffic before the server
// goes away.
func (h *httpServer) readyz(w http.ResponseWriter, _ *http.Request) {
	rt := h.rt
	if !rt.Ready() {
		http.Error(w, rt.State().String(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, rt.State())
}

// work does ?ms=N milliseconds of hashing under the runtime's gate: it is
// refused once shutdown has begun, and shutdown waits for it to finish.
func (h *httpServer) work(w http.ResponseWriter, r *http.Request) {
	d, err := parseWorkMillis(r.URL.Query().Get("ms"), time.Duration(h.cfg.Current().MaxWork))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gate := h.gate
	permit, err := gate.Enter()
	if err != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer permit.Release()
	fxbus.Emit(h.bus, WorkStarted{For: d, InFlight: gate.InFlight()})

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
