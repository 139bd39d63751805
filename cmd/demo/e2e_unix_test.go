//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildDemo builds the demo binary into a temporary directory.
func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// output collects a process's stdout line by line.
type output struct {
	mu    sync.Mutex
	lines []string
	added chan struct{} // closed, and replaced, when a line is added
	done  chan struct{} // closed at EOF
}

func readLines(r io.Reader) *output {
	o := &output{added: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			o.mu.Lock()
			o.lines = append(o.lines, sc.Text())
			close(o.added)
			o.added = make(chan struct{})
			o.mu.Unlock()
		}
	}()
	return o
}

// waitLine waits for the first line from line number from on that matches
// re, and returns its submatches and the number of the next line.
func (o *output) waitLine(t *testing.T, from int, re *regexp.Regexp, timeout time.Duration) ([]string, int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		for i := from; i < len(o.lines); i++ {
			if m := re.FindStringSubmatch(o.lines[i]); m != nil {
				o.mu.Unlock()
				return m, i + 1
			}
		}
		added := o.added
		o.mu.Unlock()
		select {
		case <-added:
		case <-o.done:
			t.Fatalf("the demo's output ended without a line matching %q:\n%s", re, o.String())
		case <-deadline:
			t.Fatalf("no line matching %q within %v:\n%s", re, timeout, o.String())
		}
	}
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

// TestBinary builds the demo and runs the binary as a user would.
func TestBinary(t *testing.T) {
	bin := buildDemo(t)
	t.Run("serve end to end", func(t *testing.T) { testServe(t, bin) })
	t.Run("second signal forces the exit", func(t *testing.T) { testForced(t, bin) })
	t.Run("bad flag", func(t *testing.T) { testBadFlag(t, bin) })
}

// service is the demo binary running in serve mode.
type service struct {
	cmd     *exec.Cmd
	out     *output
	stderr  bytes.Buffer
	exited  chan struct{} // closed when the process has exited; then waitErr is set
	waitErr error
	url     string // the server's base URL, read from the timeline
	next    int    // the output line to look for the next event from
	client  *http.Client
}

// serve starts the demo in serve mode and waits until it is ready. The
// process is killed at the end of the test if it is still running.
func serve(t *testing.T, bin string) *service {
	t.Helper()
	good, err := filepath.Abs("../../testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	s := &service{
		cmd:    exec.Command(bin, "-serve", "-addr", "127.0.0.1:0", "-config", good),
		exited: make(chan struct{}),
		client: &http.Client{Timeout: timeout, Transport: &http.Transport{}},
	}
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.out = readLines(stdout)
	go func() {
		<-s.out.done // Wait closes the pipe: read it to the end first
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.client.CloseIdleConnections()
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	m := s.waitEvent(t, `ServerListening +(http://127\.0\.0\.1:\d+)$`)
	s.url = m[1]
	s.waitEvent(t, `lifecycle\.ReadyEvent`)
	return s
}

// waitEvent waits for the next line of the timeline matching re.
func (s *service) waitEvent(t *testing.T, re string) []string {
	t.Helper()
	m, next := s.out.waitLine(t, s.next, regexp.MustCompile(re), timeout)
	s.next = next
	return m
}

// get requests path and returns the status code.
func (s *service) get(path string) (int, error) {
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// work starts a /work request of ms milliseconds and waits until the gate
// has admitted it. The channel receives its outcome.
func (s *service) work(t *testing.T, ms int) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		code, err := s.get(fmt.Sprintf("/work?ms=%d", ms))
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		done <- err
	}()
	s.waitEvent(t, `WorkStarted +\S+ of work admitted`)
	return done
}

func (s *service) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (s *service) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		t.Fatalf("the demo did not exit:\n%s", s.out.String())
	}
	var exit *exec.ExitError
	if errors.As(s.waitErr, &exit) {
		return exit.ExitCode()
	}
	if s.waitErr != nil {
		t.Fatal(s.waitErr)
	}
	return 0
}

