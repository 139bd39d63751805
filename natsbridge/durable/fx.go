package durable

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

// ErrNotStarted is wrapped by the errors of a [Publisher] and a [Consumer]
// built for an Fx application ([ProvidePublisher], [Listen]) that is used
// before the application has started.
var ErrNotStarted = errors.New("durable: not started: the Fx application has not started")

// Module provides one [*Client] to an Fx application that has
// natsbridge.Module (and so fxbus.Module): JetStream on the
// *natsbridge.Conn's connection, with the streams declared with [Stream].
// Its OnStart hook runs after the Conn's, which it depends on, and
// creates or checks each declared stream ([EnsureStream]): a mismatch
// fails the start with the [*MismatchError]. It has no OnStop: the Conn
// closes the connection.
//
//	fx.New(
//		fxbus.Module,
//		natsbridge.Module,
//		durable.Module,
//		fx.Supply(natsbridge.Config{URL: url, Name: "billing"}),
//		durable.Stream(durable.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}),
//		durable.ProvidePublisher[OrderPlaced]("orders.placed"),
//		fx.Invoke(func(lc fx.Lifecycle, c *durable.Client, db *DB) error {
//			_, err := durable.Listen(lc, c, durable.ConsumerConfig{Stream: "ORDERS", Durable: "billing"}, db.Bill)
//			return err
//		}),
//	)
//
// Hook order: Fx stops hooks in the reverse order of their start, and the
// consumers of [Listen] start after the Client (whose streams exist by
// then), so they stop before the Conn closes the connection; fxbus.Module
// emits fxbus.ShutdownInitiatedEvent before the first OnStop hook and
// closes the bus after the last, so a consumer stops after the shutdown
// is announced and before the bus closes.
//
// Runs: an application started again after a stop, on natsbridge.Module's
// Conn (which connects at each start) or on a *natsbridge.Conn that
// outlives the runs (connected and closed by the caller, provided to the
// graph), gets the Client, [ProvidePublisher] and [ProvideAsyncPublisher]
// working again: the streams are ensured again and the publishers publish
// on the connection of the new run, and a consumer of [Listen] binds the
// durable consumer again and handles in the new run what the previous
// ones left (its [Stats] count every run).
var Module fx.Option = fx.Module("durable",
	fx.Provide(provideClient),
)

// StreamsGroup is the value group of the [StreamConfig]s that [Module]
// ensures at start; [Stream] adds to it.
const StreamsGroup = "durable.streams"

// Stream declares a stream that [Module]'s OnStart creates, or checks
// against the server's ([EnsureStream]), before any consumer of [Listen]
// starts. A bad declaration (no name, no subjects) fails the start with
// an error naming it.
func Stream(cfg StreamConfig) fx.Option {
	return fx.Provide(fx.Annotate(
		func() StreamConfig { return cfg },
		fx.ResultTags(fmt.Sprintf("group:%q", StreamsGroup)),
	))
}

// Client is JetStream on a *natsbridge.Conn, for an Fx application: see
// [Module].
type Client struct {
	conn    *natsbridge.Conn
	bus     *fxbus.Bus
	streams []StreamConfig
	log     *zap.Logger
	// js is set once, by the OnStart hook; nil before.
	js atomic.Pointer[jetstream.JetStream]
}

type clientParams struct {
	fx.In

	Conn      *natsbridge.Conn
	Bus       *fxbus.Bus
	Lifecycle fx.Lifecycle
	Streams   []StreamConfig `group:"durable.streams"`
}

func provideClient(p clientParams) *Client {
	c := &Client{conn: p.Conn, bus: p.Bus, streams: p.Streams, log: p.Bus.Logger()}
	p.Lifecycle.Append(fx.Hook{OnStart: c.start})
	return c
}

