package durable_test

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
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
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

// fxAsync is an Fx application with the ORDERS stream and an async
// publisher of Orders to subject; before the publisher, it appends a hook
// whose OnStop (which runs after the publisher's and before the Conn's)
// calls atStop. It hands out the publisher and the Conn.
func fxAsync(t *testing.T, url, subject string, cfg durable.AsyncConfig[Order], atStop func(*durable.AsyncPublisher[Order], *natsbridge.Conn), pub **durable.AsyncPublisher[Order], conn **natsbridge.Conn, extra ...fx.Option) *fx.App {
	t.Helper()
	opts := []fx.Option{
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		durable.Module,
		fx.Supply(natsbridge.Config{URL: url, Name: "shop"}),
		durable.Stream(ordersStream),
		durable.ProvideAsyncPublisher(subject, cfg),
		// Constructed in this order: the Conn (its hook), this hook, the
		// Client and the publisher (theirs); stopped in the reverse.
		fx.Invoke(func(lc fx.Lifecycle, c *natsbridge.Conn) {
			lc.Append(fx.StopHook(func() { atStop(*pub, c) }))
		}),
		fx.Populate(pub, conn),
	}
	app := fx.New(append(opts, extra...)...)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	return app
}

// Under Fx the async publisher's stop comes after the shutdown is
// announced and before the Conn closes: the events published before the
// stop, and those published by components stopping before it, are all
// acknowledged while the connection is still open; after the stop,
// Publish refuses with ErrStopped, naming the event.
func TestFxAsyncPublisherFlushesAtStopBeforeTheConnCloses(t *testing.T) {
	srv := runJS(t, "", -1)
	const n, atStopN = 2000, 100
	var (
		pub      *durable.AsyncPublisher[Order]
		conn     *natsbridge.Conn
		beforeCC durable.AsyncStats
		open     bool
	)
	app := fxAsync(t, srv.ClientURL(), "orders.placed", durable.AsyncConfig[Order]{MaxPending: 512},
		func(p *durable.AsyncPublisher[Order], c *natsbridge.Conn) {
			beforeCC, open = p.Stats(), c.NATS().IsConnected()
		}, &pub, &conn,
		// A component that takes the publisher stops before it, after the
		// shutdown is announced, and publishes while stopping.
		fx.Invoke(func(lc fx.Lifecycle, p *durable.AsyncPublisher[Order], bus *fxbus.Bus) {
			shutdown := fxbus.Subscribe[fxbus.ShutdownInitiatedEvent](bus)
			lc.Append(fx.StopHook(func(ctx context.Context) error {
				defer shutdown.Close()
				if _, err := shutdown.TryRecv(); err != nil {
					return fmt.Errorf("stopping, and no ShutdownInitiatedEvent: %w", err)
				}
				for i := range atStopN {
					if err := p.Publish(ctx, Order{ID: fmt.Sprintf("stop-%d", i)}); err != nil {
						return err
					}
				}
				return nil
			}))
		}),
	)
	if err := pub.Publish(ctxWait(t), Order{ID: "early"}); !errors.Is(err, durable.ErrNotStarted) {
		t.Fatalf("publish before start: %v; want ErrNotStarted", err)
	}
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := pub.Publish(ctxWait(t), Order{ID: fmt.Sprintf("o-%d", i), Items: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if want := (durable.AsyncStats{Published: n + atStopN, Stored: n + atStopN}); beforeCC != want || !open {
		t.Fatalf("when the Conn began to close: stats %+v, connected %v; want %+v on an open connection", beforeCC, open, want)
	}
	err := pub.Publish(ctxWait(t), Order{ID: "late"})
	var perr *durable.PublishError
	if !errors.Is(err, durable.ErrStopped) || !errors.As(err, &perr) || perr.MsgID != "late" {
		t.Fatalf("publish after stop: %v; want a PublishError naming the event and wrapping ErrStopped", err)
	}
	if got := msgCount(t, ensureOrders(t, connectJS(t, srv.ClientURL()))); got != n+atStopN {
		t.Errorf("stream holds %d, want %d", got, n+atStopN)
	}
}

// Events the server does not acknowledge by the end of the stop are not
// dropped silently: each goes to OnError, is counted as failed, and the
// stop's error gives their count and IDs. Whether they fail by their
// AckTimeout during the stop or are still waiting when the stop's
// context ends (the client would report nothing for those once the
// connection closes), the outcome is the same.
func TestFxAsyncPublisherStopNamesEventsNotAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ackTimeout time.Duration
		stopBudget time.Duration
	}{
		{"timed out during the stop", 300 * time.Millisecond, wait},
		// The wait ends at 1.5s, leaving 0.5s for the Conn to close.
		{"waiting when the stop's context ends", time.Minute, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := runJS(t, "", -1)
			// No stream stores void.placed, and a plain subscriber that
			// never answers keeps the server from saying so: the
			// publishes wait for an acknowledgment that never comes.
			silent := natsConn(t, srv.ClientURL())
			sub, err := silent.SubscribeSync("void.placed")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Unsubscribe() }()
			if err := silent.Flush(); err != nil {
				t.Fatal(err)
			}
			var (
				mu     sync.Mutex
				failed []string
				pub    *durable.AsyncPublisher[Order]
				conn   *natsbridge.Conn
			)
			app := fxAsync(t, srv.ClientURL(), "void.placed", durable.AsyncConfig[Order]{
				AckTimeout: tc.ackTimeout,
				Logger:     zap.NewNop(), // OnError is checked
				OnError: func(o Order, err *durable.PublishError) {
					mu.Lock()
					defer mu.Unlock()
					if err.MsgID == o.ID {
						failed = append(failed, o.ID)
					}
				},
			}, func(*durable.AsyncPublisher[Order], *natsbridge.Conn) {}, &pub, &conn)
			if err := app.Start(ctxWait(t)); err != nil {
				t.Fatal(err)
			}
			// When the stop's deadline passes, Fx skips the Conn's OnStop.
			defer func() { _ = conn.Close(ctxWait(t)) }()
			for _, id := range []string{"v-2", "v-0", "v-1"} {
				if err := pub.Publish(ctxWait(t), Order{ID: id}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.stopBudget)
			defer cancel()
			err = app.Stop(ctx)
			if err == nil || !strings.Contains(err.Error(), `3 events to "void.placed" not stored at the stop (msg ids v-0, v-1, v-2)`) {
				t.Fatalf("stop: %v; want the three events named", err)
			}
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(failed)
			if !slices.Equal(failed, []string{"v-0", "v-1", "v-2"}) {
				t.Errorf("OnError got %v, want each of the three once", failed)
			}
			if st := pub.Stats(); st != (durable.AsyncStats{Published: 3, Failed: 3}) {
				t.Errorf("stats %+v, want 3 published, 3 failed", st)
			}
		})
	}
}

