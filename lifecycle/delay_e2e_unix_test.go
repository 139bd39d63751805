//go:build unix

package lifecycle_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// The service of TestShutdownDelayEndToEnd.
const (
	e2eDelay       = 2 * time.Second
	e2eStopTimeout = 10 * time.Second
)

// delayServiceMain is the child's part of TestShutdownDelayEndToEnd: a
// service run by lifecycle.Main, as the README shows it, with a shutdown
// delay, the runtime's probes and an HTTPServer whose /work?ms=N takes N
// milliseconds. It prints its URL once running, and a line when a long
// request is admitted.
func delayServiceMain() int {
	var hs *lifecycle.HTTPServer
	return lifecycle.Main(
		fx.NopLogger,
		fx.StopTimeout(e2eStopTimeout),
		fx.Supply(lifecycle.Config{ShutdownDelay: e2eDelay}),
		lifecycle.AsProvider(func(rt *lifecycle.Runtime) *lifecycle.HTTPServer {
			mux := http.NewServeMux()
			mux.Handle("GET /readyz", rt.ReadinessHandler())
			mux.Handle("GET /livez", rt.LivenessHandler())
			mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
				ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
				if ms > 100 {
					fmt.Printf("work %d admitted\n", ms)
				}
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
					fmt.Fprint(w, "done")
				case <-r.Context().Done():
				}
			})
			hs = lifecycle.NewHTTPServer("http", &http.Server{Addr: "127.0.0.1:0", Handler: mux, ReadHeaderTimeout: time.Second})
			return hs
		}),
		lifecycle.AsTask(func(rt *lifecycle.Runtime) lifecycle.Task {
			return lifecycle.Task{Name: "announce", Run: func(ctx context.Context) error {
				if rt.WaitRunning(ctx) == nil {
					fmt.Println("listening", hs.URL())
				}
				return nil
			}}
		}),
	)
}

// TestShutdownDelayEndToEnd runs a service with Config.ShutdownDelay as a
// child process, sends it a real SIGTERM while a request is in flight, and
// checks from outside, over real connections: readiness turns 503 at once;
// requests sent during the delay, after readiness turned, are served; then
// new work gets 503, no earlier than the delay after the signal; the
// request in flight completes; the process exits 0 within its stop
// budget, having written nothing to stderr.
func TestShutdownDelayEndToEnd(t *testing.T) {
	if childMode() == "delay service" {
		os.Exit(delayServiceMain())
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	c := startChild(t, "TestShutdownDelayEndToEnd", "delay service")
	c.waitOutput("listening http://")
	url := regexp.MustCompile(`listening (http://\S+)`).FindStringSubmatch(c.stdout.String())[1]

	if code, _, body, err := get(url + "/readyz"); err != nil || code != 200 {
		t.Fatalf("GET /readyz while running: %d %q %v", code, body, err)
	}
	inflight := make(chan error, 1)
	go func() {
		code, _, body, err := get(url + "/work?ms=3000")
		if err == nil && (code != 200 || body != "done") {
			err = fmt.Errorf("%d %q", code, body)
		}
		inflight <- err
	}()
	c.waitOutput("work 3000 admitted")

	signalled := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness turns at once: well before the delay is over.
	for {
		code, _, _, err := get(url + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz after SIGTERM: %v", err)
		}
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Since(signalled) > e2eDelay/2 {
			t.Fatalf("/readyz still %d %v after SIGTERM", code, time.Since(signalled))
		}
		time.Sleep(2 * time.Millisecond)
	}
	unready := time.Since(signalled)

	// New work is still served during the delay, then refused.
	served := 0
	var refused time.Duration
	for refused == 0 {
		code, closing, _, err := get(url + "/work?ms=1")
		switch {
		case err != nil:
			t.Fatalf("GET /work during the shutdown: %v (after %v)", err, time.Since(signalled))
		case code == 200:
			served++
			if !closing {
				t.Errorf("a response during the delay lacks Connection: close")
			}
		case code == http.StatusServiceUnavailable:
			refused = time.Since(signalled)
		default:
			t.Fatalf("GET /work during the shutdown: status %d", code)
		}
		if time.Since(signalled) > e2eStopTimeout {
			t.Fatal("new work was still admitted after the stop budget")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if served == 0 {
		t.Errorf("no request was served between readiness turning (%v) and the gate closing (%v)", unready, refused)
	}
	if refused < e2eDelay {
		t.Errorf("new work refused %v after SIGTERM, before the delay %v was over", refused, e2eDelay)
	}

	select {
	case err := <-inflight:
		if err != nil {
			t.Fatalf("the request in flight: %v", err)
		}
	case <-time.After(prodWait):
		t.Fatal("the request in flight did not complete")
	}
	if code := c.exit(); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, c.stderr.String())
	}
	if took := time.Since(signalled); took > e2eStopTimeout {
		t.Errorf("the process exited %v after SIGTERM, past its stop budget %v", took, e2eStopTimeout)
	}
	if c.stderr.String() != "" {
		t.Errorf("stderr after a clean shutdown:\n%s", c.stderr.String())
	}
	t.Logf("unready after %v; %d requests served during the delay; work refused after %v", unready, served, refused)
}
