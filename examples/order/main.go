// Command order shows how the runtime orders providers: after what their
// constructors need, after what explicit edges name, then by priority and
// name.
package main

import (
	"fmt"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// DB, Cache and Mailer are providers (they could also Boot, Reload, Stop).
type (
	DB     struct{}
	Repo   struct{} // not a provider: a value that needs the DB
	Cache  struct{}
	Mailer struct{}
)

func (*DB) Name() string                     { return "db" }
func (*Cache) Name() string                  { return "cache" }
func (*Mailer) Name() string                 { return "mailer" }
func (*Mailer) Priority() lifecycle.Priority { return lifecycle.Early }

func main() {
	var rt *lifecycle.Runtime
	app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module,
		fx.Provide(func() *DB { return &DB{} }),
		lifecycle.ProviderOf[*DB](),
		fx.Provide(func(*DB) *Repo { return &Repo{} }),
		lifecycle.AsProvider(func(*Repo) *Cache { return &Cache{} }),
		lifecycle.AsProvider(func() *Mailer { return &Mailer{} }),
		// The mailer reads the cache over the network, which the graph
		// cannot see: an explicit edge. It wins over the early priority.
		lifecycle.With(lifecycle.After(lifecycle.ByName("mailer"), lifecycle.ByType[*Cache]())),
		fx.Populate(&rt),
	)
	if err := app.Err(); err != nil {
		panic(err) // a cycle or an edge to no provider would fail here
	}
	// Before Start: providers validate, boot and reload in this order and
	// stop in reverse.
	fmt.Println(rt.Plan())
}
