package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

// helperEnv, when set, makes the test binary run helperMain instead of the
// tests: a small service for the end-to-end test to send real signals to.
// Its value is the mode: "plain", or "slowstop" for a provider whose stop
// blocks until the stop deadline.
const helperEnv = "LIFECYCLE_E2E_HELPER"

// e2eForceCode is the force exit code the helper configures.
const e2eForceCode = 7

// helperMain is the helper service's main: it prints one line per phase
// on stdout and logs JSON on stderr.
func helperMain() int {
	mode := os.Getenv(helperEnv)
	logger, err := zap.NewProduction()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer func() { _ = logger.Sync() }()
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	return lifecycle.Main(
		fx.NopLogger,
		fx.Supply(logger),
		fx.Supply(lifecycle.Config{ForceExitCode: e2eForceCode}),
		fx.StopTimeout(10*time.Second),
		lifecycle.AsProvider(func() lifecycle.Provider {
			return lifecycle.NewProvider("config", lifecycle.Normal, lifecycle.Hooks{
				Boot:   func(context.Context) error { say("provider: booted"); return nil },
				Reload: func(context.Context) error { say("provider: reloaded"); return nil },
				Stop: func(ctx context.Context) error {
					say("provider: stopping")
					if mode == "slowstop" {
						<-ctx.Done()
					}
					return nil
				},
			})
		}),
		fxbus.Handle(func(_ context.Context, ev lifecycle.ReadyEvent) error { say("event: ready"); return nil }),
		fxbus.Handle(func(_ context.Context, ev lifecycle.ReloadCompletedEvent) error {
			say("event: reload completed applied=%v", ev.Applied)
			return nil
		}),
		fxbus.Handle(func(_ context.Context, ev fxbus.ShutdownInitiatedEvent) error {
			say("event: shutdown initiated reason=%q", ev.Reason)
			return nil
		}),
	)
}
