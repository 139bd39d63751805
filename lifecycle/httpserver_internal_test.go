package lifecycle

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// brokenListener fails every Accept, as a listener whose socket was
// closed under the server does.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) {
	return nil, errors.New("accept: bad file descriptor")
}

// TestHTTPServerFailureShutsDown: a server that stops serving on its own
// shuts the runtime down with its error and ExitFailure, rather than
// leaving a process that looks up and serves nothing.
func TestHTTPServerFailureShutsDown(t *testing.T) {
	hs := NewHTTPServer("api", &http.Server{ReadHeaderTimeout: time.Second})
	r, err := New(nil, WithLogger(zap.NewNop()), WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.bindRuntime(r); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hs.serve(r, brokenListener{ln})
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown after the server failed")
	}
	if err := r.Cause(); err == nil || r.ExitCode() != ExitFailure ||
		!strings.Contains(err.Error(), `shutdown: http server "api" failed: accept: bad file descriptor`) {
		t.Fatalf("cause %v, exit code %d; want the server's failure and %d", err, r.ExitCode(), ExitFailure)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