// fxOnConn is an Fx application of Module on a natsbridge.Conn that
// lives outside the application's lifecycle (connected when built,
// closed at the end of the test), so that the application can be
// started again after a stop; natsbridge.Module's Conn cannot.
func fxOnConn(t *testing.T, url string, opts ...fx.Option) *fx.App {
	t.Helper()
	app := fx.New(append([]fx.Option{
		fx.NopLogger,
		fxbus.Module,
		durable.Module,
		fx.Provide(func(bus *fxbus.Bus) (*natsbridge.Conn, error) {
			c, err := natsbridge.Connect(ctxWait(t), bus, natsbridge.Config{URL: url, Name: "restarted"})
			if err == nil {
				t.Cleanup(func() { _ = c.Close(ctxWait(t)) })
			}
			return c, err
		}),
		durable.Stream(ordersStream),
	}, opts...)...)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	return app
}

// An application started again after a stop publishes again, with the
// synchronous and the asynchronous publisher, and the second stop
// flushes the second run's events.
func TestFxRestartedAppPublishesAgain(t *testing.T) {
	srv := runJS(t, "", -1)
	var (
		pub   *durable.Publisher[Order]
		async *durable.AsyncPublisher[Order]
	)
	app := fxOnConn(t, srv.ClientURL(),
		durable.ProvidePublisher[Order]("orders.placed"),
		durable.ProvideAsyncPublisher("orders.queued", durable.AsyncConfig[Order]{}),
		fx.Populate(&pub, &async),
	)
	for run := 1; run <= 2; run++ {
		if err := app.Start(ctxWait(t)); err != nil {
			t.Fatalf("start %d: %v", run, err)
		}
		if _, err := pub.Publish(ctxWait(t), Order{ID: fmt.Sprintf("sync-%d", run)}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := async.Publish(ctxWait(t), Order{ID: fmt.Sprintf("async-%d", run)}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := app.Stop(ctxWait(t)); err != nil {
			t.Fatalf("stop %d: %v", run, err)
		}
		if st := async.Stats(); st != (durable.AsyncStats{Published: uint64(run), Stored: uint64(run)}) {
			t.Fatalf("after stop %d: async stats %+v, want every event stored", run, st)
		}
		if err := async.Publish(ctxWait(t), Order{ID: "between"}); !errors.Is(err, durable.ErrStopped) {
			t.Fatalf("after stop %d: %v, want ErrStopped", run, err)
		}
	}
	if got := msgCount(t, ensureOrders(t, connectJS(t, srv.ClientURL()))); got != 4 {
		t.Errorf("stream holds %d, want the 4 events of the two runs", got)
	}
}

// A consumer of Listen serves every run of an application started again
// after a stop, on a Conn that outlives the runs: each start binds the
// durable consumer again and handles what the stream holds for it, each
// stop stops the run; every event is handled exactly once over the runs
// (what one run acknowledged, the next does not see again), and Stats
// count both runs.
func TestFxListenConsumesInEveryRunOfARestartedApp(t *testing.T) {
	t.Run("on a Conn that outlives the runs", func(t *testing.T) {
		listenInEveryRun(t, fxOnConn, true)
	})
	t.Run("on natsbridge.Module's Conn", func(t *testing.T) {
		listenInEveryRun(t, fxOnModuleConn, false)
	})
}

// fxOnModuleConn is fxOnConn with the Conn of natsbridge.Module, which
// connects at each start and closes at each stop.
func fxOnModuleConn(t *testing.T, url string, opts ...fx.Option) *fx.App {
	t.Helper()
	app := fx.New(append([]fx.Option{
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		durable.Module,
		fx.Supply(natsbridge.Config{URL: url, Name: "restarted"}),
		durable.Stream(ordersStream),
	}, opts...)...)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	return app
}

func listenInEveryRun(t *testing.T, newApp func(*testing.T, string, ...fx.Option) *fx.App, connOutlives bool) {
	srv := runJS(t, "", -1)
	var (
		handled seen
		pub     *durable.Publisher[Order]
		cons    *durable.Consumer[Order]
	)
	// counters reads the consumer's Stats after a stop: with the Conn
	// closed by the stop, only the counters are there (and an error).
	counters := func() durable.Stats {
		if connOutlives {
			return stats(t, cons)
		}
		st, _ := cons.Stats(ctxWait(t))
		return st
	}
	app := newApp(t, srv.ClientURL(),
		durable.ProvidePublisher[Order]("orders.placed"),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client) error {
			var err error
			cons, err = durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Concurrency: 2},
				func(_ context.Context, o Order) error { handled.add(o); return nil })
			return err
		}),
		fx.Populate(&pub),
	)
	// outside publishes while the application is stopped.
	outside, err := durable.NewPublisher[Order](connectJS(t, srv.ClientURL()), "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(p *durable.Publisher[Order], from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := p.Publish(ctxWait(t), Order{ID: fmt.Sprintf("o-%d", i), Items: i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// each waits until o-0 to o-(n-1) have each been handled, then
	// checks that none was handled twice and that the server has nothing
	// left for the consumer.
	each := func(run, n int) {
		t.Helper()
		eventually(t, fmt.Sprintf("run %d: %d orders handled", run, n), func() bool { return handled.len() >= n })
		for i := range n {
			if id := fmt.Sprintf("o-%d", i); handled.count(id) != 1 {
				t.Fatalf("run %d: %s handled %d times, want once", run, id, handled.count(id))
			}
		}
		eventually(t, fmt.Sprintf("run %d: nothing pending on the server", run), func() bool {
			st := stats(t, cons)
			return st.Pending == 0 && st.AckPending == 0
		})
	}

	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 1: %v", err)
	}
	publish(pub, 0, 10)
	each(1, 10)
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Fatalf("stop 1: %v", err)
	}
	st := counters()
	if st.Delivered != 10 || st.Acked != 10 || st.Redelivered != 0 {
		t.Fatalf("after run 1: stats %+v, want 10 delivered and acknowledged, none redelivered", st)
	}

	publish(outside, 10, 20) // waiting for run 2
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 2: %v", err)
	}
	publish(pub, 20, 30)
	each(2, 30)
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Fatalf("stop 2: %v", err)
	}
	if n := handled.len(); n != 30 {
		t.Errorf("%d handled over the two runs, want 30", n)
	}
	st = counters()
	if st.Delivered != 30 || st.Acked != 30 || st.Redelivered != 0 || st.Returned != 0 {
		t.Errorf("after run 2: stats %+v, want the two runs counted: 30 delivered and acknowledged, none redelivered or returned", st)
	}
}

