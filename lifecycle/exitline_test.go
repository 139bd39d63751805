package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// exitChild is the child's part of TestMainSaysWhyItExits: lifecycle.Main
// as the README's quick start calls it, with no *zap.Logger in the graph
// (and Fx's own log off, to read the runtime's alone).
func exitChild(mode string) int {
	task := func(run lifecycle.TaskFunc) fx.Option {
		return lifecycle.AsTask(func() lifecycle.Task { return lifecycle.Task{Name: "indexer", Run: run} })
	}
	switch mode {
	case "critical task":
		return lifecycle.Main(fx.NopLogger, task(func(context.Context) error {
			return errors.New("index corrupt")
		}))
	case "exit code":
		return lifecycle.Main(fx.NopLogger, shutdownTask("disk full", 4))
	case "clean":
		return lifecycle.Main(fx.NopLogger, shutdownTask("done", 0))
	case "build":
		return lifecycle.Main(fx.NopLogger, lifecycle.AsTask(42))
	case "boot":
		return lifecycle.Main(fx.NopLogger, lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{
				Boot: func(context.Context) error { return errors.New("connection refused") },
			})
		}))
	case "handler":
		// A handler's failure is logged; the app then stops cleanly.
		return lifecycle.Main(fx.NopLogger,
			fxbus.Handle(func(context.Context, string) error { return errors.New("card declined") }),
			fx.Invoke(func(bus *fxbus.Bus) { fxbus.Emit(bus, "order 1") }),
			shutdownTask("done", 0),
		)
	}
	fmt.Fprintln(os.Stderr, "unknown mode", mode)
	return 2
}

// shutdownTask is a task that initiates the shutdown once the runtime runs.
func shutdownTask(reason string, code int) fx.Option {
	return lifecycle.AsTask(func(rt *lifecycle.Runtime) lifecycle.Task {
		return lifecycle.Task{Name: "stopper", Run: func(ctx context.Context) error {
			if rt.WaitRunning(ctx) == nil {
				rt.InitiateShutdown(reason, nil, code)
			}
			return nil
		}}
	})
}

// TestMainSaysWhyItExits runs lifecycle.Main in a child process with no
// logger of its own: what went wrong is on its standard error, logged by
// the default logger (warnings and errors, one line each), and a non-zero
// exit ends with one line naming the exit code, the reason and the cause.
func TestMainSaysWhyItExits(t *testing.T) {
	if mode := childMode(); mode != "" {
		os.Exit(exitChild(mode))
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	tests := []struct {
		mode     string
		code     int
		exitLine string   // "" for none
		logged   []string // a line of the default logger has these
	}{
		{
			mode:     "critical task",
			code:     1,
			exitLine: `lifecycle: exit code 1: shutdown: task "indexer" failed (attempt 1): index corrupt`,
			logged:   []string{"ERROR", "lifecycle", "task failed", `"task": "indexer"`, `"error": "index corrupt"`},
		},
		{mode: "exit code", code: 4, exitLine: "lifecycle: exit code 4: shutdown: disk full"},
		{mode: "clean", code: 0},
		{mode: "build", code: 1, exitLine: "lifecycle: exit code 1: building the application: "},
		{
			mode:     "boot",
			code:     1,
			exitLine: `lifecycle: exit code 1: shutdown: boot failed: provider "db": boot: connection refused`,
			logged:   []string{"ERROR", "lifecycle", "boot failed", "connection refused"},
		},
		{mode: "handler", code: 0, logged: []string{"ERROR", "fxbus", "handler failed", `"type": "string"`, `"error": "card declined"`}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c := startChild(t, "TestMainSaysWhyItExits", tt.mode)
			if code := c.exit(); code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, c.stderr.String())
			}
			lines := c.stderrLines()
			exits := linesWith(lines, "lifecycle: exit code")
			switch {
			case tt.exitLine == "" && len(exits) > 0:
				t.Errorf("exit lines %q, want none", exits)
			case tt.exitLine != "" && (len(exits) != 1 || !strings.HasPrefix(exits[0], tt.exitLine)):
				t.Errorf("exit lines %q, want one starting with %q; stderr:\n%s", exits, tt.exitLine, c.stderr.String())
			}
			if tt.logged != nil && len(linesWith(lines, tt.logged...)) != 1 {
				t.Errorf("no line of stderr has all of %q:\n%s", tt.logged, c.stderr.String())
			}
			// Warnings and errors only, nothing else.
			for _, l := range lines {
				if strings.Contains(l, "INFO") || strings.Contains(l, "DEBUG") {
					t.Errorf("stderr has %q: the default logger writes warnings and errors only", l)
				}
			}
			if len(lines) > len(exits)+len(tt.logged)+2 { // a log line or two, the exit line
				t.Errorf("stderr has %d lines, want at most a few:\n%s", len(lines), c.stderr.String())
			}
		})
	}
}
