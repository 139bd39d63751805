package lifecycle_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
)

// appModule is the layout the package documentation recommends: the
// application's module includes the bus and the runtime at its top level,
// so that it runs as it is under fxtest and under Main.
func appModule(booted *atomic.Int32) fx.Option {
	return fx.Options(
		fxbus.Module,
		lifecycle.Module,
		fx.Supply(zap.NewNop()),
		fx.Module("shop",
			lifecycle.AsProvider(func() lifecycle.Provider {
				return lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{Boot: func(context.Context) error {
					booted.Add(1)
					return nil
				}})
			}),
		),
	)
}

// TestMainWithModulesAlreadyIncluded: Run (and so Main) adds fxbus.Module
// and lifecycle.Module only when the options do not include them already,
// at any depth of fx.Options and fx.Module, so that one application
// module serves fxtest and Main alike.
func TestMainWithModulesAlreadyIncluded(t *testing.T) {
	var booted atomic.Int32
	tests := []struct {
		desc string
		opts []fx.Option
	}{
		{"both", []fx.Option{appModule(&booted)}},
		{"nested in options", []fx.Option{fx.Options(fx.Options(appModule(&booted)))}},
		{"the bus only", []fx.Option{fxbus.Module, fx.Supply(zap.NewNop())}},
		{"the runtime only", []fx.Option{lifecycle.Module, fx.Supply(zap.NewNop())}},
		{"neither", []fx.Option{fx.Supply(zap.NewNop())}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			opts := append([]fx.Option{fx.NopLogger, shutdownTask("done", 0)}, tt.opts...)
			if code := lifecycle.Run(context.Background(), opts...); code != 0 {
				t.Fatalf("Run: exit code %d, want 0 (see stderr)", code)
			}
		})
	}
	if n := booted.Load(); n != 2 {
		t.Errorf("the application's provider booted %d times, want 2", n)
	}

	// The same module under fxtest.
	booted.Store(0)
	app := fxtest.New(t, appModule(&booted))
	app.RequireStart().RequireStop()
	if n := booted.Load(); n != 1 {
		t.Errorf("under fxtest the provider booted %d times, want 1", n)
	}
}