func (c *Client) start(ctx context.Context) error {
	nc := c.conn.NATS()
	if nc == nil {
		return errors.New("durable: the natsbridge.Conn is not connected; durable.Module needs natsbridge.Module")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	for _, s := range c.streams {
		if _, err := EnsureStream(ctx, js, s); err != nil {
			return err
		}
	}
	c.js.Store(&js)
	return nil
}

// JetStream returns the JetStream client, for what this package does not
// do; nil before the application has started.
func (c *Client) JetStream() jetstream.JetStream {
	if js := c.js.Load(); js != nil {
		return *js
	}
	return nil
}

// ProvidePublisher provides a [*Publisher] of E to subject on the
// [*Client] of [Module]. Its Publish fails with an error wrapping
// [ErrNotStarted] until the application has started.
func ProvidePublisher[E any](subject string, opts ...Option[E]) fx.Option {
	return fx.Provide(func(c *Client) (*Publisher[E], error) {
		p, err := newPublisher(subject, opts)
		if err != nil {
			return nil, err
		}
		p.client = c
		return p, nil
	})
}

// ProvideAsyncPublisher provides an [*AsyncPublisher] of E to subject on
// the [*Client] of [Module], configured by cfg (cfg.Logger defaults to
// the bus's logger). Its Publish fails with an error wrapping
// [ErrNotStarted] until the application has started.
//
// Its OnStop hook runs after fxbus.ShutdownInitiatedEvent and before the
// Conn closes the connection (components that take the publisher stop
// before it, so what they publish while stopping is flushed too): Publish
// refuses new events ([ErrStopped]), then the stop waits for the
// acknowledgment of every event published. Each waits at most
// cfg.AckTimeout before it counts as failed, and the stop waits at most
// three quarters of the time its context has left, keeping the rest for
// the Conn to close (Fx skips the hooks left once the stop's context has
// ended): keep cfg.AckTimeout well below the stop timeout. Every event not
// stored by then (refused, timed out, or still waiting when the wait
// ends) is given to cfg.OnError, counted in
// [AsyncStats.Failed] and logged, and the stop returns an error with
// their count and message IDs: nothing published is dropped silently.
func ProvideAsyncPublisher[E any](subject string, cfg AsyncConfig[E], opts ...Option[E]) fx.Option {
	return fx.Provide(func(lc fx.Lifecycle, c *Client) (*AsyncPublisher[E], error) {
		if cfg.Logger == nil {
			cfg.Logger = c.log
		}
		p, err := newAsyncPublisher(subject, cfg, opts)
		if err != nil {
			return nil, err
		}
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				nc := c.conn.NATS()
				if nc == nil || c.JetStream() == nil {
					return fmt.Errorf("durable: async publisher to %q: %w", subject, ErrNotStarted)
				}
				return p.start(nc)
			},
			OnStop: p.stop,
		})
		return p, nil
	})
}

// Listen runs h for the messages of the durable consumer cfg for the
// life of an Fx application, on the [*Client] of [Module]: call it from
// an fx.Invoke or a constructor, with the handler's dependencies. A bad
// cfg is an error at once. Its OnStart hook creates or binds the consumer
// ([Consume]) once the connection is up and the declared streams exist;
// its OnStop hook is [Consumer.Stop] with the stop's context: fetching
// stops, the handlers running finish within the stop budget and their
// messages are settled, the rest is left to the server for redelivery.
// See [Module] for where this falls in the shutdown.
//
// cfg.Logger defaults to the bus's logger. The returned Consumer gives
// [Consumer.Stats] once the application has started.
//
// The Consumer serves every run of the application: when it is started
// again after a stop (on a *natsbridge.Conn that outlives the runs, see
// [Module]), OnStart binds the durable consumer again, on the new run's
// connection, and the run handles what the server has for it: what a
// previous run acknowledged is not delivered again, what it gave back or
// left unsettled is. [Consumer.Stop] and [Consumer.Stats] refer to the
// current run; the counters of Stats count every run. A start that fails
// (this hook's or another's, or the start timeout, after which Fx runs no
// OnStop) leaves nothing of the run going, and the next start begins a
// new run. A run whose OnStop Fx skipped (an earlier hook used the whole
// stop budget) is stopped when the application's run ends, at once: its
// handlers' context is cancelled, and what they had not settled comes
// back after AckWait (on a bus not built by fxbus.Module, which knows no
// run's end, the next start stops it first). Two runs never handle at once: if a previous run's
// handlers have not returned, OnStart waits for them within the start's
// context.
func Listen[E any](lc fx.Lifecycle, c *Client, cfg ConsumerConfig, h Handler[E], opts ...Option[E]) (*Consumer[E], error) {
	if lc == nil || c == nil {
		return nil, fmt.Errorf("durable: consumer %q: nil fx.Lifecycle or *Client", cfg.Durable)
	}
	if cfg.Logger == nil && cfg.Bus == nil {
		cfg.Logger = c.log
	}
	cons, err := newConsumer(cfg, h, opts)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			js := c.JetStream()
			if js == nil {
				return fmt.Errorf("durable: consumer %q: %w", cfg.Durable, ErrNotStarted)
			}
			return cons.startRun(ctx, js)
		},
		OnStop: cons.Stop,
	})
	// Fx runs no OnStop after a start that failed with its context done,
	// and skips those left when a stop passes its deadline: the run is
	// then stopped when it ends, at once (its handlers' context is
	// cancelled; their messages settle as they return, or come back after
	// AckWait), so that nothing handles while the application is down.
	runhooks.Of(c.bus).OnRunEnd(func(bool) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = cons.Stop(ctx) // later calls for a stopped run return at once
	})
	return cons, nil
}
