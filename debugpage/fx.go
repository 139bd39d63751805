package debugpage

import (
	"context"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// Config is the page's configuration that [Module] reads from the Fx
// graph, when one is supplied:
//
//	fx.Supply(debugpage.Config{Recent: 10})
type Config struct {
	// Recent is how many events of each type the page keeps; 0 means
	// [DefaultRecent]. See [WithRecent].
	Recent int
	// Refresh is how often the HTML page reloads itself; 0 means
	// [DefaultRefresh], a negative value turns the reload off.
	Refresh time.Duration
}

// Module provides a *Page to an Fx application with fxbus.Module, for the
// application's *fxbus.Bus and, when the graph has one, its
// *lifecycle.Runtime. The page is built with the application, so it sees
// the events of the start; fxbus.Listen handlers feed it, for every run of
// the application. Mount it on the application's admin server:
//
//	fx.Invoke(func(mux *http.ServeMux, page *debugpage.Page) {
//		mux.Handle("GET /debug/fxruntime", page)
//		mux.Handle("GET /debug/fxruntime.json", page)
//	})
//
// Under Module, an event reaches the page when its handler has handled it,
// a moment after it was emitted.
var Module = fx.Module("debugpage",
	fx.Provide(provide),
	// Build the page with the application, not when first asked for.
	fx.Invoke(func(*Page) {}),
)

type params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Bus       *fxbus.Bus
	Runtime   *lifecycle.Runtime `optional:"true"`
	Config    Config             `optional:"true"`
}

func provide(in params) (*Page, error) {
	var opts []Option
	if c := in.Config; c.Recent != 0 {
		opts = append(opts, WithRecent(c.Recent))
	}
	switch r := in.Config.Refresh; {
	case r < 0:
		opts = append(opts, WithRefresh(0))
	case r > 0:
		opts = append(opts, WithRefresh(r))
	}
	p, err := newPage(in.Bus, in.Runtime, opts)
	if err != nil {
		return nil, err
	}
	fxbus.Listen(in.Lifecycle, in.Bus, func(_ context.Context, ev lifecycle.Event) error {
		p.observe(ev)
		return nil
	})
	fxbus.Listen(in.Lifecycle, in.Bus, func(_ context.Context, ev fxbus.ShutdownInitiatedEvent) error {
		p.observe(ev)
		return nil
	})
	return p, nil
}

func (p *Page) observe(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observeLocked(ev)
}
