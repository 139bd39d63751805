package lifecycle_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
)

// get requests url on a connection of its own, so that each request tests
// whether the server still accepts connections, and returns the status,
// whether the server asked to close the connection, and the body.
func get(url string) (code int, closing bool, body string, err error) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Timeout: prodWait, Transport: tr}).Get(url)
	if err != nil {
		return 0, false, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Close, string(b), err
}

// workServer is an HTTPServer on loopback whose /work waits on hold after
// telling entered, with the runtime's probes.
type workServer struct {
	hs      *lifecycle.HTTPServer
	hold    chan struct{}
	entered chan struct{}
}

func newWorkServer(srv *http.Server) *workServer {
	ws := &workServer{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		ws.entered <- struct{}{}
		<-ws.hold
		fmt.Fprint(w, "done")
	})
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	srv.Handler = mux
	if srv.Addr == "" {
		srv.Addr = "127.0.0.1:0"
	}
	srv.ReadHeaderTimeout = time.Second
	ws.hs = lifecycle.NewHTTPServer("http", srv)
	return ws
}

// probesMux registers rt's probes on mux.
func probesMux(rt *lifecycle.Runtime, mux *http.ServeMux) {
	mux.Handle("GET /readyz", rt.ReadinessHandler())
	mux.Handle("GET /livez", rt.LivenessHandler())
}

// TestHTTPServerDrains runs an HTTPServer on loopback: once the shutdown
// begins, new requests on new connections get 503 and "Connection: close"
// (the server still listens), the probes answer outside the gate, the
// request in flight completes, and only then does the server stop
// listening.
func TestHTTPServerDrains(t *testing.T) {
	ws := newWorkServer(&http.Server{})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(), lifecycle.WithProviders(ws.hs))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := ws.hs.URL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || ws.hs.Addr() == "" {
		t.Fatalf("URL %q, Addr %q after Boot", url, ws.hs.Addr())
	}
	if code, closing, body, err := get(url + "/hello"); err != nil || code != 200 || closing || body != "hello" {
		t.Fatalf("GET /hello while running: %d %v %q %v", code, closing, body, err)
	}

	inflight := make(chan error, 1)
	go func() {
		code, _, body, err := get(url + "/work")
		if err == nil && (code != 200 || body != "done") {
			err = fmt.Errorf("%d %q", code, body)
		}
		inflight <- err
	}()
	<-ws.entered
	rt.InitiateShutdown("deploy", nil, 0)
	stopped := stopAsync(rt, prodWait)

	// The gate is closed and the request in flight holds the drain: the
	// server still accepts connections and refuses the work politely.
	code, closing, body, err := get(url + "/hello")
	if err != nil || code != http.StatusServiceUnavailable || !closing || body != "shutting down\n" {
		t.Fatalf("GET /hello during the drain: %d closing=%v %q %v; want 503, Connection: close, shutting down", code, closing, body, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with a request in flight", err)
	case err := <-inflight:
		t.Fatalf("the request in flight ended (%v) before it was released", err)
	default:
	}
	close(ws.hold)
	if err := waitErr(t, inflight, "the request in flight"); err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	if err := waitErr(t, stopped, "Stop"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := get(url + "/hello"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("GET after Stop: %v, want connection refused", err)
	}
}

// TestHTTPServerServesProbesOutsideTheGate: while the drain holds the
// gate closed, the runtime's probes and the handlers marked Ungated
// registered on the server's ServeMux still answer, and the connection is
// marked to close.
func TestHTTPServerServesProbesOutsideTheGate(t *testing.T) {
	mux := http.NewServeMux()
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-hold
	})
	hs := lifecycle.NewHTTPServer("http", &http.Server{Addr: "127.0.0.1:0", Handler: mux, ReadHeaderTimeout: time.Second})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(), lifecycle.WithProviders(hs))
	if err != nil {
		t.Fatal(err)
	}
	probesMux(rt, mux)
	mux.Handle("GET /metrics", lifecycle.Ungated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "in_flight ", rt.Gate().InFlight())
	})))
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _, _ = get(hs.URL() + "/work") }()
	<-entered
	rt.InitiateShutdown("deploy", nil, 0)
	stopped := stopAsync(rt, prodWait)
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/livez", 200, `{"state":"shutting down","live":true}` + "\n"},
		{"/readyz", 503, `{"state":"shutting down","ready":false}` + "\n"},
		{"/metrics", 200, "in_flight 1"},
	} {
		code, closing, body, err := get(hs.URL() + tt.path)
		if err != nil || code != tt.code || body != tt.body || !closing {
			t.Errorf("GET %s during the drain: %d closing=%v %q %v; want %d %q from the probe, Connection: close", tt.path, code, closing, body, err, tt.code, tt.body)
		}
	}
	close(hold)
	if err := waitErr(t, stopped, "Stop"); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPServerAddressInUse: an address another listener holds fails the
// boot with an error naming the provider.
func TestHTTPServerAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hs := lifecycle.NewHTTPServer("api", &http.Server{Addr: ln.Addr().String(), ReadHeaderTimeout: time.Second})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(), lifecycle.WithProviders(hs))
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Start(context.Background())
	var pe *lifecycle.ProviderError
	if !errors.As(err, &pe) || pe.Provider != "api" || pe.Phase != lifecycle.PhaseBoot || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start: %v; want the boot of provider \"api\" failing with address already in use", err)
	}
}

// TestHTTPServerServesOneRun: an http.Server cannot serve after its
// Shutdown, so a second run fails its boot saying so; and an HTTPServer
// belongs to one runtime.
func TestHTTPServerServesOneRun(t *testing.T) {
	hs := lifecycle.NewHTTPServer("http", &http.Server{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(), lifecycle.WithProviders(hs))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err == nil || !strings.Contains(err.Error(), "cannot serve again after its Shutdown") {
		t.Fatalf("second Start: %v; want an error saying the server cannot serve again", err)
	}
	_, err = lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithProviders(hs))
	if err == nil || !strings.Contains(err.Error(), `HTTPServer "http" is registered with another runtime`) {
		t.Fatalf("New with another runtime's HTTPServer: %v", err)
	}
}

// TestHTTPServerBadArguments: a nil server or a server not registered
// with a runtime fails the boot with an error saying so.
func TestHTTPServerBadArguments(t *testing.T) {
	if err := lifecycle.NewHTTPServer("http", nil).Boot(context.Background()); err == nil || err.Error() != `lifecycle: NewHTTPServer "http": nil *http.Server` {
		t.Errorf("Boot with a nil server: %v", err)
	}
	hs := lifecycle.NewHTTPServer("http", &http.Server{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second})
	if err := hs.Boot(context.Background()); err == nil || !strings.Contains(err.Error(), "not registered with a runtime") {
		t.Errorf("Boot of an unregistered server: %v", err)
	}
}

// TestHTTPServerTLS: with a TLSConfig, the server serves TLS.
func TestHTTPServerTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate and a client that trusts it
	client := ts.Client()
	certs := ts.TLS.Certificates
	ts.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello over ", r.Proto) })
	hs := lifecycle.NewHTTPServer("https", &http.Server{Addr: "127.0.0.1:0", Handler: mux, ReadHeaderTimeout: time.Second,
		TLSConfig: &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(), lifecycle.WithProviders(hs))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hs.URL(), "https://") {
		t.Errorf("URL %q, want https", hs.URL())
	}
	resp, err := client.Get(hs.URL() + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS == nil || !strings.HasPrefix(string(b), "hello over HTTP/") {
		t.Errorf("GET over TLS: tls=%v %q", resp.TLS != nil, b)
	}
	client.CloseIdleConnections()
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
}
