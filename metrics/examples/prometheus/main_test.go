package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The service serves its metrics over HTTP while it runs, and stops with
// exit code 0 when its context ends.
func TestServiceServesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type built struct {
		rt    *lifecycle.Runtime
		admin *Admin
	}
	ready := make(chan built, 1)
	exited := make(chan int, 1)
	go func() {
		exited <- lifecycle.Run(ctx,
			service(Config{Addr: "127.0.0.1:0", Every: 5 * time.Millisecond}),
			fx.NopLogger,
			lifecycle.With(lifecycle.WithoutSignals()),
			fx.Invoke(func(rt *lifecycle.Runtime, a *Admin) { ready <- built{rt, a} }),
		)
	}()
	var b built
	select {
	case b = <-ready:
	case code := <-exited:
		t.Fatalf("the service exited with %d before it was built", code)
	case <-time.After(5 * time.Second):
		t.Fatal("the service was not built")
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := b.rt.WaitRunning(wctx); err != nil {
		t.Fatal(err)
	}

	want := []string{
		`fxruntime_state{fxruntime_state="running",`,
		`fxbus_subscription_count{fxbus_event_type="github.com/claviron/fxruntime/metrics/examples/prometheus.OrderPlaced",`,
		`fxruntime_task_starts_total{fxruntime_task_name="orders",`,
		`go_goroutines `,
	}
	// The task emits every 5ms and the handler of the runtime's events runs
	// on its own goroutine: scrape until every series is there.
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		body = get(t, b.admin.URL())
		if containsAll(body, want) && strings.Contains(body, `fxbus_emitted_events_total{fxbus_event_type="github.com/claviron/fxruntime/metrics/examples/prometheus.OrderPlaced",`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /metrics lacks one of %q:\n%s", want, body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the service did not stop")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
