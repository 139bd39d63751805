package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// HTTPServer is a [Provider] that runs an *http.Server under the runtime,
// so that it drains instead of refusing connections when the shutdown
// begins:
//
//   - Boot listens on the server's Addr (":http" if empty) and serves:
//     an address in use fails the boot, naming the provider;
//   - every request is admitted through the runtime's [Gate]: during a
//     [Config.ShutdownDelay] it is still served; once the gate has closed
//     it gets 503; once the shutdown has begun, responses carry
//     "Connection: close", so that clients move to other instances;
//   - Stop, which the runtime calls after the gate has drained and the
//     tasks have returned, calls Shutdown within the stop budget, and
//     closes the connections still open when the budget runs out;
//   - if the server stops serving on its own (its listener fails), the
//     runtime shuts down with that error and [ExitFailure].
//
// Probe handlers of the runtime ([Runtime.ReadinessHandler],
// [Runtime.LivenessHandler]) and handlers marked with [Ungated],
// registered on an *http.ServeMux that is the server's Handler, answer
// outside the gate (behind a middleware that wraps the whole mux, they
// cannot be found: wrap each route instead). A request that holds its
// handler open (a stream, a WebSocket) holds the gate until
// [Config.GateTimeout]. With a TLSConfig, the server serves TLS with the
// certificates it has.
//
// Register it like any provider, and the runtime it is registered with
// runs it; under Fx:
//
//	lifecycle.AsProvider(func(mux *http.ServeMux) *lifecycle.HTTPServer {
//		return lifecycle.NewHTTPServer("http", &http.Server{Addr: ":8080", Handler: mux})
//	})
//
// or, without Fx, with [WithProviders]. Its dependencies boot before it
// and stop after it. An http.Server cannot serve again once shut down, so
// an HTTPServer serves one run and one runtime: a runtime started again
// after a stop fails its boot with an error saying so, and a second
// runtime fails to register it.
type HTTPServer struct {
	name string
	srv  *http.Server
	err  error                   // a bad argument to NewHTTPServer, returned by Boot
	rt   atomic.Pointer[Runtime] // set once, when a runtime registers it

	mu     sync.Mutex // guards the fields below
	ln     net.Listener
	tls    bool // serves TLS: the server had a TLSConfig at Boot (Serve may set one for HTTP/2)
	booted bool
	served chan error // receives Serve's result; made by Boot
}

// NewHTTPServer returns a provider named name that runs srv under the
// runtime it is registered with, as [HTTPServer] describes. It replaces
// srv.Handler (http.DefaultServeMux when nil) with the same handler
// behind the gate. A nil srv makes Boot fail with an error saying so.
func NewHTTPServer(name string, srv *http.Server) *HTTPServer {
	s := &HTTPServer{name: name, srv: srv}
	if srv == nil {
		s.err = fmt.Errorf("lifecycle: NewHTTPServer %q: nil *http.Server", name)
		return s
	}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = s.gated(h)
	return s
}

// bindRuntime is called by the runtime that registers s.
func (s *HTTPServer) bindRuntime(r *Runtime) error {
	if !s.rt.CompareAndSwap(nil, r) && s.rt.Load() != r {
		return fmt.Errorf("lifecycle: HTTPServer %q is registered with another runtime: build one per runtime", s.name)
	}
	return nil
}

// binder is a provider that needs the runtime that registers it.
type binder interface {
	bindRuntime(*Runtime) error
}

// bindProviders gives the providers that need it the runtime.
func (r *Runtime) bindProviders(ps []Provider) error {
	var errs []error
	for _, p := range ps {
		if b, ok := p.(binder); ok {
			if err := b.bindRuntime(r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Name implements [Provider].
func (s *HTTPServer) Name() string { return s.name }

// Server returns the server it runs.
func (s *HTTPServer) Server() *http.Server { return s.srv }

// Addr returns the address the server listens on, "127.0.0.1:8080" (the
// port chosen, for a port 0); empty before Boot.
func (s *HTTPServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns the server's base URL, "http://127.0.0.1:8080" ("https://"
// with a TLSConfig); empty before Boot.
func (s *HTTPServer) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Boot listens and starts serving.
func (s *HTTPServer) Boot(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	rt := s.rt.Load()
	if rt == nil {
		return errors.New("not registered with a runtime: register it with lifecycle.AsProvider or WithProviders")
	}
	s.mu.Lock()
	again := s.booted
	s.booted = true
	s.mu.Unlock()
	if again {
		return errors.New("an http.Server cannot serve again after its Shutdown: build a new HTTPServer for each run")
	}
	addr := s.srv.Addr
	if addr == "" {
		addr = ":http"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	s.serve(rt, ln)
	rt.log.Info("http server listening", zap.String("server", s.name), zap.String("url", s.URL()))
	return nil
}

// serve serves on ln until Stop; a failure of Serve shuts the runtime
// down.
func (s *HTTPServer) serve(rt *Runtime, ln net.Listener) {
	served := make(chan error, 1)
	useTLS := s.srv.TLSConfig != nil
	s.mu.Lock()
	s.ln, s.served, s.tls = ln, served, useTLS
	s.mu.Unlock()
	go func() {
		var err error
		if useTLS {
			err = s.srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			rt.log.Error("http server failed", zap.String("server", s.name), zap.Error(err))
			rt.InitiateShutdown(fmt.Sprintf("http server %q failed", s.name), err, ExitFailure)
		}
		served <- err
	}()
}

// Stop shuts the server down within ctx, then closes the connections left.
func (s *HTTPServer) Stop(ctx context.Context) error {
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	if served == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("shutdown: %w; open connections closed", err)
		_ = s.srv.Close()
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if rt := s.rt.Load(); err == nil && rt != nil {
		rt.log.Info("http server stopped", zap.String("server", s.name))
	}
	return err
}

// gated admits each request through the runtime's gate; the ungated
// handlers found on a ServeMux answer outside it.
func (s *HTTPServer) gated(next http.Handler) http.Handler {
	mux, _ := next.(*http.ServeMux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := s.rt.Load() // set before Boot, so before any request
		if rt.IsShuttingDown() {
			w.Header().Set("Connection", "close")
		}
		if mux != nil {
			if h, _ := mux.Handler(r); isUngated(h) {
				h.ServeHTTP(w, r)
				return
			}
		}
		p, err := rt.Gate().Enter()
		if err != nil {
			w.Header().Set("Connection", "close")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer p.Release()
		next.ServeHTTP(w, r)
	})
}

// isUngated reports whether h is served outside the gate: a probe of the
// runtime, or a handler marked with Ungated.
func isUngated(h http.Handler) bool {
	switch h.(type) {
	case *probeHandler, ungated:
		return true
	}
	return false
}
