package natsbridge

import (
	"context"
	"fmt"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

// Module provides one [*Conn] to an Fx application, built as [New] builds
// it from the [Config] in the graph, the fxbus.Bus (so it needs
// fxbus.Module) and the [Option]s given with [With] (TLS, credentials,
// any client option), and ties it to the application's lifecycle:
//
//   - OnStart connects ([Conn.Start]) within the start timeout; an
//     unreachable server fails the start with an error naming the URL;
//   - OnStop closes ([Conn.Close]): the outbound routes forward what is
//     waiting, then the connection is drained, within the stop timeout.
//
// The *Conn serves every run of the application: started again after a
// stop, it connects anew, and the routes declared at construction bridge
// the new run's events, the outbound ones from the moment fxbus.Module
// opens the bus again (before any other OnStart hook). The counters of
// [Conn.Stats] go on across the runs. If a stop passes its deadline
// before the bridge's OnStop, so that Fx skips it, the connection is
// closed at once when the run ends. See the package documentation,
// "Runs".
//
// Declare routes with [Bridge], [BridgeOut], [BridgeIn] and
// [BridgeShutdown], or with [Forward] and [Receive] from a constructor
// that takes the *Conn:
//
//	fx.New(
//		fxbus.Module,
//		natsbridge.Module,
//		fx.Supply(natsbridge.Config{URL: url, Name: "billing"}),
//		natsbridge.With(natsbridge.WithNATSOptions(
//			nats.UserCredentials("/etc/billing/nats.creds"),
//			nats.RootCAs("/etc/billing/ca.pem"),
//		)),
//		natsbridge.Bridge[OrderPlaced]("orders.placed"),
//		natsbridge.BridgeShutdown("fleet.shutdown"),
//	)
//
// Hook order: Fx stops hooks in the reverse order of their start, so the
// components built after the *Conn (those that ask for it) stop before it,
// and the events they emit while stopping are forwarded; events emitted by
// OnStop hooks that run after the bridge's are not.
var Module fx.Option = fx.Module("natsbridge",
	fx.Provide(provideConn),
)

// OptionsGroup is the value group of the [Option]s that [Module] passes
// to [New]; [With] adds to it.
const OptionsGroup = "natsbridge.options"

// With passes options to the *Conn that [Module] builds, as [New] takes
// them:
//
//	natsbridge.With(natsbridge.WithNATSOptions(nats.Secure(tlsConfig)))
//
// Fx gives value groups in no set order: give each option once, and keep
// client options that depend on their order in one [WithNATSOptions].
func With(opts ...Option) fx.Option {
	fxOpts := make([]fx.Option, len(opts))
	for i, o := range opts {
		fxOpts[i] = fx.Provide(fx.Annotate(
			func() Option { return o },
			fx.ResultTags(fmt.Sprintf("group:%q", OptionsGroup)),
		))
	}
	return fx.Options(fxOpts...)
}

// params are what [Module] takes from the graph.
type params struct {
	fx.In

	Config    Config
	Bus       *fxbus.Bus
	Lifecycle fx.Lifecycle
	Options   []Option `group:"natsbridge.options"`
}

func provideConn(p params) (*Conn, error) {
	c, err := New(p.Bus, p.Config, p.Options...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.again = true
	c.mu.Unlock()
	hooks := runhooks.Of(p.Bus)
	// A restarted application reopens the bus before any OnStart hook:
	// the routes subscribe to it again there, so that the events emitted
	// by the hooks that start before this one are forwarded, as in the
	// first run. (On a bus fxbus.Module did not build, Start does it.)
	hooks.OnRunAgain(c.beginRun)
	// Fx skips the OnStop hooks left when a stop passes its deadline, and
	// runs none after a start that failed with its context done: the run
	// is then closed at once, so that the next one can begin. Either way,
	// no message received in this run is emitted after it, even by a
	// callback that a Close cut short left running: the bus is the next
	// run's once reopened.
	hooks.OnRunEnd(func(bool) {
		defer c.endRun()
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.Close(ctx); err != nil {
			c.log.Warn("natsbridge: the application's run ended without the Conn's OnStop; closed at once", zap.Error(err))
		}
	})
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := c.Start(ctx); err != nil {
				// Fx runs no OnStop for a hook whose OnStart failed.
				_ = c.Close(ctx)
				return err
			}
			return nil
		},
		OnStop: c.Close,
	})
	return c, nil
}

// Bridge returns an fx.Option that carries events of type E both ways
// between the bus and subject: [Forward] and [Receive] on the *Conn that
// [Module] provides. Every process that bridges E on subject sees the E
// emitted by the others, each once; a process never gets its own back.
func Bridge[E any](subject string, opts ...RouteOption[E]) fx.Option {
	return fx.Invoke(func(c *Conn) error {
		if err := Forward(c, subject, opts...); err != nil {
			return err
		}
		return Receive(c, subject, opts...)
	})
}

// BridgeOut returns an fx.Option that forwards events of type E to
// subject: [Forward] on the *Conn that [Module] provides.
func BridgeOut[E any](subject string, opts ...RouteOption[E]) fx.Option {
	return fx.Invoke(func(c *Conn) error { return Forward(c, subject, opts...) })
}

// BridgeIn returns an fx.Option that emits on the bus, as E, the messages
// of subject: [Receive] on the *Conn that [Module] provides.
func BridgeIn[E any](subject string, opts ...RouteOption[E]) fx.Option {
	return fx.Invoke(func(c *Conn) error { return Receive(c, subject, opts...) })
}

// BridgeShutdown returns an fx.Option that tells peers on subject when
// this process begins to shut down ([ForwardShutdown]) and emits a
// [PeerShutdownEvent] on the bus when a peer does ([Receive]).
func BridgeShutdown(subject string) fx.Option {
	return fx.Invoke(func(c *Conn) error {
		if err := ForwardShutdown(c, subject); err != nil {
			return err
		}
		return Receive[PeerShutdownEvent](c, subject)
	})
}
