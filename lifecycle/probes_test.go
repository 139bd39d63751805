package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
)

// probe requests url and returns the status code and the body.
func probe(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	return resp.StatusCode, string(b)
}

// TestProbeHandlers serves the runtime's probe handlers on a real server
// on loopback and reads them through every state of a run: readiness is
// 200 only while running (and reloading, unless asked otherwise);
// liveness is 200 until the runtime stops, or a failing shutdown begins.
func TestProbeHandlers(t *testing.T) {
	reloading := make(chan struct{})
	release := make(chan struct{})
	slowReload := lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{Reload: func(context.Context) error {
		close(reloading)
		<-release
		return nil
	}})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(), lifecycle.WithProviders(slowReload))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/readyz", rt.ReadinessHandler())
	mux.Handle("/readyz-strict", rt.ReadinessHandler(lifecycle.UnreadyWhileReloading()))
	mux.Handle("/livez", rt.LivenessHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()

	type want struct {
		path string
		code int
		body string
	}
	check := func(step string, wants ...want) {
		t.Helper()
		for _, w := range wants {
			code, body := probe(t, client, srv.URL+w.path)
			if code != w.code || body != w.body {
				t.Errorf("%s: GET %s = %d %q, want %d %q", step, w.path, code, body, w.code, w.body)
			}
		}
	}

	check("booting",
		want{"/readyz", 503, `{"state":"booting","ready":false}` + "\n"},
		want{"/livez", 200, `{"state":"booting","live":true}` + "\n"})

	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	check("running",
		want{"/readyz", 200, `{"state":"running","ready":true}` + "\n"},
		want{"/readyz-strict", 200, `{"state":"running","ready":true}` + "\n"},
		want{"/livez", 200, `{"state":"running","live":true}` + "\n"})

	reloaded := make(chan error, 1)
	go func() { reloaded <- rt.Reload(ctx) }()
	<-reloading
	check("reloading",
		want{"/readyz", 200, `{"state":"reloading","ready":true}` + "\n"},
		want{"/readyz-strict", 503, `{"state":"reloading","ready":false}` + "\n"})
	close(release)
	if err := waitErr(t, reloaded, "the reload"); err != nil {
		t.Fatal(err)
	}

	rt.InitiateShutdown("deploy", nil, 0)
	check("shutting down",
		want{"/readyz", 503, `{"state":"shutting down","ready":false}` + "\n"},
		want{"/livez", 200, `{"state":"shutting down","live":true}` + "\n"})

	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
	check("stopped",
		want{"/readyz", 503, `{"state":"stopped","ready":false}` + "\n"},
		want{"/livez", 503, `{"state":"stopped","live":false}` + "\n"})
}

// TestLivenessFailsWithAFailingShutdown: once a critical task has failed,
// liveness is 503 while the process stops, so that a stop that hangs is
// ended by the orchestrator.
func TestLivenessFailsWithAFailingShutdown(t *testing.T) {
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(),
		lifecycle.WithTasks(lifecycle.Task{Name: "indexer", Run: func(context.Context) error { return errors.New("index corrupt") }}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt.LivenessHandler())
	defer srv.Close()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-rt.Done()
	if code, body := probe(t, srv.Client(), srv.URL); code != 503 || body != `{"state":"shutting down","live":false}`+"\n" {
		t.Errorf("liveness after the critical task failed: %d %q, want 503 and live false", code, body)
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
}
