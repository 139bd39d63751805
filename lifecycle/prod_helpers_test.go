package lifecycle_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helpers of the production tests (default logging, exit line, probes,
// HTTP server, shutdown delay, systemd, Main's modules).

// prodWait bounds every wait of these tests.
const prodWait = 10 * time.Second

// prodChildEnv, when set, makes a test run the child's part of itself: the
// value is the mode it asks for.
const prodChildEnv = "LIFECYCLE_PROD_CHILD"

// childMode returns the mode this process was started with by startChild,
// or "" in the parent test.
func childMode() string { return os.Getenv(prodChildEnv) }

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// child is this test binary run again as a real process, running the test
// named test in the given mode.
type child struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  syncBuffer
	stderr  syncBuffer
	exited  chan struct{} // closed when the process has exited; then err is set
	waitErr error
}

func startChild(t *testing.T, test, mode string, env ...string) *child {
	t.Helper()
	c := &child{t: t, exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v=false")
	c.cmd.Env = append(append(os.Environ(), prodChildEnv+"="+mode), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// waitOutput waits until the child's stdout contains want.
func (c *child) waitOutput(want string) {
	c.t.Helper()
	deadline := time.Now().Add(prodWait)
	for !strings.Contains(c.stdout.String(), want) {
		select {
		case <-c.exited:
			if strings.Contains(c.stdout.String(), want) {
				return
			}
			c.t.Fatalf("the child exited without printing %q; stdout:\n%s\nstderr:\n%s", want, c.stdout.String(), c.stderr.String())
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the child did not print %q within %v; stdout:\n%s\nstderr:\n%s", want, prodWait, c.stdout.String(), c.stderr.String())
		}
	}
}

// exit waits for the child to exit and returns its exit code.
func (c *child) exit() int {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(prodWait):
		c.t.Fatalf("the child did not exit within %v; stdout:\n%s\nstderr:\n%s", prodWait, c.stdout.String(), c.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(c.waitErr, &ee) {
		return ee.ExitCode()
	}
	if c.waitErr != nil {
		c.t.Fatal(c.waitErr)
	}
	return 0
}

// stderrLines returns the child's standard error, line by line.
func (c *child) stderrLines() []string {
	s := strings.TrimRight(c.stderr.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// linesWith returns the lines that contain every one of subs.
func linesWith(lines []string, subs ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}
