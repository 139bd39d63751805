package leader_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
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
