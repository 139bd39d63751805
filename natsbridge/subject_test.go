package natsbridge_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/fx"
)

// badSubjects are subjects that no route accepts, with words of the rule
// the error must name (for a route that publishes, pubRule if set).
var badSubjects = []struct {
	subject, rule, pubRule string
}{
	{"", "empty", ""},
	{".orders", "empty token", ""},
	{"orders.", "empty token", ""},
	{"orders..eu", "empty token", ""},
	{"orders.>.eu", `">" only as the last token`, "wildcard"},
	{">.orders", `">" only as the last token`, "wildcard"},
	{"orders eu", "white space", ""},
	{"orders\teu", "white space", ""},
	{"orders.eu\r\n", "white space", ""},
	{"orders\f.eu", "white space", ""},
	{"orders\x00eu", "control character", ""},
	{"orders.\xffeu", "UTF-8", ""},
	{strings.Repeat("o", natsbridge.MaxSubjectLength+1), "bytes long", ""},
	{strings.Repeat("orders.", 1000) + "eu", "bytes long", ""},
}

// publishOnly are subjects one may subscribe to but not publish to.
var publishOnly = []string{"orders.*", "orders.>", "*", ">", "orders.*.eu", "*.>"}

// A subject the server would reject is refused when the route is declared,
// with an error that names it and the rule it breaks, before anything
// reaches the server: the connection and its other routes live on.
func TestInvalidSubjectNeverReachesServer(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	// Declared before Start: Start is not affected.
	a, err := natsbridge.New(busA, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRefused(t, a, "before Start")
	closeConn(t, a)
	a = connect(t, busA, cfg, func(c *natsbridge.Conn) error { return natsbridge.Forward[Order](c, "orders.eu") })
	b := connect(t, busB, cfg, func(c *natsbridge.Conn) error { return natsbridge.Receive[Order](c, "orders.*") })
	closed := fxbus.Subscribe[natsbridge.ClosedEvent](busB)
	defer closed.Close()
	down := fxbus.Subscribe[natsbridge.DisconnectedEvent](busB)
	defer down.Close()
	subs := srv.NumSubscriptions()

	// Declared on started Conns.
	checkRefused(t, a, "after Start")
	checkRefused(t, b, "after Start")
	flush(t, a)
	flush(t, b)
	if n := srv.NumSubscriptions(); n != subs {
		t.Errorf("the server has %d subscriptions, had %d before the refused routes", n, subs)
	}
	for _, c := range []*natsbridge.Conn{a, b} {
		if !c.NATS().IsConnected() {
			t.Fatalf("connection %s lost: %v", c.Origin(), c.NATS().LastError())
		}
		if n := len(c.Stats()); n != 1 {
			t.Errorf("%d routes after the refusals, want the 1 declared", n)
		}
	}
	if closed.Len() != 0 || down.Len() != 0 {
		t.Errorf("B emitted %d Closed and %d Disconnected", closed.Len(), down.Len())
	}

	// The routes declared before still carry events.
	orders := fxbus.Subscribe[Order](busB)
	defer orders.Close()
	fxbus.Emit(busA, Order{ID: "after", Items: 1})
	if got := recv(t, orders); got.ID != "after" {
		t.Fatalf("got %+v", got)
	}
}

// checkRefused declares routes on every bad subject and checks each error.
func checkRefused(t *testing.T, c *natsbridge.Conn, when string) {
	t.Helper()
	check := func(how, subject, rule string, err error) {
		t.Helper()
		shown := subject
		if len(shown) > 64 {
			shown = shown[:32]
		}
		switch {
		case err == nil:
			t.Errorf("%s %s %.40q: accepted", when, how, subject)
		case !errors.Is(err, natsbridge.ErrInvalidSubject):
			t.Errorf("%s %s %.40q: err %v is not ErrInvalidSubject", when, how, subject, err)
		case !strings.Contains(err.Error(), strconv.Quote(shown)):
			t.Errorf("%s %s %.40q: err %q does not name the subject", when, how, subject, err)
		case !strings.Contains(err.Error(), rule):
			t.Errorf("%s %s %.40q: err %q does not name the rule %q", when, how, subject, err, rule)
		}
	}
	for _, tt := range badSubjects {
		pubRule := tt.rule
		if tt.pubRule != "" {
			pubRule = tt.pubRule
		}
		check("Forward", tt.subject, pubRule, natsbridge.Forward[Ping](c, tt.subject))
		check("Receive", tt.subject, tt.rule, natsbridge.Receive[Ping](c, tt.subject))
		check("ForwardShutdown", tt.subject, pubRule, natsbridge.ForwardShutdown(c, tt.subject))
	}
	for _, s := range publishOnly {
		check("Forward", s, "wildcard", natsbridge.Forward[Ping](c, s))
		check("ForwardShutdown", s, "wildcard", natsbridge.ForwardShutdown(c, s))
	}
}

// Subjects at the edge of the rules are accepted and work end to end: the
// longest one allowed is published and received through the server.
func TestValidSubjectsWork(t *testing.T) {
	srv := runServer(t, -1)
	busA, busB := newBus(t), newBus(t)
	long := strings.Repeat("l", natsbridge.MaxSubjectLength-len("x.")) + ".x"
	subjects := []string{long, "été.commandes", "a*b.c>d", "orders.eu-west_1.#"}
	cfg := natsbridge.Config{URL: srv.ClientURL()}
	connect(t, busA, cfg, func(c *natsbridge.Conn) error {
		var errs []error
		for i, s := range subjects {
			errs = append(errs, natsbridge.Forward(c, s, natsbridge.WithCodec[Ping](fixedPing(i))))
		}
		return errors.Join(errs...)
	})
	b := connect(t, busB, cfg, func(c *natsbridge.Conn) error {
		return errors.Join(
			natsbridge.Receive[Ping](c, strings.Repeat("l", natsbridge.MaxSubjectLength-len("x."))+".*"),
			natsbridge.Receive[Ping](c, "été.>"),
			natsbridge.Receive[Ping](c, "*.c>d"),
			natsbridge.Receive[Ping](c, "orders.*.#"),
		)
	})
	pings := fxbus.Subscribe[Ping](busB)
	defer pings.Close()
	fxbus.Emit(busA, Ping{})
	seen := map[int]bool{}
	for range subjects {
		seen[recv(t, pings).N] = true
	}
	if len(seen) != len(subjects) {
		t.Errorf("B got the events of subjects %v, want all %d", seen, len(subjects))
	}
	if !b.NATS().IsConnected() {
		t.Errorf("B lost its connection: %v", b.NATS().LastError())
	}
}

// fixedPing encodes every Ping as the JSON of Ping{N: n}: each route of
// TestValidSubjectsWork marks its events with its index.
type fixedPing int

func (f fixedPing) Encode(Ping) ([]byte, error) { return []byte(`{"N":` + itoa(int(f)) + `}`), nil }
func (fixedPing) Decode(b []byte) (Ping, error) { return natsbridge.JSON[Ping]{}.Decode(b) }

// Every subject a route accepts is one the server accepts too, for the same
// use: what Receive accepts is a valid subscription subject, what Forward
// accepts a valid publish subject.
func TestSubjectRulesWithinServerRules(t *testing.T) {
	bus := newBus(t)
	c, err := natsbridge.New(bus, natsbridge.Config{URL: "nats://127.0.0.1:4222"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, c)
	corpus := []string{"a", "a.b", "a.*", "a.>", ">", "*", "a.>.b", "a..b", ".", "a b", "a\tb", "a\vb",
		"a*", "*a", "a>", "a.b>", "#", "a.#", "\x00", "é", "\xff", "a.*.>", "*.*", ">.>"}
	for _, tt := range badSubjects {
		corpus = append(corpus, tt.subject)
	}
	for _, s := range corpus {
		if natsbridge.Receive[Ping](c, s) == nil && !server.IsValidSubject(s) {
			t.Errorf("Receive accepts %q, which the server rejects", s)
		}
		if natsbridge.Forward[Ping](c, s) == nil && !server.IsValidPublishSubject(s) {
			t.Errorf("Forward accepts %q, which the server does not publish to", s)
		}
	}
}

// Under Fx, Bridge refuses a bad subject when the application is built,
// naming it.
func TestBridgeRefusesInvalidSubject(t *testing.T) {
	for _, subject := range []string{"orders.>.eu", "orders.*", "orders eu"} {
		app := fx.New(fx.NopLogger, fxbus.Module, natsbridge.Module,
			fx.Supply(natsbridge.Config{URL: "nats://127.0.0.1:4222"}),
			natsbridge.Bridge[Order](subject))
		err := app.Err()
		if !errors.Is(err, natsbridge.ErrInvalidSubject) || !strings.Contains(err.Error(), strconv.Quote(subject)) {
			t.Errorf("Bridge(%q): err = %v, want ErrInvalidSubject naming it", subject, err)
		}
	}
}
