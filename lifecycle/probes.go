package lifecycle

import (
	"net/http"
	"strconv"
)

// A ProbeOption configures a probe handler of the runtime.
type ProbeOption interface {
	applyProbe(*probeHandler)
}

type probeOptionFunc func(*probeHandler)

func (f probeOptionFunc) applyProbe(p *probeHandler) { f(p) }

// UnreadyWhileReloading makes [Runtime.ReadinessHandler] answer 503 while
// a reload runs, for a service that must not take traffic then; by
// default a reloading runtime is ready.
func UnreadyWhileReloading() ProbeOption {
	return probeOptionFunc(func(p *probeHandler) { p.reloadingUnready = true })
}

// ReadinessHandler returns the handler of a readiness probe: 200 while
// the runtime is running or reloading ([Runtime.Ready]; see
// [UnreadyWhileReloading]), 503 while it boots, from the moment its
// shutdown begins (so that a load balancer stops routing requests here
// during the [Config.ShutdownDelay]) and once stopped. The body is a small
// JSON object naming the state:
//
//	{"state":"running","ready":true}
//
// It answers every method the same (HEAD without the body), and is never
// cached. Served by an [HTTPServer] whose handler is an *http.ServeMux,
// it answers outside the gate, during the drain too.
func (r *Runtime) ReadinessHandler(opts ...ProbeOption) http.Handler {
	p := &probeHandler{rt: r, readiness: true}
	for _, o := range opts {
		if o != nil {
			o.applyProbe(p)
		}
	}
	return p
}

// LivenessHandler returns the handler of a liveness probe: 200 while the
// process runs its runtime, shutdown included, so that an orchestrator
// does not kill a process that is draining; 503 once the runtime has
// stopped, or once a shutdown that reports a failure (a non-zero exit
// code: a critical task failed, a restart budget ran out) has begun, so
// that a process whose failing stop hangs is restarted. The body is a
// small JSON object naming the state:
//
//	{"state":"shutting down","live":true}
//
// Like [Runtime.ReadinessHandler], it answers every method, is never
// cached, and is served outside an [HTTPServer]'s gate.
func (r *Runtime) LivenessHandler() http.Handler { return &probeHandler{rt: r} }

// probeHandler is a readiness or liveness probe. HTTPServer recognises it
// to serve it outside the gate.
type probeHandler struct {
	rt               *Runtime
	readiness        bool // else liveness
	reloadingUnready bool
}

func (p *probeHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s := p.rt.State()
	var ok bool
	key := "live"
	if p.readiness {
		key = "ready"
		ok = s == StateRunning || (s == StateReloading && !p.reloadingUnready)
	} else {
		ok = s != StateStopped && !p.rt.failing()
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"state":` + strconv.Quote(s.String()) + `,"` + key + `":` + strconv.FormatBool(ok) + "}\n"))
}

// failing reports whether the current run's shutdown has begun with a
// non-zero exit code: the process is ending because of a failure.
func (r *Runtime) failing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.run.shutdown != nil && r.run.shutdown.ExitCode != 0
}

// Ungated marks h to be served outside the gate by an [HTTPServer] whose
// handler is an *http.ServeMux on which h is registered: during the drain
// too, and without counting as in-flight work. Use it for what must
// answer until the server stops (a metrics endpoint, a probe wrapped in a
// middleware); the runtime's own probe handlers need no marking.
func Ungated(h http.Handler) http.Handler { return ungated{h} }

type ungated struct{ http.Handler }
