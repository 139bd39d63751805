// Command bridgepeer is one process of natsbridge's two-process test and
// quick start. It is an Fx application built on fxbus.Module and
// natsbridge.Module, in one of two roles:
//
//	bridgepeer -url nats://127.0.0.1:4222 -role listen
//	bridgepeer -url nats://127.0.0.1:4222 -role say -n 3
//
// listen prints "ready" once connected, prints every demo.Greeting it
// receives with its Go type and answers each with a demo.Reply; it prints
// the demo.fleet PeerShutdown of every peer that leaves, and stops on
// SIGINT/SIGTERM, or when its standard input closes if -stdin is given.
//
// say emits n Greetings, prints every Reply it receives with its Go type,
// and stops once it has n of them, exit code 0; or after -timeout with exit
// code 1. Its stop is forwarded to the fleet subject.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/internal/demo"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

func main() {
	var (
		url     = flag.String("url", "nats://127.0.0.1:4222", "NATS server URL")
		role    = flag.String("role", "listen", "listen or say")
		name    = flag.String("name", "", "connection name (default: the role)")
		n       = flag.Int("n", 3, "say: greetings to send")
		text    = flag.String("text", "hello", "say: greeting text")
		timeout = flag.Duration("timeout", 10*time.Second, "say: give up waiting for replies after")
		stdin   = flag.Bool("stdin", false, "listen: stop when standard input closes")
	)
	flag.Parse()
	if *name == "" {
		*name = *role
	}

	common := fx.Options(
		fx.NopLogger,
		fx.Supply(stderrLogger()),
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: *url, Name: *name}),
		natsbridge.BridgeShutdown(demo.SubjectFleet),
		fxbus.Handle(func(_ context.Context, p natsbridge.PeerShutdownEvent) error {
			fmt.Printf("peer left: %s (%s)\n", p.Name, p.Reason)
			return nil
		}),
	)
	var app *fx.App
	switch *role {
	case "listen":
		app = fx.New(common,
			natsbridge.BridgeIn[demo.Greeting](demo.SubjectGreetings),
			natsbridge.BridgeOut[demo.Reply](demo.SubjectReplies),
			fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus, sd fx.Shutdowner) {
				listen(lc, bus, sd, *stdin)
			}),
		)
	case "say":
		app = fx.New(common,
			natsbridge.BridgeOut[demo.Greeting](demo.SubjectGreetings),
			natsbridge.BridgeIn[demo.Reply](demo.SubjectReplies),
			fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus, sd fx.Shutdowner) {
				say(lc, bus, sd, *name, *text, *n, *timeout)
			}),
		)
	default:
		fmt.Fprintf(os.Stderr, "bridgepeer: unknown role %q\n", *role)
		os.Exit(2)
	}
	app.Run()
}

func stderrLogger() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	cfg.OutputPaths = []string{"stderr"}
	l, err := cfg.Build()
	if err != nil {
		panic(err)
	}
	return l
}

// listen answers greetings; with stdin, it stops when standard input closes.
func listen(lc fx.Lifecycle, bus *fxbus.Bus, sd fx.Shutdowner, stdin bool) {
	fxbus.Listen(lc, bus, func(_ context.Context, g demo.Greeting) error {
		fmt.Printf("received %T %+v\n", g, g)
		fxbus.Emit(bus, demo.Reply{To: g.From, Seq: g.Seq})
		return nil
	})
	runhooks.Of(bus).OnAppStarted(func() {
		fmt.Println("ready")
		if !stdin {
			return
		}
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			_ = sd.Shutdown()
		}()
	})
}

// say sends n greetings once the app is up and stops when every reply is in.
func say(lc fx.Lifecycle, bus *fxbus.Bus, sd fx.Shutdowner, name, text string, n int, timeout time.Duration) {
	var replies atomic.Int64
	fxbus.Listen(lc, bus, func(_ context.Context, r demo.Reply) error {
		fmt.Printf("received %T %+v\n", r, r)
		if replies.Add(1) == int64(n) {
			_ = sd.Shutdown()
		}
		return nil
	})
	timer := time.AfterFunc(timeout, func() {
		fmt.Fprintf(os.Stderr, "bridgepeer: %d of %d replies after %v\n", replies.Load(), n, timeout)
		_ = sd.Shutdown(fx.ExitCode(1))
	})
	timer.Stop() // armed when the app is up
	lc.Append(fx.StopHook(func() { timer.Stop() }))
	runhooks.Of(bus).OnAppStarted(func() {
		timer.Reset(timeout)
		for i := 1; i <= n; i++ {
			fxbus.Emit(bus, demo.Greeting{From: name, Text: text, Seq: i})
		}
	})
}
