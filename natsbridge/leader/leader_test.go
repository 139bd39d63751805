package leader_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge/leader"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const wait = 10 * time.Second

func runJS(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		s.Shutdown()
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		nc.Close()
		<-done
	})
	return nc
}

// replica is one Singleton run in this process.
type replica struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// terms records who ran when, and checks that no two ran at once.
type terms struct {
	running atomic.Int32
	overlap atomic.Bool
	mu      sync.Mutex
	tokens  []uint64
	causes  []error
}

func (tm *terms) fn(ctx context.Context, token uint64) error {
	if tm.running.Add(1) > 1 {
		tm.overlap.Store(true)
	}
	tm.mu.Lock()
	tm.tokens = append(tm.tokens, token)
	tm.mu.Unlock()
	<-ctx.Done()
	tm.mu.Lock()
	tm.causes = append(tm.causes, context.Cause(ctx))
	tm.mu.Unlock()
	tm.running.Add(-1)
	return ctx.Err()
}

func (tm *terms) count() int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return len(tm.tokens)
}

func start(t *testing.T, nc *nats.Conn, cfg leader.Config, f leader.Func) *replica {
	t.Helper()
	s, err := leader.New(leader.Client(nc), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Fatal("Run did not return")
		}
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two replicas: one runs the task; when it shuts down it gives leadership
// up, the other takes over at once (well within the TTL) with a greater
// token, and the bus saw both changes.
func TestOneLeaderAtATimeAndHandoverOnShutdown(t *testing.T) {
	srv := runJS(t)
	bus, err := fxbus.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	elected, lost := fxbus.Subscribe[leader.ElectedEvent](bus), fxbus.Subscribe[leader.LostEvent](bus)
	defer elected.Close()
	defer lost.Close()

	var tm terms
	cfg := leader.Config{Bucket: "leaders", Group: "cleanup", TTL: 3 * time.Second, Renew: 100 * time.Millisecond, Bus: bus}
	a := start(t, connect(t, srv.ClientURL()), withID(cfg, "a"), tm.fn)
	eventually(t, "a leader", func() bool { return tm.count() == 1 })
	b := start(t, connect(t, srv.ClientURL()), withID(cfg, "b"), tm.fn)
	time.Sleep(500 * time.Millisecond) // five renewals: b must not run meanwhile
	if tm.count() != 1 {
		t.Fatalf("%d terms while a leads", tm.count())
	}
	first := recvEv(t, elected)
	begin := time.Now()
	a.stop(t)
	eventually(t, "b takes over", func() bool { return tm.count() == 2 })
	if d := time.Since(begin); d > time.Second {
		t.Errorf("handover took %v, want well under the TTL: a gave leadership up", d)
	}
	second := recvEv(t, elected)
	if l := recvEv(t, lost); l.ID != first.ID || l.Token != first.Token || !errors.Is(l.Cause, context.Canceled) {
		t.Errorf("lost event %+v for %+v", l, first)
	}
	if first.ID != "a" || second.ID != "b" || second.Token <= first.Token {
		t.Errorf("elected %+v then %+v: want a then b, tokens growing", first, second)
	}
	b.stop(t)
	if tm.overlap.Load() {
		t.Error("two replicas ran the task at once")
	}
}

func withID(cfg leader.Config, id string) leader.Config { cfg.ID = id; return cfg }

func recvEv[E any](t *testing.T, sub *fxbus.Subscription[E]) E {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := sub.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// A leader whose key another writer took learns it at its next renewal:
// its task's context is cancelled with the cause, and it leads again only
// after the intruder's key has expired, with a greater token.
func TestLeaderLosingItsKeyIsCancelledAtTheNextRenewal(t *testing.T) {
	srv := runJS(t)
	nc := connect(t, srv.ClientURL())
	var tm terms
	cfg := leader.Config{Bucket: "leaders", Group: "cleanup", TTL: 600 * time.Millisecond, Renew: 100 * time.Millisecond, ID: "a"}
	start(t, nc, cfg, tm.fn)
	eventually(t, "leader", func() bool { return tm.count() == 1 })

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), "leaders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "cleanup", []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	took := time.Now()
	eventually(t, "task cancelled", func() bool { return tm.running.Load() == 0 })
	if d := time.Since(took); d > 2*cfg.Renew+50*time.Millisecond {
		t.Errorf("cancelled %v after the key was taken, want within two renewals", d)
	}
	eventually(t, "leader again after the intruder's key expired", func() bool { return tm.count() == 2 })
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.tokens[1] <= tm.tokens[0] || !errors.Is(tm.causes[0], jetstream.ErrKeyExists) {
		t.Errorf("tokens %v, first cause %v", tm.tokens, tm.causes[0])
	}
	if tm.overlap.Load() {
		t.Error("overlap")
	}
}

// A task that returns an error while leader ends Run with it, for the
// runtime's policy, and gives leadership up.
func TestTaskErrorEndsRun(t *testing.T) {
	srv := runJS(t)
	nc := connect(t, srv.ClientURL())
	boom := errors.New("boom")
	s, err := leader.New(leader.Client(nc), leader.Config{Bucket: "leaders", Group: "g", TTL: 30 * time.Second, Renew: time.Second},
		func(context.Context, uint64) error { return boom })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want boom", err)
	}
	// Given up: another can lead at once, without waiting 30s.
	ran := make(chan uint64, 1)
	s2, _ := leader.New(leader.Client(nc), leader.Config{Bucket: "leaders", Group: "g", TTL: 30 * time.Second, Renew: time.Second},
		func(_ context.Context, tok uint64) error { ran <- tok; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	default:
		t.Fatal("second singleton never ran")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	f := func(context.Context, uint64) error { return nil }
	c := leader.Client(nil)
	for _, tc := range []struct {
		cfg  leader.Config
		want string
	}{
		{leader.Config{Group: "g"}, "Bucket"},
		{leader.Config{Bucket: "b"}, "Group"},
		{leader.Config{Bucket: "b", Group: "a b"}, "not allowed"},
		{leader.Config{Bucket: "b", Group: "g", TTL: time.Second, Renew: time.Second}, "third"},
		{leader.Config{Bucket: "b", Group: "g", TTL: -1}, "negative"},
	} {
		if _, err := leader.New(c, tc.cfg, f); err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one about %s", tc.cfg, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// A renewal in flight when the leader stops is cancelled on the client,
// but the server may apply it all the same: the key then has a newer
// revision than the leader knows. The leader still gives leadership up at
// once, so that another process takes over without waiting for the TTL.
func TestLeaderGivesUpAtOnceWhenItsStopCancelsARenewalTheServerApplied(t *testing.T) {
	srv := runJS(t)
	var tm terms
	cfg := leader.Config{Bucket: "leaders", Group: "cleanup", TTL: 3 * time.Second, Renew: 100 * time.Millisecond}
	d := &replyHolder{}
	nc, err := nats.Connect(srv.ClientURL(), nats.SetCustomDialer(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a := start(t, nc, withID(cfg, "a"), tm.fn)
	eventually(t, "a leader", func() bool { return tm.count() == 1 })
	b := start(t, connect(t, srv.ClientURL()), withID(cfg, "b"), tm.fn)
	defer b.stop(t)

	js, err := jetstream.New(connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	kv, err := js.KeyValue(ctx, "leaders")
	if err != nil {
		t.Fatal(err)
	}
	revision := func() uint64 {
		e, err := kv.Get(ctx, "cleanup")
		if err != nil {
			return 0
		}
		return e.Revision()
	}

	// Hold the server's replies to a; wait for a renewal that the
	// server applies, then stop a while that renewal waits for its reply.
	before := revision()
	d.hold()
	eventually(t, "a renewal written by a", func() bool { return d.kvWrites() >= 1 })
	eventually(t, "the server applied a's renewal", func() bool { return revision() > before })
	begin := time.Now()
	go a.cancel()
	// a's stop gives leadership up: let the replies through once that
	// request is written, so that it sees the renewal cancelled.
	eventually(t, "a's give-up written", func() bool { return d.kvWrites() >= 2 })
	d.release()
	a.stop(t)
	eventually(t, "b takes over", func() bool { return tm.count() == 2 })
	if took := time.Since(begin); took > time.Second {
		t.Errorf("b took over %v after a's stop, want well under the TTL (%v): a did not give leadership up", took, cfg.TTL)
	}
}

// replyHolder is a nats.CustomDialer whose connections can hold what the
// server sends (reads block) while the client goes on writing, and count
// the key-value writes the client makes to $KV.leaders.cleanup after
// hold.
type replyHolder struct {
	mu       sync.Mutex // guards held, released, writes
	held     bool
	released chan struct{}
	writes   int
}

func (d *replyHolder) Dial(network, address string) (net.Conn, error) {
	c, err := net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &holdingConn{Conn: c, d: d}, nil
}

func (d *replyHolder) hold() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held, d.released, d.writes = true, make(chan struct{}), 0
}

func (d *replyHolder) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held {
		d.held = false
		close(d.released)
	}
}

func (d *replyHolder) kvWrites() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes
}

type holdingConn struct {
	net.Conn
	d *replyHolder
}

var kvOp = []byte(" $KV.leaders.cleanup ")

func (c *holdingConn) Write(p []byte) (int, error) {
	c.d.mu.Lock()
	if c.d.held {
		c.d.writes += bytes.Count(p, kvOp)
	}
	c.d.mu.Unlock()
	return c.Conn.Write(p)
}

// Read holds what arrives while the connection is held (a read already
// waiting when hold is called included) until release.
func (c *holdingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.d.mu.Lock()
	held, released := c.d.held, c.d.released
	c.d.mu.Unlock()
	if held {
		<-released
	}
	return n, err
}
