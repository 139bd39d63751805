package leader_test

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/internal/natstest"
)

// buildJSPeer builds internal/cmd/jspeer into a temporary directory.
func buildJSPeer(t *testing.T) string { return natstest.Build(t, "../internal/cmd/jspeer") }

// mark is a line of a singleton replica: start, beat or stop.
type mark struct {
	replica string
	kind    string
	token   uint64
	at      time.Time
}

// fleet gathers the marks of every replica, in the order read.
type fleet struct {
	mu    sync.Mutex
	marks []mark
	ready map[string]bool
}

func (f *fleet) snapshot() []mark {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mark(nil), f.marks...)
}

// Three replicas run a singleton task; the leader is killed with SIGKILL;
// another replica runs the task within TTL plus one renewal (and a margin
// for scheduling), and at no instant did two replicas run it: each term
// starts after the previous ended (the killed one at the kill), and the
// fencing tokens strictly grow.
func TestLeaderKilledAnotherReplicaTakesOver(t *testing.T) {
	const (
		ttl    = time.Second
		renew  = 250 * time.Millisecond
		margin = 750 * time.Millisecond // the server's expiry timer and process start-up on a shared 2-core machine
	)
	bin := buildJSPeer(t)
	srv := runJS(t)
	var fl fleet
	fl.ready = map[string]bool{}
	procs := map[string]*exec.Cmd{}
	var readers sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		cmd := exec.Command(bin, "-url", srv.ClientURL(), "-role", "singleton", "-id", id, "-ttl", ttl.String(), "-renew", renew.String())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = &logWriter{t: t, id: id}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[id] = cmd
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var m mark
				var ns int64
				if sc.Text() == "ready" {
					fl.mu.Lock()
					fl.ready[id] = true
					fl.mu.Unlock()
					continue
				}
				if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &m.kind, &m.token, &ns); err != nil {
					t.Errorf("replica %s printed %q", id, sc.Text())
					continue
				}
				m.replica, m.at = id, time.Unix(0, ns)
				fl.mu.Lock()
				fl.marks = append(fl.marks, m)
				fl.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		for _, cmd := range procs {
			_ = cmd.Process.Kill()
		}
		readers.Wait()
		for _, cmd := range procs {
			_ = cmd.Wait()
		}
	})
	starts := func() []mark {
		var s []mark
		for _, m := range fl.snapshot() {
			if m.kind == "start" {
				s = append(s, m)
			}
		}
		return s
	}
	eventually(t, "a leader", func() bool { return len(starts()) == 1 })
	eventually(t, "all replicas campaigning", func() bool { fl.mu.Lock(); defer fl.mu.Unlock(); return len(fl.ready) == 3 })
	time.Sleep(3 * renew) // the others campaign and lose meanwhile
	first := starts()[0]
	if err := procs[first.replica].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	eventually(t, "another replica leads", func() bool { return len(starts()) == 2 })
	second := starts()[1]
	took := second.at.Sub(killed)
	t.Logf("%s (token %d) killed; %s (token %d) started %v later (TTL %v, renew %v)", first.replica, first.token, second.replica, second.token, took, ttl, renew)
	if took > ttl+renew+margin {
		t.Errorf("takeover took %v, more than TTL+renew+margin %v", took, ttl+renew+margin)
	}
	if second.replica == first.replica || second.token <= first.token {
		t.Errorf("second term %+v after %+v: want another replica, a greater token", second, first)
	}
	// Let the new leader beat a little, then stop it gracefully: the third
	// replica takes over at once, its term starting after the stop.
	time.Sleep(3 * renew)
	if err := procs[second.replica].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third replica leads", func() bool { return len(starts()) == 3 })
	time.Sleep(2 * renew)

	// No two terms overlap: every mark of a term lies between its start
	// and the next term's start, the killed leader's beats end before the
	// kill, and tokens grow with time.
	marks := fl.snapshot()
	ends := map[uint64]time.Time{first.token: killed}
	for _, m := range marks {
		if m.kind == "stop" {
			ends[m.token] = m.at
		}
	}
	s := starts()
	for i := 1; i < len(s); i++ {
		prev, cur := s[i-1], s[i]
		if cur.token <= prev.token {
			t.Errorf("token %d after %d", cur.token, prev.token)
		}
		end, ok := ends[prev.token]
		if !ok || !cur.at.After(end) {
			t.Errorf("term %d of %s started at %v, before term %d of %s ended (%v, known %v)", cur.token, cur.replica, cur.at, prev.token, prev.replica, end, ok)
		}
	}
	for _, m := range marks {
		for i, st := range s {
			if m.token == st.token && i+1 < len(s) && m.at.After(s[i+1].at) {
				t.Errorf("%s of term %d at %v, after term %d began", m.kind, m.token, m.at, s[i+1].token)
			}
		}
	}
}

// logWriter passes a replica's standard error to the test log.
type logWriter struct {
	t  *testing.T
	id string
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Logf("replica %s: %s", w.id, strings.TrimSpace(string(p)))
	return len(p), nil
}