// A start that fails leaves nothing of the consumer's run going, and the
// next start begins a new run that handles what the failed ones left:
// whether the consumer's own OnStart failed (the server's consumer
// differs from the declared one) or a later hook did (Fx stops the
// consumer's run it had started).
func TestFxListenStartsAgainAfterAFailedStart(t *testing.T) {
	srv := runJS(t, "", -1)
	var (
		handled seen
		cons    *durable.Consumer[Order]
		failing atomic.Bool // the hook after the consumer's fails its start
	)
	app := fxOnConn(t, srv.ClientURL(),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client) error {
			var err error
			cons, err = durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
				func(_ context.Context, o Order) error { handled.add(o); return nil })
			return err
		}),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() error {
				if failing.Load() {
					return errors.New("a later hook fails")
				}
				return nil
			}))
		}),
	)
	js := connectJS(t, srv.ClientURL())
	pub, err := durable.NewPublisher[Order](js, "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		if _, err := pub.Publish(ctxWait(t), Order{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// idle checks that nothing is handled while the app is not running:
	// no run of the consumer is left fetching.
	idle := func(when string) {
		t.Helper()
		n := handled.len()
		time.Sleep(300 * time.Millisecond)
		if got := handled.len(); got != n {
			t.Fatalf("%s: %d orders handled while the application is not running", when, got-n)
		}
	}
	setAckWait := func(d time.Duration) {
		t.Helper()
		if _, err := js.UpdateConsumer(ctxWait(t), "ORDERS", jetstream.ConsumerConfig{
			Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy, AckWait: d,
			MaxDeliver: -1, MaxAckPending: 1000, DeliverPolicy: jetstream.DeliverAllPolicy,
		}); err != nil {
			t.Fatal(err)
		}
	}

	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 1: %v", err)
	}
	publish("o-1")
	eventually(t, "o-1 handled in run 1", func() bool { return handled.count("o-1") == 1 })
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Fatalf("stop 1: %v", err)
	}

	// The consumer's own start fails.
	setAckWait(time.Minute)
	publish("o-2")
	err = app.Start(ctxWait(t))
	var mm *durable.MismatchError
	if !errors.As(err, &mm) || mm.Field != "AckWait" {
		t.Fatalf("start 2: %v; want a MismatchError on AckWait", err)
	}
	_ = app.Stop(ctxWait(t))
	if _, err := cons.Stats(ctxWait(t)); !errors.Is(err, durable.ErrNotStarted) {
		t.Errorf("stats after the consumer's failed start: %v; want ErrNotStarted", err)
	}
	idle("after the consumer's failed start")

	// A later hook fails: Fx stops the run the consumer had started.
	setAckWait(30 * time.Second)
	failing.Store(true)
	if err := app.Start(ctxWait(t)); err == nil || !strings.Contains(err.Error(), "a later hook fails") {
		t.Fatalf("start 3: %v; want the later hook's error", err)
	}
	_ = app.Stop(ctxWait(t))
	publish("o-3")
	idle("after a later hook's failed start")

	failing.Store(false)
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 4: %v", err)
	}
	eventually(t, "o-2 and o-3 handled in run 4", func() bool {
		return handled.count("o-2") >= 1 && handled.count("o-3") >= 1
	})
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Fatalf("stop 4: %v", err)
	}
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if n := handled.count(id); n != 1 {
			t.Errorf("%s handled %d times, want once", id, n)
		}
	}
}

