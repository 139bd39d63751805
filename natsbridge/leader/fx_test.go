package leader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/leader"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// Under Fx a Singleton is a lifecycle task on the *natsbridge.Conn, whose
// OnStart runs after the runtime has started the task: it campaigns as
// soon as the Conn connects (not a renewal interval later: a third of the
// TTL, here 20s), leads, and at the app's stop its task's
// context is cancelled, the LostEvent reaches the bus before it closes,
// and the key is given up (deleted), so another replica need not wait for
// the TTL.
func TestFxSingletonCampaignsOnceTheConnConnectsAndGivesUpAtStop(t *testing.T) {
	srv := runJS(t)
	var tm terms
	var bus *fxbus.Bus
	app := fxtest.New(t,
		fx.NopLogger,
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
