package durable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/durable"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// fxOrders is an Fx application with the ORDERS stream, a publisher of
// Orders to orders.placed, and a consumer "billing" that calls h; it hands
// out its bus, publisher and consumer.
func fxOrders(t *testing.T, url string, h durable.Handler[Order], bus **fxbus.Bus, pub **durable.Publisher[Order], cons **durable.Consumer[Order]) *fxtest.App {
	t.Helper()
	return fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		durable.Module,
		fx.Supply(natsbridge.Config{URL: url, Name: "billing"}),
		durable.Stream(ordersStream),
		durable.ProvidePublisher[Order]("orders.placed"),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client, b *fxbus.Bus) error {
			var err error
			*cons, err = durable.Listen(lc, c, durable.ConsumerConfig{
				Stream: "ORDERS", Durable: "billing", AckWait: 2 * time.Second, Bus: b,
			}, h)
			return err
		}),
		fx.Populate(bus, pub),
	)
}

// Under Fx the consumer starts once the connection is up and the stream
// declared, and stops after the shutdown is announced and before the bus
// closes: the handler running at the stop finishes, its message is
// acknowledged (the next run never sees it again) and its event still
// reaches the bus; the messages not handled go to the next run.
func TestFxConsumerStopsBetweenShutdownAnnouncedAndBusClosed(t *testing.T) {
	srv := runJS(t, "", -1)
	const n = 20
	entered, release := make(chan struct{}), make(chan struct{})
	var first seen
	var (
		bus  *fxbus.Bus
		pub  *durable.Publisher[Order]
		cons *durable.Consumer[Order]
	)
	app := fxOrders(t, srv.ClientURL(), func(ctx context.Context, o Order) error {
		first.add(o)
		if o.Items == 0 {
			close(entered)
			<-release // the stop's budget is fxtest's default, 15s
		}
		return nil
	}, &bus, &pub, &cons)
	shutdown := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus)
	defer shutdown.Close()
	handled := fxbus.Subscribe[Order](bus)
	defer handled.Close()
	app.RequireStart()

	for i := range n {
		if _, err := pub.Publish(ctxWait(t), Order{ID: fmt.Sprintf("o-%d", i), Items: i}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the handler did not get the first order")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(context.Background()) }()
	if _, err := shutdown.Recv(ctxWait(t)); err != nil {
		t.Fatalf("no ShutdownInitiatedEvent while the handler runs: %v", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("the app stopped (%v) while a handler was running", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if got, err := handled.Recv(ctxWait(t)); err != nil || got.ID != "o-0" {
		t.Fatalf("the bus got %+v, %v; want o-0, emitted after its acknowledgment and before the bus closed", got, err)
	}
	// The handler of o-1 may have begun between the release and the stop
	// reaching the consumer: the first run handled o-0 and perhaps a few
	// more, and acknowledged each.
	st, _ := cons.Stats(ctxWait(t)) // the connection is closed: the counters only
	if st.Acked != uint64(first.len()) || first.count("o-0") != 1 {
		t.Fatalf("first run: %d handled, stats %+v; want each handled one acknowledged, o-0 among them", first.len(), st)
	}

	// The next run handles the rest, and none of what the first acknowledged.
	var second seen
	app2 := fxOrders(t, srv.ClientURL(), func(_ context.Context, o Order) error { second.add(o); return nil }, &bus, &pub, &cons)
	app2.RequireStart()
	defer app2.RequireStop()
	missing := func() []string {
		var ids []string
		for i := range n {
			if id := fmt.Sprintf("o-%d", i); first.count(id)+second.count(id) == 0 {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for deadline := time.Now().Add(wait); len(missing()) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			st2, err := cons.Stats(ctxWait(t))
			t.Fatalf("not within %v: %v handled in neither run; first run handled %d, stats %+v; second run handled %d, stats %+v (%v); server: %s",
				wait, missing(), first.len(), st, second.len(), st2, err, consumerState(t, srv.ClientURL(), "ORDERS", "billing"))
		}
	}
	eventually(t, "nothing pending on the server", func() bool {
		st := stats(t, cons)
		return st.Pending == 0 && st.AckPending == 0
	})
	for _, o := range first.evs {
		if c := second.count(o.ID); c != 0 {
			t.Errorf("%s, acknowledged in the first run, handled %d times in the second", o.ID, c)
		}
	}
}

// consumerState is the server's view of a consumer, for a failure message:
// what it delivered, what awaits acknowledgment or delivery, and how many
// pull requests it holds.
func consumerState(t *testing.T, url, stream, name string) string {
	t.Helper()
	c, err := connectJS(t, url).Consumer(ctxWait(t), stream, name)
	if err != nil {
		return err.Error()
	}
	ci, err := c.Info(ctxWait(t))
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("delivered up to stream seq %d, ack floor %d, %d awaiting acknowledgment, %d redelivered, %d not yet delivered, %d pull requests held",
		ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumAckPending, ci.NumRedelivered, ci.NumPending, ci.NumWaiting)
}

// A publisher provided by Module refuses to publish before the app has
// started, with an error saying so, rather than block or panic.
func TestFxPublisherBeforeStartFailsNotStarted(t *testing.T) {
	srv := runJS(t, "", -1)
	var (
		bus  *fxbus.Bus
		pub  *durable.Publisher[Order]
		cons *durable.Consumer[Order]
	)
	app := fxOrders(t, srv.ClientURL(), func(context.Context, Order) error { return nil }, &bus, &pub, &cons)
	_, err := pub.Publish(ctxWait(t), Order{ID: "early"})
	var perr *durable.PublishError
	if !errors.Is(err, durable.ErrNotStarted) || !errors.As(err, &perr) || perr.MsgID != "early" {
		t.Fatalf("publish before start: %v; want a PublishError naming the event and wrapping ErrNotStarted", err)
	}
	if _, err := cons.Stats(ctxWait(t)); !errors.Is(err, durable.ErrNotStarted) {
		t.Errorf("stats before start: %v; want ErrNotStarted", err)
	}
	app.RequireStart()
	if _, err := pub.Publish(ctxWait(t), Order{ID: "later"}); err != nil {
		t.Errorf("publish after start: %v", err)
	}
	app.RequireStop()
}

// A stream whose declaration differs from the server's fails the start
// with the MismatchError naming the field; the consumer does not start.
func TestFxStreamMismatchFailsTheStart(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	other := ordersStream
	other.Duplicates = 5 * time.Minute
	if _, err := durable.EnsureStream(ctxWait(t), js, other); err != nil {
		t.Fatal(err)
	}
	var (
		bus  *fxbus.Bus
		pub  *durable.Publisher[Order]
		cons *durable.Consumer[Order]
	)
	app := fxOrders(t, srv.ClientURL(), func(context.Context, Order) error { return nil }, &bus, &pub, &cons)
	err := app.Start(ctxWait(t))
	var mm *durable.MismatchError
	if !errors.As(err, &mm) || mm.Field != "Duplicates" {
		t.Fatalf("start: %v; want a MismatchError on Duplicates", err)
	}
	_ = app.Stop(ctxWait(t))
}

// A consumer declared with a bad config fails the app's construction with
// the config's error.
func TestFxListenRefusesBadConfig(t *testing.T) {
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		durable.Module,
		fx.Supply(natsbridge.Config{URL: "nats://127.0.0.1:1"}),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client) error {
			_, err := durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS"}, func(context.Context, Order) error { return nil })
			return err
		}),
	)
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "Durable is empty") {
		t.Errorf("err = %v, want the empty Durable named", err)
	}
}