// Two runs of a consumer of Listen never handle at once: when a stop
// ends before a handler returns, the next start waits for it within the
// start's context, fails if it is still running then (as does every
// start after, until it returns), and starts once it has returned.
func TestFxListenStartWaitsForThePreviousRunsHandlers(t *testing.T) {
	srv := runJS(t, "", -1)
	entered, release := make(chan struct{}), make(chan struct{})
	var handled seen
	app := fxOnConn(t, srv.ClientURL(),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client) error {
			_, err := durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
				func(_ context.Context, o Order) error {
					if handled.add(o) == 1 && o.ID == "slow" {
						close(entered)
						<-release // ignores its context's end
					}
					return nil
				})
			return err
		}),
	)
	pub, err := durable.NewPublisher[Order](connectJS(t, srv.ClientURL()), "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 1: %v", err)
	}
	if _, err := pub.Publish(ctxWait(t), Order{ID: "slow"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the handler did not get the order")
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := app.Stop(short); err == nil {
		t.Fatal("stop 1 returned nil while the handler was running")
	}
	if _, err := pub.Publish(ctxWait(t), Order{ID: "next"}); err != nil {
		t.Fatal(err)
	}

	// Twice: a start that failed while waiting does not let the next one
	// forget the first run's handler.
	for _, run := range []int{2, 3} {
		short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		// Fx returns the start context's error when it ends before the
		// hook returns, so the hook's own error may not show.
		if err := app.Start(short); err == nil {
			t.Fatalf("start %d succeeded while the first run's handler was running", run)
		}
		_ = app.Stop(ctxWait(t))
		time.Sleep(300 * time.Millisecond)
		if n := handled.count("next"); n != 0 {
			t.Fatalf("after start %d: next handled %d times while the first run's handler was running", run, n)
		}
	}

	close(release)
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 4: %v", err)
	}
	eventually(t, "next handled in run 4", func() bool { return handled.count("next") == 1 })
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Fatalf("stop 4: %v", err)
	}
	// slow was acknowledged when its handler returned, after its run's
	// stop and well within AckWait (30s).
	if n := handled.count("slow"); n != 1 {
		t.Errorf("slow handled %d times, want once", n)
	}
}

