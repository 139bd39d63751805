package lifecycle_test

import (
	"fmt"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// DB and Cache are providers with priorities that contradict their
// dependency.
type (
	DB    struct{}
	Cache struct{}
)

func (*DB) Name() string                    { return "db" }
func (*DB) Priority() lifecycle.Priority    { return lifecycle.Late }
func (*Cache) Name() string                 { return "cache" }
func (*Cache) Priority() lifecycle.Priority { return lifecycle.Early }
func NewCache(*DB) *Cache                   { return &Cache{} }
func NewDB() *DB                            { return &DB{} }
func NewMetrics() lifecycle.Provider {
	return lifecycle.NewProvider("metrics", lifecycle.Normal, lifecycle.Hooks{})
}

// Under Fx, a provider boots after the providers its constructor needs,
// whatever their priorities; priority and name order the rest. The plan is
// readable before Start.
func ExampleRuntime_Plan() {
	var rt *lifecycle.Runtime
	app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module,
		fx.Provide(NewDB), lifecycle.ProviderOf[*DB](),
		lifecycle.AsProvider(NewCache), // needs the db
		lifecycle.AsProvider(NewMetrics),
		fx.Populate(&rt),
	)
	if err := app.Err(); err != nil {
		panic(err)
	}
	fmt.Println(rt.Plan())
	// Output:
	// 1. metrics (normal)
	// 2. db (late)
	// 3. cache (early) after db: needs *lifecycle_test.DB
}

// Without Fx, or for what the graph cannot see, After and Before say which
// provider comes first. An edge wins over priority; a cycle is an error
// that names every provider in it.
func ExampleAfter() {
	api := lifecycle.NewProvider("api", lifecycle.Early, lifecycle.Hooks{})
	queue := lifecycle.NewProvider("queue", lifecycle.Late, lifecycle.Hooks{})
	apiAfterQueue := lifecycle.After(lifecycle.ByName("api"), lifecycle.ByName("queue"))

	rt, err := lifecycle.New(nil, lifecycle.WithProviders(api, queue), apiAfterQueue)
	if err != nil {
		panic(err)
	}
	fmt.Println(rt.Plan())

	_, err = lifecycle.New(nil, lifecycle.WithProviders(api, queue), apiAfterQueue,
		lifecycle.Before(lifecycle.ByName("api"), lifecycle.ByName("queue")))
	fmt.Println(err)
	// Output:
	// 1. queue (late)
	// 2. api (early) after queue: After(ByName("api"), ByName("queue"))
	// lifecycle: providers "queue", "api" form a cycle, they cannot be ordered: "queue" after "api" (Before(ByName("api"), ByName("queue"))), and "api" after "queue" (After(ByName("api"), ByName("queue"))) closes the cycle
}
