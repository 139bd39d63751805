package durable_test

import (
	"bufio"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/internal/natstest"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/claviron/fxruntime/natsbridge/internal/demo"
	"github.com/nats-io/nats.go/jetstream"
)

// buildJSPeer builds internal/cmd/jspeer into a temporary directory.
func buildJSPeer(t *testing.T) string { return natstest.Build(t, "../internal/cmd/jspeer") }

// peer is a running jspeer.
type peer struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
	done   chan struct{} // closed when the process has exited and its output is read
}

func startPeer(t *testing.T, bin string, args ...string) *peer {
	t.Helper()
	p := &peer{cmd: exec.Command(bin, args...), lines: make(chan string, 1024), stderr: &strings.Builder{}, done: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		for range p.lines {
		}
		<-p.done
	})
	return p
}

func (p *peer) next(t *testing.T) (string, bool) {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		return l, ok
	case <-time.After(wait):
		t.Fatalf("jspeer: no output within %v; stderr:\n%s", wait, p.stderr.String())
		return "", false
	}
}

// A consumer process is killed with SIGKILL in the middle of 10,000 jobs
// and started again: every job is handled at least once, and the jobs
// handled twice are at most what the killed process had in flight
// (MaxAckPending).
func TestKilledConsumerProcessLosesNothing(t *testing.T) {
	const (
		n             = 10000
		maxAckPending = 100
		killAt        = 3000
	)
	bin := buildJSPeer(t)
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	if _, err := durable.EnsureStream(ctxWait(t), js, demo.JobsStream); err != nil {
		t.Fatal(err)
	}
	pub, err := durable.NewAsyncPublisher(js.Conn(), demo.SubjectJobs, durable.AsyncConfig[demo.Job]{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		if err := pub.Publish(ctxWait(t), demo.Job{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	if st := pub.Stats(); st.Stored != n {
		t.Fatalf("publisher stats %+v", st)
	}
	t.Logf("published %d in %v", n, time.Since(start))
	start = time.Now()
	defer func() { t.Logf("consumed in %v", time.Since(start)) }()
	args := []string{"-url", srv.ClientURL(), "-role", "consume", "-ack-wait", "1s", "-max-ack-pending", strconv.Itoa(maxAckPending)}

	handled := make([]int, n)
	total := 0
	read := func(p *peer, until func() bool) {
		for !until() {
			l, ok := p.next(t)
			if !ok {
				t.Fatalf("jspeer exited; stderr:\n%s", p.stderr.String())
			}
			if l == "ready" {
				continue
			}
			seq, err := strconv.Atoi(strings.TrimPrefix(l, "handled "))
			if err != nil || seq < 0 || seq >= n {
				t.Fatalf("jspeer printed %q", l)
			}
			handled[seq]++
			total++
		}
	}

	first := startPeer(t, bin, args...)
	read(first, func() bool { return total >= killAt })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// What it printed before dying counts: it was handled.
	for l := range first.lines {
		if seq, err := strconv.Atoi(strings.TrimPrefix(l, "handled ")); err == nil {
			handled[seq]++
			total++
		}
	}
	<-first.done
	killedAfter := total

	second := startPeer(t, bin, args...)
	missing := func() int {
		m := 0
		for _, c := range handled {
			if c == 0 {
				m++
			}
		}
		return m
	}
	read(second, func() bool { return total >= n && missing() == 0 })
	dups := total - n
	t.Logf("killed after %d handled; %d jobs handled twice (bound %d)", killedAfter, dups, maxAckPending)
	if dups > maxAckPending {
		t.Errorf("%d duplicates, more than the %d the killed process could have in flight", dups, maxAckPending)
	}
	for seq, c := range handled {
		if c > 2 {
			t.Errorf("job %d handled %d times", seq, c)
		}
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range second.lines {
	}
	<-second.done
	if code := second.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("second consumer exited with %d; stderr:\n%s", code, second.stderr.String())
	}
	cons, err := js.Consumer(ctxWait(t), "JOBS", "workers")
	if err != nil {
		t.Fatal(err)
	}
	// The server takes acknowledgments in on the connection and applies
	// them to the consumer on a goroutine of its own: the last ones may be
	// applied a moment after the process, which flushed them, has exited.
	// An acknowledgment that was lost never moves the ack floor to n.
	var info *jetstream.ConsumerInfo
	acked := func() bool {
		if info, err = cons.Info(ctxWait(t)); err != nil {
			t.Fatal(err)
		}
		return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == n
	}
	deadline := time.Now().Add(wait)
	for !acked() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !acked() {
		t.Errorf("consumer %v after the run: pending %d, ack pending %d, ack floor %d; want all %d acknowledged",
			wait, info.NumPending, info.NumAckPending, info.AckFloor.Stream, n)
	}
}

// The README's quick start: jobs published by one process (twice: the
// second time each is a duplicate, stored once) are handled by a consumer
// process started afterwards, each once, and it stops on SIGINT.
func TestQuickStartPublishTwiceThenConsume(t *testing.T) {
	bin := buildJSPeer(t)
	srv := runJS(t, "", -1)
	lines := func(p *peer) []string {
		var got []string
		for {
			l, ok := p.next(t)
			if !ok {
				return got
			}
			got = append(got, l)
		}
	}
	want := "stored 1 1|stored 2 2|stored 3 3"
	if got := strings.Join(lines(startPeer(t, bin, "-url", srv.ClientURL(), "-role", "publish", "-n", "3")), "|"); got != want {
		t.Fatalf("first publish printed %q, want %q", got, want)
	}
	want = "stored 1 1 duplicate|stored 2 2 duplicate|stored 3 3 duplicate"
	if got := strings.Join(lines(startPeer(t, bin, "-url", srv.ClientURL(), "-role", "publish", "-n", "3")), "|"); got != want {
		t.Fatalf("second publish printed %q, want %q", got, want)
	}
	c := startPeer(t, bin, "-url", srv.ClientURL(), "-role", "consume")
	for _, w := range []string{"ready", "handled 1", "handled 2", "handled 3"} {
		if l, _ := c.next(t); l != w {
			t.Fatalf("consumer printed %q, want %q; stderr:\n%s", l, w, c.stderr.String())
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if rest := lines(c); len(rest) != 0 {
		t.Errorf("consumer printed %q after the three jobs", rest)
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("consumer exit code %d; stderr:\n%s", code, c.stderr.String())
	}
}