// testServe: probes, a slow request, SIGHUP, then SIGTERM while the
// request is in flight. The readiness probe must turn 503 while the
// server still answers, the request must complete, and the process must
// exit 0.
func testServe(t *testing.T, bin string) {
	s := serve(t, bin)
	for _, path := range []string{"/healthz", "/readyz", "/debug/fxruntime", "/debug/fxruntime.json"} {
		if code, err := s.get(path); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d, %v; want 200", path, code, err)
		}
	}
	work := s.work(t, 1500)

	s.signal(t, syscall.SIGHUP)
	s.waitEvent(t, `lifecycle\.ReloadCompletedEvent +applied`)

	// SIGTERM while /work is in flight: the server still answers, and
	// /readyz says 503, until the request has drained.
	s.signal(t, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for {
		code, err := s.get("/readyz")
		if err != nil {
			t.Fatalf("GET /readyz after SIGTERM, with /work in flight: %v", err)
		}
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %v after SIGTERM", code, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-s.exited:
		t.Fatal("the demo exited before the in-flight request completed")
	case err := <-work:
		t.Fatalf("the /work request ended (%v) before /readyz turned 503: nothing was in flight", err)
	default: // 503 while the request holds the drain open
	}
	select {
	case err := <-work:
		if err != nil {
			t.Fatalf("the in-flight /work request: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("the in-flight /work request did not complete")
	}

	if code := s.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s\nstdout:\n%s", code, s.stderr.String(), s.out.String())
	}
	for _, want := range []string{
		`fxbus.ShutdownInitiatedEvent +reason "signal: terminated"`,
		`lifecycle.GateDrainedEvent`,
		`ServerStopped`,
		`lifecycle.StoppedEvent`,
	} {
		s.waitEvent(t, want)
	}
	if s.stderr.Len() > 0 {
		t.Errorf("stderr: %s", s.stderr.String())
	}
}

// testForced: a second SIGTERM during the drain forces the exit with code
// 3 and one line on stderr, lifecycle.Run's.
func testForced(t *testing.T, bin string) {
	s := serve(t, bin)
	work := s.work(t, 3000)
	s.signal(t, syscall.SIGTERM)
	s.waitEvent(t, `fxbus.ShutdownInitiatedEvent`)
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t); code != 3 {
		t.Fatalf("exit code %d, want 3; stderr:\n%s", code, s.stderr.String())
	}
	s.waitEvent(t, `lifecycle.ShutdownForcedEvent +second terminated: exit code 3`)
	if got, want := s.stderr.String(), "lifecycle: exit code 3: a second signal forced the exit during the shutdown: signal: terminated\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	select {
	case err := <-work:
		if err == nil {
			t.Error("the /work request completed, though the exit was forced")
		}
	case <-time.After(timeout):
		t.Error("the /work request did not end with the process")
	}
}

// testBadFlag checks that a bad flag is one line on stderr and exit code
// 2, not a stack trace; and that an address the server cannot listen on
// fails the boot with exit code 1 and one line on stderr, lifecycle.Run's.
func testBadFlag(t *testing.T, bin string) {
	good, err := filepath.Abs("../../testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "-serve", "-config", good, "-addr", "127.0.0.1:99999")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("bad address: err %v, want exit code 1; stderr:\n%s", err, errOut.String())
	}
	want := "lifecycle: exit code 1: shutdown: boot failed: provider \"http\": boot: listen tcp: address 99999: invalid port\n"
	if got := errOut.String(); got != want {
		t.Errorf("bad address: stderr %q, want %q", got, want)
	}

	var stdout, stderr bytes.Buffer
	cmd = exec.Command(bin, "-nope")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("err %v, want exit code 2", err)
	}
	if got, want := stderr.String(), "demo: flag provided but not defined: -nope (see demo -h)\n"; got != want || stdout.Len() > 0 {
		t.Errorf("stderr %q, stdout %q; want stderr %q", got, stdout.String(), want)
	}
}
