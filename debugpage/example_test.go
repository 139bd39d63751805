package debugpage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/claviron/fxruntime/debugpage"
	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

func ExampleNew() {
	bus, _ := fxbus.New()
	defer bus.Close()
	rt, _ := lifecycle.New(bus, lifecycle.WithoutSignals(),
		lifecycle.WithProviders(lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{})))
	page, _ := debugpage.New(bus, rt)
	defer page.Close()

	mux := http.NewServeMux() // the service's admin server
	mux.Handle("GET /debug/fxruntime", page)
	mux.Handle("GET /debug/fxruntime.json", page)

	ctx := context.Background()
	_ = rt.Start(ctx)
	defer rt.Stop(ctx)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/fxruntime.json", nil))
	var snap debugpage.Snapshot
	_ = json.Unmarshal(rec.Body.Bytes(), &snap)
	fmt.Println("state:", snap.Runtime.State, "plan:", snap.Runtime.Plan[0].Name)
	for _, l := range snap.Events {
		fmt.Println(l.Type, l.Count)
	}
	// Output:
	// state: running plan: db
	// lifecycle.ProviderBootedEvent 1
	// lifecycle.BootedEvent 1
	// lifecycle.ReadyEvent 1
}

// Under Fx, Module provides the page; mount it on the admin server.
func ExampleModule() {
	mux := http.NewServeMux()
	app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		debugpage.Module,
		fx.Invoke(func(page *debugpage.Page) {
			mux.Handle("GET /debug/fxruntime", page)
			mux.Handle("GET /debug/fxruntime.json", page)
		}))
	ctx := context.Background()
	_ = app.Start(ctx)
	defer app.Stop(ctx)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/fxruntime", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 text/html; charset=utf-8
}
