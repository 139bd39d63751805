package leader_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/leader"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Under Fx a Singleton is a lifecycle task on the *natsbridge.Conn, which
// the task needs: the Conn connects before the runtime starts the task
// and closes after the task has ended. The Singleton campaigns at once,
// leads, and at the app's stop its task's context is cancelled, the
// LostEvent reaches the bus before it closes, and the key is given up
// (deleted) on the still open connection, so another replica need not
// wait for the TTL.
func TestFxSingletonCampaignsOnceTheConnConnectsAndGivesUpAtStop(t *testing.T) {
	srv := runJS(t)
	var tm terms
	var bus *fxbus.Bus
	core, logs := observer.New(zapcore.InfoLevel)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(zap.New(core)),
		fxbus.Module,
		lifecycle.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "cleaner"}),
		lifecycle.AsTask(func(c *natsbridge.Conn, b *fxbus.Bus) (lifecycle.Task, error) {
			s, err := leader.New(c, leader.Config{Bucket: "leaders", Group: "cleanup", ID: "a", TTL: time.Minute, Bus: b}, tm.fn)
			if err != nil {
				return lifecycle.Task{}, err
			}
			return s.Task("cleanup"), nil
		}),
		fx.Populate(&bus),
	)
	elected, lost := fxbus.Subscribe[leader.ElectedEvent](bus), fxbus.Subscribe[leader.LostEvent](bus)
	defer elected.Close()
	defer lost.Close()
	app.RequireStart()
	if ev := recvEv(t, elected); ev.ID != "a" || ev.Group != "cleanup" || ev.Token == 0 {
		t.Fatalf("elected %+v", ev)
	}
	app.RequireStop()
	if tm.running.Load() != 0 || tm.count() != 1 {
		t.Fatalf("after stop: %d running, %d terms; want the one term ended", tm.running.Load(), tm.count())
	}
	if l := recvEv(t, lost); l.ID != "a" || !errors.Is(l.Cause, lifecycle.ErrShutdown) {
		t.Errorf("lost %+v, want a's term ended by the shutdown", l)
	}
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
		t.Errorf("warning at stop: %s %v", e.Message, e.ContextMap())
	}

	// The key is gone: a TTL of a minute has not passed, and the key can
	// be created again.
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
	if _, err := kv.Create(ctx, "cleanup", []byte("b")); err != nil {
		t.Errorf("the key was not given up at stop: %v", err)
	}
}

// runConn is a leader.Conn that connects at each start of the application
// and drains the connection at each stop; like a *natsbridge.Conn, it keeps returning
// the closed connection until the next start has connected again.
type runConn struct {
	mu sync.Mutex // guards nc
	nc *nats.Conn
}

func (c *runConn) NATS() *nats.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

func provideRunConn(url string) fx.Option {
	return fx.Provide(func(lc fx.Lifecycle) *runConn {
		c := &runConn{}
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				nc, err := nats.Connect(url)
				if err != nil {
					return err
				}
				c.mu.Lock()
				c.nc = nc
				c.mu.Unlock()
				return nil
			},
			// Drained as natsbridge.Conn drains it: what was published
			// before (the key given up) reaches the server.
			OnStop: func(ctx context.Context) error {
				nc := c.NATS()
				if err := nc.Drain(); err != nil {
					return err
				}
				for !nc.IsClosed() {
					if ctx.Err() != nil {
						nc.Close()
						return ctx.Err()
					}
					time.Sleep(time.Millisecond)
				}
				return nil
			},
		})
		return c
	})
}

// An application started again after a stop campaigns again: its second
// run leads with a greater fencing token, as soon as the connection of
// the new run is up (not a renewal interval, here 20s, after the task
// found the previous run's closed connection), and gives the key up at
// its stop too.
func TestFxSingletonCampaignsAgainInARestartedApp(t *testing.T) {
	srv := runJS(t)
	var tm terms
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		lifecycle.Module,
		provideRunConn(srv.ClientURL()),
		lifecycle.AsTask(func(c *runConn, b *fxbus.Bus) (lifecycle.Task, error) {
			s, err := leader.New(c, leader.Config{Bucket: "leaders", Group: "cleanup", ID: "a", TTL: time.Minute, Bus: b}, tm.fn)
			if err != nil {
				return lifecycle.Task{}, err
			}
			return s.Task("cleanup"), nil
		}),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	for run := 1; run <= 2; run++ {
		if err := app.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", run, err)
		}
		eventually(t, fmt.Sprintf("run %d leads", run), func() bool { return tm.count() == run })
		if err := app.Stop(ctx); err != nil {
			t.Fatalf("stop %d: %v", run, err)
		}
		if n := tm.running.Load(); n != 0 {
			t.Fatalf("after stop %d: %d terms running", run, n)
		}
	}
	tm.mu.Lock()
	tokens := slices.Clone(tm.tokens)
	tm.mu.Unlock()
	if tokens[1] <= tokens[0] {
		t.Errorf("tokens %v: the second run's must be greater", tokens)
	}
	// The second run gave the key up at its stop as well.
	js, err := jetstream.New(connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "leaders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "cleanup", []byte("b")); err != nil {
		t.Errorf("the key was not given up at the second stop: %v", err)
	}
}

