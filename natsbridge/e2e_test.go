package natsbridge_test

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/internal/natstest"
)

// buildPeer builds internal/cmd/bridgepeer into a temporary directory.
func buildPeer(t *testing.T) string { return natstest.Build(t, "./internal/cmd/bridgepeer") }

// lines sends each line of r on the returned channel, which is closed at
// EOF.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// nextLine returns the next line, failing the test after wait.
func nextLine(t *testing.T, who string, ch <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("%s: output ended", who)
		}
		return l
	case <-time.After(wait):
		t.Fatalf("%s: no output within %v", who, wait)
		return ""
	}
}

// Two processes, one server: greetings emitted in one arrive in the other
// as the same Go type, replies come back, and the listener learns that
// the sayer left.
func TestTwoProcesses(t *testing.T) {
	bin := buildPeer(t)
	srv := runServer(t, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	listener := exec.CommandContext(ctx, bin, "-url", srv.ClientURL(), "-role", "listen", "-stdin")
	stdin, err := listener.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	lout, err := listener.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var lerr strings.Builder
	listener.Stderr = &lerr
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	heard := lines(lout)
	defer func() {
		stdin.Close()
		if err := listener.Wait(); err != nil {
			t.Errorf("listener: %v\n%s", err, lerr.String())
		}
	}()
	if l := nextLine(t, "listener", heard); l != "ready" {
		t.Fatalf("listener said %q first, want ready", l)
	}

	sayer := exec.CommandContext(ctx, bin, "-url", srv.ClientURL(), "-role", "say", "-name", "sayer", "-n", "3", "-text", "hi")
	out, err := sayer.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("sayer: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}

	// Every greeting arrives in order as demo.Greeting, then the sayer's
	// leaving; the sayer saw a reply to each as demo.Reply.
	want := []string{
		"received demo.Greeting {From:sayer Text:hi Seq:1}",
		"received demo.Greeting {From:sayer Text:hi Seq:2}",
		"received demo.Greeting {From:sayer Text:hi Seq:3}",
		"peer left: sayer (fx: application stopping)",
	}
	var got []string
	for range want {
		got = append(got, nextLine(t, "listener", heard))
	}
	// The leaving is published when the sayer's stop begins, after all
	// replies were in: it cannot overtake the greetings.
	if !slices.Equal(got, want) {
		t.Errorf("listener printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantSayer := "received demo.Reply {To:sayer Seq:1}\nreceived demo.Reply {To:sayer Seq:2}\nreceived demo.Reply {To:sayer Seq:3}\n"
	if string(out) != wantSayer {
		t.Errorf("sayer printed\n%s\nwant\n%s", out, wantSayer)
	}
}
