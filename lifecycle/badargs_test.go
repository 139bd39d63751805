package lifecycle_test

import (
	"os"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/zap/zapcore"
)

// Bad arguments are errors naming the argument and what is expected;
// nothing panics.
func TestBadArgumentsAreErrorsNotPanics(t *testing.T) {
	t.Run("AsProvider(nil)", func(t *testing.T) {
		var app *fx.App
		notPanicking(t, "fx.New with AsProvider(nil)", func() {
			app = fx.New(quiet(), fxbus.Module, lifecycle.Module, lifecycle.AsProvider(nil))
		})
		err := app.Err()
		if err == nil || !strings.Contains(err.Error(), "AsProvider") || !strings.Contains(err.Error(), "constructor") {
			t.Fatalf("app.Err() = %v, want an error naming AsProvider that says a constructor is expected", err)
		}
	})

	t.Run("AsProvider with a constructor of the wrong shape", func(t *testing.T) {
		for _, tt := range []struct {
			desc string
			ctor any
			want []string
		}{
			// Already clear before issue 10 (Fx's fx.As names the type).
			{"a result that is not a Provider", func() int { return 1 }, []string{"int", "Provider"}},
			{"no result", func() {}, []string{"Provider"}},
			{"only an error", func() error { return nil }, []string{"func() error", "Provider"}},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				var app *fx.App
				notPanicking(t, "fx.New", func() {
					app = fx.New(quiet(), fxbus.Module, lifecycle.Module, lifecycle.AsProvider(tt.ctor))
				})
				err := app.Err()
				if err == nil {
					t.Fatalf("AsProvider(%T): app.Err() = nil", tt.ctor)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("AsProvider(%T): app.Err() = %v\nwant it to contain %q", tt.ctor, err, w)
					}
				}
				for _, internal := range []string{"makeFuncStub", "dig.Out"} {
					if strings.Contains(err.Error(), internal) {
						t.Errorf("AsProvider(%T): app.Err() speaks of dig's internals (%s): %v", tt.ctor, internal, err)
					}
				}
			})
		}
	})

	// The two below panic the runtime's signal goroutine, which kills the
	// test binary, when the runtime does not guard against them.
	t.Run("WithSignals channel closed", func(t *testing.T) {
		log, logs := debugLogger()
		ch := make(chanSignal)
		rt := newSignalRuntime(t, newBus(t), ch, lifecycle.WithLogger(log))
		startRuntime(t, rt)
		close(ch)
		eventually(t, `logged "no more signals"`,
			func() bool { return len(loggedWith(logs, zapcore.DebugLevel, "no more signals")) > 0 },
			func() string { return allLogged(logs) })
		if s := rt.State(); s != lifecycle.StateRunning {
			t.Fatalf("state %v after the signal channel was closed, want running", s)
		}
		ftServing(t, rt)
		if err := stopRuntime(t, rt); err != nil {
			t.Fatalf("Stop after the signal channel was closed: %v", err)
		}
	})

	t.Run("WithSignals sends a nil os.Signal", func(t *testing.T) {
		log, logs := debugLogger()
		ch := make(chanSignal)
		rt := newSignalRuntime(t, newBus(t), ch, lifecycle.WithLogger(log))
		startRuntime(t, rt)
		var nilSignal os.Signal
		ch <- nilSignal
		eventually(t, "a warning logged for the nil signal",
			func() bool { return len(loggedWith(logs, zapcore.WarnLevel)) > 0 },
			func() string { return allLogged(logs) })
		if s := rt.State(); s != lifecycle.StateRunning {
			t.Fatalf("state %v after a nil signal, want running", s)
		}
		ftServing(t, rt)
	})
}

// AsTask takes a constructor whose result is a lifecycle.Task; any other
// constructor fails the app's build with an error naming AsTask and
// lifecycle.Task, rather than giving a task that never runs.
func TestAsTaskRejectsAConstructorThatDoesNotReturnATask(t *testing.T) {
	for _, ctor := range []any{
		func() *lifecycle.Task { return nil },
		func() lifecycle.TaskFunc { return nil },
		func() {},
		"not a function",
		nil,
	} {
		app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module,
			lifecycle.With(lifecycle.WithoutSignals()), lifecycle.AsTask(ctor))
		err := app.Err()
		if err == nil || !strings.Contains(err.Error(), "AsTask") || !strings.Contains(err.Error(), "lifecycle.Task") {
			t.Errorf("AsTask(%T): build error %v, want one naming AsTask and lifecycle.Task", ctor, err)
		}
	}
}