// A leader task whose Func ignores its context outlives its run's stop
// (the runtime's drain gives up after TaskTimeout). When the application
// is started again, the bus is open again before the runtime waits for
// that task; the term ending then reports nothing to the new run, whose
// subscribers would take a LostEvent for their own leadership. The new
// run's own ElectedEvent and LostEvent still arrive.
func TestFxLeaderOfAnEndedRunReportsNothingToTheNextRun(t *testing.T) {
	srv := runJS(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseNow := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseNow)
	var tm terms
	var first atomic.Bool
	core, logs := observer.New(zapcore.WarnLevel)
	var bus *fxbus.Bus
	app := fx.New(
		fx.NopLogger,
		fx.Supply(zap.New(core)),
		fxbus.Module,
		lifecycle.Module,
		fx.Supply(lifecycle.Config{TaskTimeout: 50 * time.Millisecond}),
		provideRunConn(srv.ClientURL()),
		lifecycle.AsTask(func(c *runConn, b *fxbus.Bus) (lifecycle.Task, error) {
			s, err := leader.New(c, leader.Config{Bucket: "leaders", Group: "cleanup", ID: "a", TTL: time.Minute, Bus: b},
				func(ctx context.Context, token uint64) error {
					if first.CompareAndSwap(false, true) {
						<-ctx.Done()
						<-release // run 1's term is slow to notice its cancellation
						return ctx.Err()
					}
					return tm.fn(ctx, token)
				})
			if err != nil {
				return lifecycle.Task{}, err
			}
			return s.Task("cleanup"), nil
		}),
		fx.Populate(&bus),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	defer func() { releaseNow(); _ = app.Stop(ctx) }()

	elected1 := fxbus.Subscribe[leader.ElectedEvent](bus)
	if err := app.Start(ctx); err != nil {
		t.Fatalf("run 1: app.Start: %v", err)
	}
	token1 := recvEv(t, elected1).Token
	elected1.Close()
	if err := app.Stop(ctx); err == nil || !strings.Contains(err.Error(), `"cleanup"`) {
		t.Fatalf("run 1: app.Stop = %v, want the straggler named", err)
	}

	// Run 1's key could not be given up (its term still runs); another
	// process's delete lets run 2 lead at once.
	js, err := jetstream.New(connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "leaders")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "cleanup"); err != nil {
		t.Fatal(err)
	}

	// When run 2 begins, the bus is open again: subscribe as the new run's
	// components do, then let run 1's term end while run 2 starts (the
	// runtime's Start waits for it).
	var elected2 *fxbus.Subscription[leader.ElectedEvent]
	var lost2 *fxbus.Subscription[leader.LostEvent]
	if !runhooks.Of(bus).OnRunAgain(func() {
		elected2 = fxbus.Subscribe[leader.ElectedEvent](bus)
		lost2 = fxbus.Subscribe[leader.LostEvent](bus)
		releaseNow()
	}) {
		t.Fatal("OnRunAgain refused on fxbus.Module's bus")
	}
	if err := app.Start(ctx); err != nil {
		t.Fatalf("run 2: app.Start: %v", err)
	}
	defer elected2.Close()
	defer lost2.Close()
	if ev := recvEv(t, elected2); ev.Token <= token1 {
		t.Errorf("run 2's first ElectedEvent %+v, want run 2's term (a token above run 1's %d)", ev, token1)
	}
	eventually(t, "run 2's term runs", func() bool { return tm.count() >= 1 })
	tm.mu.Lock()
	tokens := slices.Clone(tm.tokens)
	tm.mu.Unlock()
	if len(tokens) != 1 {
		t.Fatalf("run 2's terms %v, want one", tokens)
	}
	token2 := tokens[0]
	if ev, err := lost2.TryRecv(); err == nil {
		t.Errorf("run 2's subscriber got %+v during run 2, want no LostEvent: run 1's term (token %d) reported to run 2", ev, token1)
	}
	// Not lost silently: the dropped event is logged.
	if n := logs.FilterMessageSnippet("event not emitted").Len(); n != 1 {
		t.Errorf("%d warnings of an event not emitted, want 1 (run 1's LostEvent)", n)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("run 2: app.Stop: %v", err)
	}
	if ev := recvEv(t, lost2); ev.Token != token2 || !errors.Is(ev.Cause, lifecycle.ErrShutdown) {
		t.Errorf("run 2's LostEvent at its stop %+v, want run 2's term (token %d) ended by the shutdown", ev, token2)
	}
}
