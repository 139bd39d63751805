//go:build unix

package lifecycle_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// lineWriter collects a process's output and passes on each line.
type lineWriter struct {
	mu    sync.Mutex // guards buf and all
	buf   []byte
	all   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.buf[:i]):
		default: // the test stopped reading; the text stays in all
		}
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// helper is a running helper service.
type helper struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *lineWriter
	stderr *lineWriter
}

func startHelper(t *testing.T, mode string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	h := &helper{
		t:      t,
		cmd:    cmd,
		stdout: &lineWriter{lines: make(chan string, 100)},
		stderr: &lineWriter{lines: make(chan string, 1000)},
	}
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return h
}

// expect waits for a stdout line containing want.
func (h *helper) expect(want string) {
	h.t.Helper()
	for {
		line := waitFor(h.t, h.stdout.lines, "helper output "+strconv.Quote(want)+"; got so far:\n"+h.stdout.String())
		if strings.Contains(line, want) {
			return
		}
	}
}

// expectAll waits for lines containing each of wants, in any order: a bus
// handler prints from its own goroutine, concurrently with the stop.
func (h *helper) expectAll(wants ...string) {
	h.t.Helper()
	left := append([]string(nil), wants...)
	for len(left) > 0 {
		line := waitFor(h.t, h.stdout.lines, "helper output "+strings.Join(left, ", ")+"; got so far:\n"+h.stdout.String())
		for i, want := range left {
			if strings.Contains(line, want) {
				left = append(left[:i], left[i+1:]...)
				break
			}
		}
	}
}

func (h *helper) signal(sig os.Signal) {
	h.t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		h.t.Fatal(err)
	}
}

// exit waits for the helper to exit and returns its exit code.
func (h *helper) exit() int {
	h.t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	err := waitFor(h.t, done, "the helper to exit")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return 0
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a subprocess")
	}
	t.Run("SIGHUP reloads, SIGTERM stops gracefully", func(t *testing.T) {
		h := startHelper(t, "plain")
		h.expect("provider: booted")
		h.expect("event: ready")
		h.signal(syscall.SIGHUP)
		h.expect("provider: reloaded")
		h.expect("event: reload completed applied=true")
		h.signal(syscall.SIGTERM)
		h.expectAll(`event: shutdown initiated reason="signal: terminated"`, "provider: stopping")
		if code := h.exit(); code != 0 {
			t.Fatalf("exit code = %d, want 0\nstderr:\n%s", code, h.stderr)
		}
		logs := h.stderr.String()
		for _, want := range []string{
			`"msg":"booted"`,
			`"msg":"signal received","signal":"hangup"`,
			`"msg":"reload completed"`,
			`"msg":"shutdown initiated","reason":"signal: terminated"`,
			`"msg":"stopped"`,
			`"logger":"lifecycle"`,
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %s:\n%s", want, logs)
			}
		}
	})

	t.Run("a second SIGINT forces the exit", func(t *testing.T) {
		h := startHelper(t, "slowstop")
		h.expect("event: ready")
		h.signal(syscall.SIGINT)
		h.expect("provider: stopping") // blocked until the 10s stop deadline
		h.signal(syscall.SIGINT)
		if code := h.exit(); code != e2eForceCode {
			t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, e2eForceCode, h.stderr)
		}
		if logs := h.stderr.String(); !strings.Contains(logs, `"msg":"second signal during shutdown, forcing exit"`) {
			t.Errorf("logs lack the forced exit:\n%s", logs)
		}
	})
}
