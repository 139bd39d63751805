package fxbus_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
)

// hookEvents records the function names that Fx's event log gives the
// OnStart and OnStop hooks it runs, and the errors of failed ones.
type hookEvents struct {
	mu      sync.Mutex
	started []string
	stopped []string
	failed  map[string]error // by function name
}

func (h *hookEvents) LogEvent(e fxevent.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e := e.(type) {
	case *fxevent.OnStartExecuting:
		h.started = append(h.started, e.FunctionName)
	case *fxevent.OnStopExecuting:
		h.stopped = append(h.stopped, e.FunctionName)
	case *fxevent.OnStartExecuted:
		if e.Err != nil {
			h.failed[e.FunctionName] = e.Err
		}
	}
}

func (h *hookEvents) names() (started, stopped []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.started...), append([]string(nil), h.stopped...)
}

// The hooks of the test, named functions of every signature fx.StartHook
// and fx.StopHook take.
func namedStart(context.Context) error { return nil }
func namedStop(context.Context) error  { return nil }
func plainStart()                      {}
func plainStop() error                 { return nil }
func ctxStart(context.Context)         {}
func errStart() error                  { return nil }
func failingStart(context.Context) error {
	return errors.New("address already in use")
}

const pkg = "github.com/claviron/fxruntime/fxbus_test."

// TestEventLogNamesTheUsersHooks: behind fxbus.Module's decoration of
// fx.Lifecycle, Fx's event log names the user's own functions as the
// hooks it runs, for hooks built with fx.Hook{...} and with fx.StartHook,
// fx.StopHook and fx.StartStopHook, not fxbus's wrapper.
func TestEventLogNamesTheUsersHooks(t *testing.T) {
	events := &hookEvents{failed: map[string]error{}}
	app := fx.New(
		fx.WithLogger(func() fxevent.Logger { return events }),
		fxbus.Module,
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.Hook{OnStart: namedStart, OnStop: namedStop})
			lc.Append(fx.StartHook(plainStart))
			lc.Append(fx.StopHook(plainStop))
			lc.Append(fx.StartStopHook(ctxStart, namedStop))
			lc.Append(fx.StartHook(errStart))
			// A hook made with StartHook whose OnStop is set afterwards:
			// OnStart is then the caller's own func(context.Context) error,
			// so both names can be given.
			h := fx.StartHook(namedStart)
			h.OnStop = namedStop
			lc.Append(h)
		}),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	started, stopped := events.names()
	wantStarted := []string{
		pkg + "namedStart()", pkg + "plainStart()", pkg + "ctxStart()", pkg + "errStart()", pkg + "namedStart()",
	}
	wantStopped := []string{pkg + "namedStop()", pkg + "namedStop()", pkg + "plainStop()", pkg + "namedStop()"}
	// The bus's own hook (the first to start, the last to stop) is
	// fxbus's; every other one is the user's.
	if len(started) != len(wantStarted)+1 || len(stopped) != len(wantStopped)+1 {
		t.Fatalf("OnStart hooks logged %q, OnStop hooks %q; want the bus's and %q, %q", started, stopped, wantStarted, wantStopped)
	}
	if got := strings.Join(started[1:], " "); got != strings.Join(wantStarted, " ") {
		t.Errorf("OnStart hooks logged as\n%q\nwant\n%q", started[1:], wantStarted)
	}
	if got := strings.Join(stopped[:len(stopped)-1], " "); got != strings.Join(wantStopped, " ") {
		t.Errorf("OnStop hooks logged as\n%q\nwant\n%q", stopped[:len(stopped)-1], wantStopped)
	}
}

// TestEventLogNamesAFailingHook: a port clash reads "OnStart hook failed"
// with the user's function as the callee.
func TestEventLogNamesAFailingHook(t *testing.T) {
	events := &hookEvents{failed: map[string]error{}}
	app := fx.New(
		fx.WithLogger(func() fxevent.Logger { return events }),
		fxbus.Module,
		fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.Hook{OnStart: failingStart}) }),
	)
	if err := app.Start(context.Background()); err == nil {
		t.Fatal("the start succeeded; want the hook's error")
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	if err := events.failed[pkg+"failingStart()"]; err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("failed hooks in Fx's log: %v; want %sfailingStart() with its error", events.failed, pkg)
	}
}

// TestHookNamesFxCannotShowAreLogged: for a hook made with fx.StartHook
// of a function that is not a func(context.Context) error, and given an
// OnStop afterwards, Fx's log can name only one of the two functions; the
// bus logs the other's failure under its real name.
func TestHookNamesFxCannotShowAreLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	events := &hookEvents{failed: map[string]error{}}
	h := fx.StartHook(plainStart)
	h.OnStop = func(context.Context) error { return errors.New("flush failed") }
	app := fx.New(
		fx.WithLogger(func() fxevent.Logger { return events }),
		fx.Supply(zap.New(core)),
		fxbus.Module,
		fx.Invoke(func(lc fx.Lifecycle, _ *fxbus.Bus) { lc.Append(h) }),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(ctx); err == nil {
		t.Fatal("the stop succeeded; want the hook's error")
	}
	started, _ := events.names()
	if len(started) != 2 || started[1] != pkg+"plainStart()" {
		t.Errorf("OnStart hooks logged as %q; want the bus's and %splainStart()", started, pkg)
	}
	entries := logs.FilterMessage("OnStop hook failed").All()
	if len(entries) != 1 {
		t.Fatalf("%d entries %q, want 1: %v", len(entries), "OnStop hook failed", logs.All())
	}
	e := entries[0]
	hook, _ := e.ContextMap()["hook"].(string)
	if e.LoggerName != "fxbus" || !strings.HasPrefix(hook, pkg+"TestHookNamesFxCannotShowAreLogged.func") ||
		!strings.Contains(e.ContextMap()["error"].(string), "flush failed") {
		t.Errorf("entry %+v, fields %v; want logger fxbus, the hook's own name and its error", e.Entry, e.ContextMap())
	}
}