// When Fx skips the consumer's OnStop (an earlier hook used the whole
// stop budget), the run is stopped when it ends: nothing is handled while
// the application is down, the next start begins a new run, and each
// event is handled once.
func TestFxListenStopsARunWhoseStopFxSkippedWhenTheRunEnds(t *testing.T) {
	srv := runJS(t, "", -1)
	var (
		handled seen
		cons    *durable.Consumer[Order]
		bus     *fxbus.Bus
	)
	app := fxOnConn(t, srv.ClientURL(),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client) error {
			var err error
			cons, err = durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Logger: zap.NewNop()},
				func(_ context.Context, o Order) error { handled.add(o); return nil })
			return err
		}),
		// Appended after the consumer's hook, stopped before it: it
		// uses the whole stop budget, so Fx skips the consumer's OnStop.
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StopHook(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
		}),
		fx.Populate(&bus),
	)
	pub, err := durable.NewPublisher[Order](connectJS(t, srv.ClientURL()), "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		if _, err := pub.Publish(ctxWait(t), Order{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// stop stops the application past its deadline and waits for the run
	// to end: the bus closes after the run-end callbacks, the consumer's
	// among them.
	stop := func() {
		t.Helper()
		ended := fxbus.Subscribe[struct{}](bus)
		defer ended.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := app.Stop(ctx); err == nil {
			t.Fatal("stop returned nil past its deadline")
		}
		if _, err := ended.Recv(ctxWait(t)); !errors.Is(err, fxbus.ErrClosed) {
			t.Fatalf("the run did not end: %v", err)
		}
	}
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 1: %v", err)
	}
	publish("o-1")
	eventually(t, "o-1 handled in run 1", func() bool { return handled.count("o-1") == 1 })
	stop()
	publish("o-2")
	time.Sleep(500 * time.Millisecond) // a consumer still running takes it within this
	if n := handled.count("o-2"); n != 0 {
		t.Fatalf("o-2 handled %d times while the application was down; want 0", n)
	}
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 2: %v", err)
	}
	publish("o-3")
	eventually(t, "o-2 and o-3 handled in run 2", func() bool { return handled.count("o-2") == 1 && handled.count("o-3") == 1 })
	stop()
	// Stop after the run was stopped at its end returns at once.
	if err := cons.Stop(ctxWait(t)); err != nil {
		t.Fatalf("Consumer.Stop: %v", err)
	}
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if n := handled.count(id); n != 1 {
			t.Errorf("%s handled %d times, want once", id, n)
		}
	}
	if st := stats(t, cons); st.Acked != 3 || st.Delivered != st.Acked+st.Returned {
		t.Errorf("stats %+v, want 3 acknowledged over the runs, every other delivery given back", st)
	}
}

