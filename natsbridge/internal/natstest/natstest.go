// Package natstest holds what the tests of natsbridge's packages share: an
// embedded nats-server on loopback, and helper binaries built for tests
// that need a real second process.
package natstest

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Wait bounds the server's start and stop.
const Wait = 10 * time.Second

// RunServer starts a NATS server on 127.0.0.1 from opts (nil: plain; Port
// 0 or -1: a random port), and shuts it down at the end of the test.
func RunServer(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	o := server.Options{Port: -1}
	if opts != nil {
		o = *opts
	}
	o.Host, o.NoLog, o.NoSigs = "127.0.0.1", true, true
	if o.Port == 0 {
		o.Port = -1
	}
	s, err := server.NewServer(&o)
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(Wait) {
		s.Shutdown()
		tb.Fatalf("nats server on port %d not ready within %v", o.Port, Wait)
	}
	tb.Cleanup(func() { StopServer(s) })
	return s
}

// StopServer shuts s down and waits for it; it may be called again.
func StopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// Build builds the command in dir (a path relative to the test's package)
// into a temporary directory and returns the binary's path.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("no go command to build %s: %v", dir, err)
	}
	bin := filepath.Join(tb.TempDir(), filepath.Base(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a cold build cache takes about a minute
	defer cancel()
	if out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, dir).CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}
