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
	t.Run("bad flag", func(t *testing.T) { testBadFlag(t, bin) })
}

// testServe runs the demo in serve mode: probes, a slow request, SIGHUP,
// then SIGTERM while the request is in flight. The readiness probe must
// turn 503 while the server still answers, the request must complete, and
// the process must exit 0.
func testServe(t *testing.T, bin string) {
	good, err := filepath.Abs("../../testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-serve", "-addr", "127.0.0.1:0", "-config", good)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited; then waitErr is set
	var waitErr error
	out := readLines(stdout)
	go func() {
		<-out.done // Wait closes the pipe: read it to the end first
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	const timeout = 5 * time.Second
	m, next := out.waitLine(t, 0, regexp.MustCompile(`ServerListening +(http://127\.0\.0\.1:\d+)$`), timeout)
	url := m[1]
	_, next = out.waitLine(t, next, regexp.MustCompile(`lifecycle\.Ready`), timeout)

	client := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(path string) (int, error) {
		resp, err := client.Get(url + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, err := get(path); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d, %v; want 200", path, code, err)
		}
	}

	// A slow request, admitted before the shutdown.
	work := make(chan error, 1)
	go func() {
		code, err := get("/work?ms=1500")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		work <- err
	}()
	_, next = out.waitLine(t, next, regexp.MustCompile(`WorkStarted +1.5s of work admitted`), timeout)

	// SIGHUP reloads the file.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	_, next = out.waitLine(t, next, regexp.MustCompile(`lifecycle\.ReloadCompleted +applied`), timeout)

	// SIGTERM while /work is in flight: the server still answers, and
	// /readyz says 503, until the request has drained.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		code, err := get("/readyz")
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
	case <-exited:
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

	select {
	case <-exited:
		err := waitErr
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("exit code %d, want 0; stderr:\n%s\nstdout:\n%s", exit.ExitCode(), stderr.String(), out.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(timeout):
		t.Fatalf("the demo did not exit after SIGTERM:\n%s", out.String())
	}
	for _, want := range []string{
		`fxbus.ShutdownInitiated +reason "signal: terminated"`,
		`RequestServed +GET /work\?ms=1500 -> 200`,
		`lifecycle.GateDrained`,
		`ServerStopped`,
		`lifecycle.Stopped`,
	} {
		out.waitLine(t, next, regexp.MustCompile(want), timeout)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// testBadFlag checks that a bad flag is one line on stderr and exit code
// 2, not a stack trace.
func testBadFlag(t *testing.T, bin string) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-nope")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("err %v, want exit code 2", err)
	}
	if got, want := stderr.String(), "demo: flag provided but not defined: -nope (see demo -h)\n"; got != want || stdout.Len() > 0 {
		t.Errorf("stderr %q, stdout %q; want stderr %q", got, stdout.String(), want)
	}
}
