package main

import (
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// TestProvidersFollowTheirDependencies checks that the HTTP server boots
// after the configuration because its constructor takes it, not because
// of a priority or of their names.
func TestProvidersFollowTheirDependencies(t *testing.T) {
	var rt *lifecycle.Runtime
	app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module, lifecycle.With(lifecycle.WithoutSignals()),
		fx.Supply(settings{ConfigPath: "../../testdata/good.json", Addr: "127.0.0.1:0"}),
		configModule, httpModule, fx.Populate(&rt))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	want := lifecycle.Plan{Steps: []lifecycle.PlanStep{
		{Name: "config", Priority: lifecycle.Normal},
		{Name: "http", Priority: lifecycle.Normal, After: []lifecycle.Edge{
			{Provider: "http", After: "config", Reason: "needs *main.configProvider"},
		}},
	}}
	if got := rt.Plan(); got.String() != want.String() {
		t.Fatalf("plan:\n%v\nwant:\n%v", got, want)
	}
}
