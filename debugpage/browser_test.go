package debugpage_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browserEnv enables TestBrowserRendersThePage, which needs Chromium
// (the Debian package "chromium"); .ci/run installs it and sets it.
const browserEnv = "FXRUNTIME_BROWSER_TEST"

// TestBrowserRendersThePage loads the page in a real headless Chromium,
// driven over the DevTools protocol, and checks the text it renders
// (document.body.innerText), that it fetched nothing but the page, and that
// it draws something.
func TestBrowserRendersThePage(t *testing.T) {
	if os.Getenv(browserEnv) != "1" {
		t.Skipf("set %s=1 to load the page in headless Chromium (.ci/run does)", browserEnv)
	}
	bin := chromiumBinary(t)
	s := newService(t)
	url := s.srv.URL + "/debug/fxruntime"

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startBrowser(t, ctx, bin)
	target := b.call(t, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	attached := b.call(t, "", "Target.attachToTarget", map[string]any{"targetId": target["targetId"], "flatten": true})
	sid, _ := attached["sessionId"].(string)
	b.call(t, sid, "Network.enable", nil)
	b.call(t, sid, "Page.enable", nil)
	b.call(t, sid, "Page.navigate", map[string]any{"url": url})
	b.waitEvent(t, sid, "Page.loadEventFired")

	got := b.call(t, sid, "Runtime.evaluate", map[string]any{"expression": "document.body.innerText", "returnByValue": true})
	text := fmt.Sprint(got["result"].(map[string]any)["value"])
	// innerText separates table cells with tabs and rows with newlines.
	flat := regexp.MustCompile(`[ \t]+`).ReplaceAllString(text, " ")
	for _, want := range []string{
		"fxruntime running",
		"state running (ready)",
		"gate 1 in flight",
		"1 db normal",
		`2 cache early db: After(ByName("cache"), ByName("db"))`,
		"sync running 3 restart 2 upstream 503 ...",
		"optional stopped 1 ignore 0 feature off",
		"lifecycle.Event 14 0 0 2",
		"lifecycle.TaskFailedEvent (3)",
		"{Name:sync Attempt:3}",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the rendered page has no %q", want)
		}
	}
	if t.Failed() {
		t.Logf("rendered text:\n%s", text)
	}

	var fetched []string
	for _, ev := range b.events {
		if ev.Method == "Network.requestWillBeSent" && ev.SessionID == sid {
			var p struct {
				Request struct{ URL string } `json:"request"`
			}
			_ = json.Unmarshal(ev.Params, &p)
			fetched = append(fetched, p.Request.URL)
		}
	}
	if len(fetched) != 1 || fetched[0] != url {
		t.Errorf("the page fetched %q, want only itself", fetched)
	}

	shot := b.call(t, sid, "Page.captureScreenshot", map[string]any{"format": "png"})
	raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(shot["data"]))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		t.Fatalf("screenshot of %v", r)
	}
}

// chromiumBinary finds Chromium: $FXRUNTIME_CHROMIUM, or on the PATH.
func chromiumBinary(t *testing.T) string {
	if bin := os.Getenv("FXRUNTIME_CHROMIUM"); bin != "" {
		return bin
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Fatalf("%s=1 but no chromium on the PATH: apt-get install -y chromium, or set FXRUNTIME_CHROMIUM", browserEnv)
	return ""
}

// browser is a headless Chromium driven over the DevTools protocol on a
// pair of pipes (--remote-debugging-pipe: it reads commands on its fd 3
// and writes replies and events on its fd 4, each a JSON object ended by a
// NUL byte).
type browser struct {
	in     *os.File // its fd 3
	out    *bufio.Reader
	ctx    context.Context
	nextID int
	events []cdpMessage // every event read so far
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    map[string]any  `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func startBrowser(t *testing.T, ctx context.Context, bin string) *browser {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--remote-debugging-pipe",
		"--no-sandbox", // as root in a container; the page is ours
		"--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--window-size=1200,1000",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW} // fds 3 and 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	cmdR.Close()
	outW.Close()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmdW.Close() // Chromium exits when its command pipe closes
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		outR.Close()
		if t.Failed() {
			t.Logf("chromium's stderr:\n%s", stderr.String())
		}
	})
	go func() {
		<-ctx.Done() // the test's deadline: unblock a read
		_ = cmd.Process.Kill()
	}()
	return &browser{in: cmdW, out: bufio.NewReader(outR), ctx: ctx}
}

// call sends a command (to the browser, or to the page of session) and
// returns its result, keeping the events read meanwhile.
func (b *browser) call(t *testing.T, session, method string, params map[string]any) map[string]any {
	t.Helper()
	b.nextID++
	msg := map[string]any{"id": b.nextID, "method": method}
	if session != "" {
		msg["sessionId"] = session
	}
	if params != nil {
		msg["params"] = params
	}
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	for {
		m := b.read(t, method)
		if m.ID == b.nextID {
			if m.Error != nil {
				t.Fatalf("%s: %s", method, m.Error.Message)
			}
			return m.Result
		}
	}
}

// waitEvent reads until the event method of session.
func (b *browser) waitEvent(t *testing.T, session, method string) {
	t.Helper()
	for _, ev := range b.events {
		if ev.Method == method && ev.SessionID == session {
			return
		}
	}
	for {
		if m := b.read(t, method); m.Method == method && m.SessionID == session {
			return
		}
	}
}

func (b *browser) read(t *testing.T, waitingFor string) cdpMessage {
	t.Helper()
	line, err := b.out.ReadBytes(0)
	if err != nil {
		t.Fatalf("waiting for %s: reading from chromium: %v (context: %v)", waitingFor, err, b.ctx.Err())
	}
	var m cdpMessage
	if err := json.Unmarshal(line[:len(line)-1], &m); err != nil {
		t.Fatalf("waiting for %s: %v in %q", waitingFor, err, line)
	}
	if m.Method != "" {
		b.events = append(b.events, m)
	}
	return m
}
