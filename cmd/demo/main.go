// Command demo is a small shop service built on fxbus and lifecycle, and a
// guided tour of what they do.
//
// The service is made of Fx modules that know each other only through
// the bus and the dependency graph: a configuration provider that loads a
// JSON file and reloads it on SIGHUP; an HTTP server run by
// lifecycle.HTTPServer with the runtime's probes (/healthz, /readyz) and
// /work?ms=N (work under the runtime's gate); a task that places orders on a schedule; a task that
// fails twice and is restarted with backoff; and a ledger that books the
// orders and closes its books when the shutdown is announced. Every event
// on the bus is printed as it arrives.
//
// By default the demo tours itself: it starts, drives itself through a
// scripted scenario and exits 0, in about a second. Run it from the
// repository root:
//
//	go run ./cmd/demo
//
// With -serve it runs until SIGINT or SIGTERM, reloads on SIGHUP, and
// serves the debug page of package debugpage at /debug/fxruntime:
//
//	go run ./cmd/demo -serve -addr 127.0.0.1:8080
//	kill -HUP <pid>
//
// Exit codes: 0 after a clean shutdown; 1 for a missing or invalid
// configuration, or a service that failed; 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claviron/fxruntime/debugpage"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Exit codes besides lifecycle's.
const (
	exitConfig = 1 // missing or invalid configuration
	exitUsage  = 2 // bad flags or arguments
)

// settings are the command line, supplied to the Fx graph.
type settings struct {
	ConfigPath string
	Addr       string
	Serve      bool
	Verbose    bool
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the whole command, with its streams and exit code, so that tests
// run it in-process.
func run(args []string, stdout, stderr io.Writer) int {
	s, code, ok := parseFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return code
	}
	// Check the configuration before anything starts, for a clear error.
	if _, err := loadConfig(s.ConfigPath); err != nil {
		if errors.Is(err, os.ErrNotExist) && !filepath.IsAbs(s.ConfigPath) {
			err = fmt.Errorf("%w (run from the repository root, or pass -config)", err)
		}
		return fail(exitConfig, err)
	}

	tl := newTimeline(stdout)
	var rt *lifecycle.Runtime
	opts := []fx.Option{
		fx.Supply(s),
		logging(s.Verbose, stderr),
		configModule,
		httpModule,
		tasksModule,
		auditModule,
		timelineModule(tl),
		fx.Populate(&rt),
	}
	if s.Serve {
		opts = append(opts, debugpage.Module, fx.Invoke(func(h *httpServer, page *debugpage.Page) {
			h.mount("GET /debug/fxruntime", page)
			h.mount("GET /debug/fxruntime.json", page)
		}))
		tl.Printf("serving until SIGINT or SIGTERM; SIGHUP reloads %s (pid %d); debug page at /debug/fxruntime\n", s.ConfigPath, os.Getpid())
	} else {
		// Buffered: the tour never waits for the runtime to read a signal.
		sigs := make(chan os.Signal, 4)
		tr, err := newTour(tl, sigs, s.ConfigPath)
		if err != nil {
			return fail(exitConfig, err)
		}
		opts = append(opts, tourModule(tr, sigs))
		tl.Printf("fxruntime demo: a shop service tours itself (time since start, event type, what happened)")
		tr.heading(0)
	}

	code = lifecycle.Run(context.Background(), opts...)

	// For a non-zero exit code, Run has written why on the process's
	// standard error, in one line.
	if rt != nil && rt.State() != lifecycle.StateStopped {
		// A second signal forced the exit: Run returned without waiting
		// for the stop, and the bus will not close. Give the timeline a
		// moment to print the last events, ShutdownForced among them.
		tl.Wait(100 * time.Millisecond)
		tl.flush()
		return code
	}
	// The bus closes last: once its readers are done, every line is out.
	if !tl.Wait(2 * time.Second) {
		fmt.Fprintln(stderr, "demo: the timeline did not end; some events may be missing")
	}
	if code != 0 {
		return code
	}
	if !s.Serve {
		tl.Printf("\n== the tour is over: exit code 0. Run with -serve to keep the service up and send it signals.")
	}
	return 0
}

// parseFlags parses args. When ok is false, the command is over with the
// exit code code: -h printed the usage, or the arguments were bad and a
// one-line error was printed.
func parseFlags(args []string, stdout, stderr io.Writer) (s settings, code int, ok bool) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&s.ConfigPath, "config", "testdata/good.json",
		"the configuration `file` (JSON); the tour also reads good2.json and bad.json from its directory")
	fs.StringVar(&s.Addr, "addr", "127.0.0.1:0", "the `address` the HTTP server listens on; port 0 picks a free port")
	fs.BoolVar(&s.Serve, "serve", false, "serve until SIGINT or SIGTERM, reloading the configuration on SIGHUP, instead of the tour")
	fs.BoolVar(&s.Verbose, "v", false, "log to stderr: Fx's events and the runtime's log entries, through zap")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprint(out, `demo: a small shop service built on fxbus and lifecycle.

By default it tours itself: it starts, serves a few HTTP requests, reloads
a good and a bad configuration, restarts a failing task, and shuts down
while a request is in flight, printing every event of its bus; then it
exits 0. Run it from the repository root: go run ./cmd/demo

Usage: demo [flags]

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(out, `
Endpoints: GET /healthz, GET /readyz, GET /work?ms=N; with -serve, the
debug page GET /debug/fxruntime (and its JSON, /debug/fxruntime.json).
Exit codes: 0 clean shutdown; 1 missing or invalid configuration, or a
failure; 2 bad usage; 3 a second SIGINT or SIGTERM forced the exit.
`)
	}
	fs.SetOutput(io.Discard) // errors are reported on one line below
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return s, 0, false
	case err != nil:
		fmt.Fprintf(stderr, "demo: %v (see demo -h)\n", err)
		return s, exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "demo: unexpected argument %q (see demo -h)\n", fs.Arg(0))
		return s, exitUsage, false
	}
	return s, 0, true
}

// logging returns the Fx options for logs: none by default, so that the
// timeline, which prints every event, reads clearly (without a logger of
// its own the runtime would write its warnings and errors to stderr); with
// -v, a zap logger on stderr that Fx, the bus and the runtime all write to.
func logging(verbose bool, stderr io.Writer) fx.Option {
	if !verbose {
		return fx.Options(fx.NopLogger, fx.Supply(zap.NewNop()))
	}
	core := zapcore.NewCore(
		zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(stderr)),
		zapcore.InfoLevel,
	)
	return fx.Options(
		fx.Supply(zap.New(core)),
		fx.WithLogger(func(l *zap.Logger) fxevent.Logger { return &fxevent.ZapLogger{Logger: l} }),
	)
}

// oneLine keeps an error message on one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
