//go:build unix

package lifecycle_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// notifySocket is a real unixgram socket playing systemd's part.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
	msgs chan string
}

// listenNotify listens on name (a path, or "@name" for an abstract
// address) and points NOTIFY_SOCKET at it for the test.
func listenNotify(t *testing.T, name string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &notifySocket{t: t, conn: conn, msgs: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	t.Setenv("NOTIFY_SOCKET", name)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	return s
}

// shortDir returns a directory with a short path: a unix socket's path
// must fit in about 100 bytes.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// next returns the next message other than a watchdog ping.
func (s *notifySocket) next() string {
	s.t.Helper()
	for {
		select {
		case m := <-s.msgs:
			if m != "WATCHDOG=1" {
				return m
			}
		case <-time.After(prodWait):
			s.t.Fatal("no notification within the wait")
			return ""
		}
	}
}

// expect checks the next messages, in order; a message given with a
// trailing "=" matches any value of that last variable.
func (s *notifySocket) expect(want ...string) []string {
	s.t.Helper()
	var got []string
	for _, w := range want {
		m := s.next()
		got = append(got, m)
		if m != w && !(strings.HasSuffix(w, "=") && strings.HasPrefix(m, w)) {
			s.t.Fatalf("notification %q, want %q (so far %q)", m, w, got)
		}
	}
	return got
}

// none checks that no message other than a ping arrives for d.
func (s *notifySocket) none(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-s.msgs:
			if m != "WATCHDOG=1" {
				s.t.Fatalf("unexpected notification %q", m)
			}
		case <-deadline:
			return
		}
	}
}

// notifyRun runs a runtime through boot, a reload and a stop, and checks
// what systemd is told. It returns the reload's notification.
func notifyRun(t *testing.T, s *notifySocket) string {
	t.Helper()
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(),
		lifecycle.WithProviders(lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{Reload: func(context.Context) error { return nil }})))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.expect("STATUS=booting", "READY=1\nSTATUS=running")
	if err := rt.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.expect("RELOADING=1\nMONOTONIC_USEC=", "READY=1\nSTATUS=running")
	rt.InitiateShutdown("deploy", nil, 0)
	s.expect("STOPPING=1\nSTATUS=shutting down: deploy")
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
	s.expect("STATUS=stopped")
	s.none(50 * time.Millisecond)
	return got[0]
}

// TestSystemdNotify: under NOTIFY_SOCKET, a socket path, the runtime
// tells systemd each phase.
func TestSystemdNotify(t *testing.T) {
	s := listenNotify(t, filepath.Join(shortDir(t), "notify"))
	reload := notifyRun(t, s)
	if !strings.HasSuffix(reload, "\nSTATUS=reloading") {
		t.Errorf("reload notification %q lacks its status", reload)
	}
}

// TestSystemdNotifiesAFailure: a failed critical task's shutdown names the
// cause in its status.
func TestSystemdNotifiesAFailure(t *testing.T) {
	s := listenNotify(t, filepath.Join(shortDir(t), "notify"))
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(),
		lifecycle.WithTasks(lifecycle.Task{Name: "indexer", Run: func(ctx context.Context) error { return errors.New("index corrupt") }}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.expect("STATUS=booting")
	// The task may fail before or after the runtime is running.
	want := `STOPPING=1` + "\n" + `STATUS=shutting down: task "indexer" failed (attempt 1): index corrupt`
	if m := s.next(); m != want && (m != "READY=1\nSTATUS=running" || s.next() != want) {
		t.Fatalf("notification %q, want the shutdown %q, perhaps after READY", m, want)
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
	s.expect("STATUS=stopped")
}

// TestSystemdWatchdog: with WATCHDOG_USEC, the runtime pings at half the
// interval while healthy, and stops pinging once a critical task has
// failed, though its stop goes on.
func TestSystemdWatchdog(t *testing.T) {
	s := listenNotify(t, filepath.Join(shortDir(t), "notify"))
	t.Setenv("WATCHDOG_USEC", "100000") // 100ms: a ping every 50ms
	fail := make(chan struct{})
	release := make(chan struct{})
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals(),
		lifecycle.WithTasks(lifecycle.Task{Name: "indexer", Run: func(ctx context.Context) error {
			select {
			case <-fail:
				return errors.New("index corrupt")
			case <-ctx.Done():
				return nil
			}
		}}),
		lifecycle.WithProviders(lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{Stop: func(context.Context) error {
			<-release
			return nil
		}})))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pings := 0
	for deadline := time.After(prodWait); pings < 3; {
		select {
		case m := <-s.msgs:
			if m == "WATCHDOG=1" {
				pings++
			}
		case <-deadline:
			t.Fatalf("%d watchdog pings within %v, want 3 at least", pings, prodWait)
		}
	}
	close(fail)
	for m := ""; !strings.HasPrefix(m, "STOPPING=1"); {
		m = s.next()
	}
	stopped := stopAsync(rt, prodWait)
	// A ping sent just before the failure may still be read; none after.
	time.Sleep(150 * time.Millisecond)
	for len(s.msgs) > 0 {
		<-s.msgs
	}
	select {
	case m := <-s.msgs:
		t.Fatalf("%q after the critical task failed, while the stop hangs", m)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := waitErr(t, stopped, "Stop"); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdWatchdogOfAnotherProcess: WATCHDOG_PID naming another
// process means the watchdog is not this one's.
func TestSystemdWatchdogOfAnotherProcess(t *testing.T) {
	s := listenNotify(t, filepath.Join(shortDir(t), "notify"))
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", "1")
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.expect("STATUS=booting", "READY=1\nSTATUS=running")
	select {
	case m := <-s.msgs:
		t.Fatalf("%q: pinged another process's watchdog", m)
	case <-time.After(100 * time.Millisecond):
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdNotifyFailureIsLoggedOnce: a socket nobody listens on is a
// warning, once, not an error per message nor silence.
func TestSystemdNotifyFailureIsLoggedOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(shortDir(t), "nobody"))
	t.Setenv("WATCHDOG_USEC", "")
	core, logs := observer.New(zapcore.DebugLevel)
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.New(core)), lifecycle.WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
	failures := logs.FilterMessage("systemd: cannot notify").All()
	if len(failures) < 2 || failures[0].Level != zapcore.WarnLevel {
		t.Fatalf("failures logged: %v; want a warning, then debug entries", failures)
	}
	for _, e := range failures[1:] {
		if e.Level != zapcore.DebugLevel {
			t.Errorf("a later failure logged at %v, want debug", e.Level)
		}
	}
}

// TestNoNotifySocketNoNotification: without NOTIFY_SOCKET the runtime
// sends nothing, though a socket is there.
func TestNoNotifySocketNoNotification(t *testing.T) {
	s := listenNotify(t, filepath.Join(shortDir(t), "notify"))
	t.Setenv("NOTIFY_SOCKET", "")
	rt, err := lifecycle.New(nil, lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, stopAsync(rt, prodWait), "Stop"); err != nil {
		t.Fatal(err)
	}
	s.none(50 * time.Millisecond)
}
