package fxbus_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/claviron/fxruntime/fxbus"
)

// A hook appended through the (decorated) fx.Lifecycle after the first
// start, e.g. a Listen made at run time, makes every later start fail
// with an error blaming fxbus.Module's placement.
func TestHookAppendedAfterStartDoesNotBreakRestart(t *testing.T) {
	var lc fx.Lifecycle
	var bus *fxbus.Bus
	app := fx.New(fx.NopLogger, fxbus.Module, fx.Populate(&lc, &bus))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lc.Append(fx.StopHook(func() {})) // appended at run time, through Module's own decoration
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		t.Errorf("restart: %v", err)
	}
	_ = app.Stop(ctx)
}