// A start that fails at its deadline after the consumer's OnStart has
// succeeded (a later hook outlives the start timeout, so Fx rolls back with
// an expired context and runs no OnStop) leaves nothing of the consumer's
// run going: once app.Start has returned and app.Stop has been called, no
// message is handled, although the Conn outlives the run.
func TestFxListenHandlesNothingAfterAStartThatTimedOut(t *testing.T) {
	srv := runJS(t, "", -1)
	var handled seen
	app := fxOnConn(t, srv.ClientURL(),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client) error {
			_, err := durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"},
				func(_ context.Context, o Order) error { handled.add(o); return nil })
			return err
		}),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
		}),
	)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := app.Start(short); err == nil {
		t.Fatal("app.Start succeeded; want the later hook's timeout")
	}
	if err := app.Stop(ctxWait(t)); err != nil {
		t.Logf("app.Stop after the failed start: %v", err)
	}
	pub, err := durable.NewPublisher[Order](connectJS(t, srv.ClientURL()), "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctxWait(t), Order{ID: "after-failed-start"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a consumer still running takes it within this
	if n := handled.count("after-failed-start"); n != 0 {
		t.Fatalf("handled %d times after the application's start failed and app.Stop returned; want 0", n)
	}
}

// A handler of a run whose stop was cut short that returns while the
// application starts again (its bus already reopened, the consumer's
// OnStart waiting for it) still has its message acknowledged, but its
// event is not emitted on the bus: that bus is the next run's, whose
// subscribers would take it for one of their run.
func TestFxListenHandlerOfAnEndedRunEmitsNothingOnTheNextRunsBus(t *testing.T) {
	srv := runJS(t, "", -1)
	entered, release := make(chan struct{}), make(chan struct{})
	var (
		handled seen
		runs    int
		sub     *fxbus.Subscription[Order]
		bus     *fxbus.Bus
	)
	app := fxOnConn(t, srv.ClientURL(),
		fx.Invoke(func(lc fx.Lifecycle, b *fxbus.Bus) {
			lc.Append(fx.Hook{OnStart: func(context.Context) error {
				runs++
				if runs == 2 {
					// The bus is open again; the consumer's OnStart comes
					// next and waits for the first run's handler.
					sub = fxbus.Subscribe[Order](b)
					close(release)
				}
				return nil
			}})
		}),
		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client, b *fxbus.Bus) error {
			_, err := durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing", Bus: b},
				func(_ context.Context, o Order) error {
					if handled.add(o) == 1 && o.ID == "old" {
						close(entered)
						<-release // ignores its context's end
					}
					return nil
				})
			return err
		}),
		fx.Populate(&bus),
	)
	pub, err := durable.NewPublisher[Order](connectJS(t, srv.ClientURL()), "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctxWait(t)); err != nil {
		t.Fatalf("start 1: %v", err)
	}
	if _, err := pub.Publish(ctxWait(t), Order{ID: "old"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the handler did not get the order")
	}
	// Stop past its deadline, and wait for the run to end (Fx lets a
	// start in only then): the bus closes.
	ended := fxbus.Subscribe[struct{}](bus)
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := app.Stop(short); err == nil {
		t.Fatal("stop 1 returned nil while the handler was running")
	}
	if _, err := ended.Recv(ctxWait(t)); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("the first run did not end: %v", err)
	}
	// The consumer's start waits for the first run's handler, which has
	// returned (and acknowledged old) once it succeeds. Fx refuses a start
	// until its own goroutine of the cut-short stop has finished.
	for {
		err := app.Start(ctxWait(t))
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "state: stopping") {
			t.Fatalf("start 2: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	defer func() {
		if err := app.Stop(ctxWait(t)); err != nil {
			t.Errorf("stop 2: %v", err)
		}
	}()
	if ev, err := sub.TryRecv(); err == nil {
		t.Fatalf("the second run's subscriber got %+v, handled in the first run", ev)
	}
	if _, err := pub.Publish(ctxWait(t), Order{ID: "new"}); err != nil {
		t.Fatal(err)
	}
	ev, err := sub.Recv(ctxWait(t))
	if err != nil || ev.ID != "new" {
		t.Fatalf("the second run's subscriber got %+v (%v), want new", ev, err)
	}
	if n := handled.count("old"); n != 1 {
		t.Errorf("old handled %d times, want once (its acknowledgment was lost)", n)
	}
}
