package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// node is a provider that records its calls; the types below embed it so
// that each is a type of its own in the Fx graph.
type node struct {
	name string
	prio lifecycle.Priority
	rec  *recorder
	fail error // what Boot returns
}

func (n *node) Name() string                 { return n.name }
func (n *node) Priority() lifecycle.Priority { return n.prio }
func (n *node) Boot(context.Context) error {
	if n.fail != nil {
		return n.fail
	}
	n.rec.add("boot:" + n.name)
	return nil
}
func (n *node) Validate(context.Context) error { n.rec.add("validate:" + n.name); return nil }
func (n *node) Reload(context.Context) error   { n.rec.add("reload:" + n.name); return nil }
func (n *node) Stop(context.Context) error     { n.rec.add("stop:" + n.name); return nil }

type (
	nodeA struct{ *node }
	nodeB struct{ *node }
	nodeC struct{ *node }
	nodeD struct{ *node }
)

// diamond returns the registrations of four providers: a needs b and c,
// which both need d. a is registered with AsProvider, the others are
// provided and registered with ProviderOf. Priorities come from prio
// (Normal if absent); the provider named fail fails to boot with boom.
func diamond(rec *recorder, prio map[string]lifecycle.Priority, fail string, boom error) []fx.Option {
	mk := func(name string) *node {
		n := &node{name: name, prio: prio[name], rec: rec}
		if name == fail {
			n.fail = boom
		}
		return n
	}
	return []fx.Option{
		lifecycle.AsProvider(func(*nodeB, *nodeC) *nodeA { return &nodeA{mk("a")} }),
		fx.Options(fx.Provide(func(*nodeD) *nodeB { return &nodeB{mk("b")} }), lifecycle.ProviderOf[*nodeB]()),
		fx.Options(fx.Provide(func(*nodeD) *nodeC { return &nodeC{mk("c")} }), lifecycle.ProviderOf[*nodeC]()),
		fx.Options(fx.Provide(func() *nodeD { return &nodeD{mk("d")} }), lifecycle.ProviderOf[*nodeD]()),
	}
}

// permutations returns every order of s.
func permutations[T any](s []T) [][]T {
	if len(s) <= 1 {
		return [][]T{s}
	}
	var out [][]T
	for i := range s {
		for _, p := range permutations(slices.Concat(s[:i], s[i+1:])) {
			out = append(out, append([]T{s[i]}, p...))
		}
	}
	return out
}

func TestPlanFollowsDependencies(t *testing.T) {
	tests := []struct {
		desc string
		prio map[string]lifecycle.Priority
		want []string
	}{
		{desc: "names order b and c", want: []string{"d", "b", "c", "a"}},
		{desc: "priority orders b and c", prio: map[string]lifecycle.Priority{"c": lifecycle.Early}, want: []string{"d", "c", "b", "a"}},
		{
			desc: "priorities that contradict the dependencies do not move a provider past one",
			prio: map[string]lifecycle.Priority{"a": lifecycle.Early, "d": lifecycle.Late},
			want: []string{"d", "b", "c", "a"},
		},
	}
	groupOrders := make(map[string]bool) // the orders the value group came in
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for i, perm := range permutations([]int{0, 1, 2, 3}) {
				rec := &recorder{}
				regs := diamond(rec, tt.prio, "", nil)
				var opts []fx.Option
				for _, k := range perm {
					opts = append(opts, regs[k])
				}
				var rt *lifecycle.Runtime
				var bus *fxbus.Bus
				app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Options(opts...), fx.Populate(&rt, &bus),
					fx.Invoke(fx.Annotate(func(ps []lifecycle.Provider) {
						var names []string
						for _, p := range ps {
							names = append(names, p.Name())
						}
						groupOrders[strings.Join(names, " ")] = true
					}, fx.ParamTags(`group:"lifecycle.providers"`))),
				)
				if err := app.Err(); err != nil {
					t.Fatal(err)
				}
				if got := rt.Plan().Names(); !slices.Equal(got, tt.want) { // before Start
					t.Fatalf("permutation %d: plan %v, want %v\n%v", i, got, tt.want, rt.Plan())
				}
				booted := subscribe[lifecycle.ProviderBootedEvent](t, bus)
				stopped := subscribe[lifecycle.ProviderStoppedEvent](t, bus)
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				if err := app.Start(ctx); err != nil {
					t.Fatal(err)
				}
				if err := app.Stop(ctx); err != nil {
					t.Fatal(err)
				}
				cancel()
				for _, want := range tt.want {
					if ev := next(t, booted); ev.Name != want {
						t.Fatalf("permutation %d: ProviderBooted %q, want %q", i, ev.Name, want)
					}
				}
				for _, want := range slices.Backward(tt.want) {
					if ev := next(t, stopped); ev.Name != want {
						t.Fatalf("permutation %d: ProviderStopped %q, want %q", i, ev.Name, want)
					}
				}
				if got, want := strings.Join(rec.get(), " "), bootsAndStops(tt.want); got != want {
					t.Fatalf("permutation %d: calls %q, want %q", i, got, want)
				}
			}
		})
	}
	if len(groupOrders) < 2 {
		t.Fatalf("the value group came in one order only, %v: the test did not see dig shuffle it", groupOrders)
	}

	t.Run("the plan names the dependencies", func(t *testing.T) {
		var rt *lifecycle.Runtime
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Options(diamond(&recorder{}, nil, "", nil)...), fx.Populate(&rt))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		want := `1. d (normal)
2. b (normal) after d: needs *lifecycle_test.nodeD
3. c (normal) after d: needs *lifecycle_test.nodeD
4. a (normal) after b: needs *lifecycle_test.nodeB; after c: needs *lifecycle_test.nodeC`
		if got := rt.Plan().String(); got != want {
			t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("a failed boot rolls back what booted, in reverse plan order", func(t *testing.T) {
		rec := &recorder{}
		boom := errors.New("c is down")
		var bus *fxbus.Bus
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Options(diamond(rec, nil, "c", boom)...), fx.Populate(&bus))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		stopped := subscribe[lifecycle.ProviderStoppedEvent](t, bus)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err := app.Start(ctx)
		var pe *lifecycle.ProviderError
		if !errors.As(err, &pe) || pe.Provider != "c" || !errors.Is(err, boom) {
			t.Fatalf("Start = %v, want c's boot error", err)
		}
		if got, want := strings.Join(rec.get(), " "), "boot:d boot:b stop:b stop:d"; got != want {
			t.Fatalf("calls = %q, want %q", got, want)
		}
		for _, want := range []string{"b", "d"} {
			if ev := next(t, stopped); ev.Name != want {
				t.Fatalf("ProviderStopped %q, want %q", ev.Name, want)
			}
		}
		none(t, stopped)
		_ = app.Stop(ctx)
	})

	t.Run("reload validates all in plan order, then reloads in plan order", func(t *testing.T) {
		rec := &recorder{}
		var rt *lifecycle.Runtime
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Options(diamond(rec, nil, "", nil)...), fx.Populate(&rt))
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		want := "boot:d boot:b boot:c boot:a validate:d validate:b validate:c validate:a " +
			"reload:d reload:b reload:c reload:a stop:a stop:c stop:b stop:d"
		if got := strings.Join(rec.get(), " "); got != want {
			t.Fatalf("calls = %q\nwant    %q", got, want)
		}
	})
}

// The values through which the tests below make provider "api" need
// provider "zdb" (whose name sorts last).
type (
	dbProv  struct{ *node }
	repo    struct{}
	handler struct{}
	conn    struct{}
	absent  struct{}
)

func newAPI() lifecycle.Provider { return &node{name: "api", rec: &recorder{}} }

func TestPlanDependencySources(t *testing.T) {
	db := fx.Options(
		fx.Provide(func() *dbProv { return &dbProv{&node{name: "zdb", rec: &recorder{}}} }),
		lifecycle.ProviderOf[*dbProv](),
	)
	newRepo := func(*dbProv) *repo { return &repo{} }
	tests := []struct {
		desc string
		give []fx.Option
		want string // the reason api is after zdb; "" if it is not
	}{
		{
			desc: "a parameter of the provider's constructor",
			give: []fx.Option{db, lifecycle.AsProvider(func(*dbProv) lifecycle.Provider { return newAPI() })},
			want: "needs *lifecycle_test.dbProv",
		},
		{
			desc: "a value that needs the provider",
			give: []fx.Option{db, fx.Provide(newRepo), lifecycle.AsProvider(func(*repo) lifecycle.Provider { return newAPI() })},
			want: "needs *lifecycle_test.repo, which needs *lifecycle_test.dbProv",
		},
		{
			desc: "ProviderOf: the constructor of the type",
			give: []fx.Option{
				db, fx.Provide(newRepo),
				fx.Provide(func(*repo) *nodeA { return &nodeA{&node{name: "api", rec: &recorder{}}} }),
				lifecycle.ProviderOf[*nodeA](),
			},
			want: "needs *lifecycle_test.repo, which needs *lifecycle_test.dbProv",
		},
		{
			desc: "an fx.In field",
			give: []fx.Option{db, fx.Provide(newRepo), lifecycle.AsProvider(func(struct {
				fx.In
				Repo *repo
			}) lifecycle.Provider {
				return newAPI()
			})},
			want: "needs *lifecycle_test.repo, which needs *lifecycle_test.dbProv",
		},
		{
			desc: "a named value",
			give: []fx.Option{
				db, fx.Provide(fx.Annotate(newRepo, fx.ResultTags(`name:"ro"`))),
				lifecycle.AsProvider(func(struct {
					fx.In
					Repo *repo `name:"ro"`
				}) lifecycle.Provider {
					return newAPI()
				}),
			},
			want: "needs *lifecycle_test.repo[name=ro], which needs *lifecycle_test.dbProv",
		},
		{
			desc: "an optional value that is provided",
			give: []fx.Option{db, fx.Provide(newRepo), lifecycle.AsProvider(func(struct {
				fx.In
				Repo *repo `optional:"true"`
			}) lifecycle.Provider {
				return newAPI()
			})},
			want: "needs *lifecycle_test.repo, which needs *lifecycle_test.dbProv",
		},
		{
			desc: "an optional value that is not provided",
			give: []fx.Option{db, lifecycle.AsProvider(func(struct {
				fx.In
				Absent *absent `optional:"true"`
			}) lifecycle.Provider {
				return newAPI()
			})},
		},
		{
			desc: "a value group",
			give: []fx.Option{
				db,
				fx.Provide(fx.Annotate(func() *handler { return &handler{} }, fx.ResultTags(`group:"handlers"`))),
				fx.Provide(fx.Annotate(func(*dbProv) *handler { return &handler{} }, fx.ResultTags(`group:"handlers"`))),
				lifecycle.AsProvider(func(struct {
					fx.In
					Handlers []*handler `group:"handlers"`
				}) lifecycle.Provider {
					return newAPI()
				}),
			},
			want: "needs [type=*lifecycle_test.handler group=handlers], which needs *lifecycle_test.dbProv",
		},
		{
			desc: "another result of an AsProvider constructor",
			give: []fx.Option{
				lifecycle.AsProvider(func() (*dbProv, *conn) { return &dbProv{&node{name: "zdb", rec: &recorder{}}}, &conn{} }),
				lifecycle.AsProvider(func(*conn) lifecycle.Provider { return newAPI() }),
			},
			want: "needs *lifecycle_test.conn",
		},
		{
			desc: "a provider given with fx.Supply",
			give: []fx.Option{
				fx.Supply(&dbProv{&node{name: "zdb", rec: &recorder{}}}), lifecycle.ProviderOf[*dbProv](),
				fx.Provide(newRepo), lifecycle.AsProvider(func(*repo) lifecycle.Provider { return newAPI() }),
			},
			want: "needs *lifecycle_test.repo, which needs *lifecycle_test.dbProv",
		},
		{
			desc: "a private value of a module",
			give: []fx.Option{db, fx.Module("api",
				fx.Provide(fx.Private, newRepo),
				lifecycle.AsProvider(func(*repo) lifecycle.Provider { return newAPI() }),
			)},
			want: "needs *lifecycle_test.repo, which needs *lifecycle_test.dbProv",
		},
		{
			desc: "not seen: the parameters of a decorator",
			give: []fx.Option{
				db, fx.Provide(func() *repo { return &repo{} }),
				fx.Decorate(func(r *repo, _ *dbProv) *repo { return r }),
				lifecycle.AsProvider(func(*repo) lifecycle.Provider { return newAPI() }),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var rt *lifecycle.Runtime
			app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Options(tt.give...), fx.Populate(&rt))
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			plan := rt.Plan()
			want := []string{"zdb", "api"}
			if tt.want == "" {
				want = []string{"api", "zdb"} // by name
			}
			if !slices.Equal(plan.Names(), want) {
				t.Fatalf("plan %v, want %v\n%v", plan.Names(), want, plan)
			}
			var reasons []string
			for _, s := range plan.Steps {
				for _, e := range s.After {
					reasons = append(reasons, fmt.Sprintf("%s after %s: %s (explicit %v)", e.Provider, e.After, e.Reason, e.Explicit))
				}
			}
			wantReasons := []string(nil)
			if tt.want != "" {
				wantReasons = []string{"api after zdb: " + tt.want + " (explicit false)"}
			}
			if !slices.Equal(reasons, wantReasons) {
				t.Fatalf("edges %q, want %q", reasons, wantReasons)
			}
		})
	}

	t.Run("not seen: providers registered without AsProvider or ProviderOf, and the log says so", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		var rt *lifecycle.Runtime
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), db, fx.Populate(&rt),
			fx.Supply(zap.New(core)),
			fx.Provide(fx.Annotate(func(*dbProv) lifecycle.Provider { return newAPI() }, fx.ResultTags(`group:"lifecycle.providers"`))),
			lifecycle.With(lifecycle.WithProviders(lifecycle.NewProvider("cron", lifecycle.Normal, lifecycle.Hooks{}))))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		if got := rt.Plan().Names(); !slices.Equal(got, []string{"api", "cron", "zdb"}) {
			t.Fatalf("plan %v, want the order of names", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		entries := logs.FilterMessage("plan").All()
		if len(entries) != 1 || fmtAny(entries[0].ContextMap()["dependencies_unknown"]) != fmtAny([]any{"api", "cron"}) {
			t.Fatalf("plan log entries %+v, want one listing api and cron as of unknown dependencies", entries)
		}
	})

	t.Run("an explicit edge orders providers with no Go dependency", func(t *testing.T) {
		var rt *lifecycle.Runtime
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), db, fx.Populate(&rt),
			lifecycle.AsProvider(newAPI),
			lifecycle.With(lifecycle.After(lifecycle.ByName("api"), lifecycle.ByType[*dbProv]())))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		if got := rt.Plan().Names(); !slices.Equal(got, []string{"zdb", "api"}) {
			t.Fatalf("plan %v", got)
		}
	})
}

func TestPlanFxErrors(t *testing.T) {
	chain := func(rec *recorder) []fx.Option { // a needs b, which needs c
		return []fx.Option{
			fx.Options(fx.Provide(func() *nodeC { return &nodeC{&node{name: "c", rec: rec}} }), lifecycle.ProviderOf[*nodeC]()),
			fx.Options(fx.Provide(func(*nodeC) *nodeB { return &nodeB{&node{name: "b", rec: rec}} }), lifecycle.ProviderOf[*nodeB]()),
			lifecycle.AsProvider(func(*nodeB) *nodeA { return &nodeA{&node{name: "a", rec: rec}} }),
		}
	}
	tests := []struct {
		desc  string
		give  lifecycle.Option
		cycle []string // the edges of the *CycleError, closing edge last
		want  string   // else, a substring of the error
	}{
		{
			desc: "an explicit edge against a dependency: a cycle of two",
			give: lifecycle.After(lifecycle.ByName("b"), lifecycle.ByName("a")),
			cycle: []string{
				`"a" after "b" (needs *lifecycle_test.nodeB)`,
				`"b" after "a" (After(ByName("b"), ByName("a")))`,
			},
		},
		{
			desc: "an explicit edge against two dependencies: a cycle of three",
			give: lifecycle.Before(lifecycle.ByName("a"), lifecycle.ByType[*nodeC]()),
			cycle: []string{
				`"a" after "b" (needs *lifecycle_test.nodeB)`,
				`"b" after "c" (needs *lifecycle_test.nodeC)`,
				`"c" after "a" (Before(ByName("a"), ByType[*lifecycle_test.nodeC]))`,
			},
		},
		{
			desc: "an edge to a provider that does not exist",
			give: lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("ghost")),
			want: `ByName("ghost") names no provider (the providers: "a", "b", "c")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec := &recorder{}
			app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Options(chain(rec)...), lifecycle.With(tt.give))
			err := app.Err()
			if err == nil {
				t.Fatal("the application was built")
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			var ce *lifecycle.CycleError
			if tt.cycle != nil {
				if !errors.As(err, &ce) {
					t.Fatalf("error %v, want a *CycleError", err)
				}
				var got []string
				for _, e := range ce.Cycle {
					got = append(got, e.String())
				}
				if !slices.Equal(got, tt.cycle) {
					t.Fatalf("cycle:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.cycle, "\n"))
				}
			}
			if calls := rec.get(); len(calls) > 0 {
				t.Fatalf("calls %v, want none", calls)
			}
		})
	}

	t.Run("AsProvider refuses what is not a provider's constructor", func(t *testing.T) {
		for _, give := range []any{func() int { return 1 }, func() {}, 42, nil, fx.Annotate(newAPI, fx.ResultTags(`name:"x"`))} {
			err := fx.New(fxbus.Module, lifecycle.Module, quiet(), lifecycle.AsProvider(give)).Err()
			if err == nil || !strings.Contains(err.Error(), "lifecycle: AsProvider: ") || !strings.Contains(err.Error(), "first result implements lifecycle.Provider") &&
				!strings.Contains(err.Error(), "a type that implements lifecycle.Provider") {
				t.Errorf("AsProvider(%T): error %v", give, err)
			}
		}
	})
}

// pool stands for a component with Fx hooks of its own (a connection
// pool, a client): its constructor appends them.
type pool struct{ rec *recorder }

func newPool(lc fx.Lifecycle, rec *recorder) *pool {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { rec.add("pool started"); return nil },
		OnStop:  func(context.Context) error { rec.add("pool stopped"); return nil },
	})
	return &pool{rec: rec}
}

// A provider or a task that needs a component with Fx hooks of its own has
// that component started before it boots or runs, and stopped only after
// it has stopped: the provider's Stop and the task's last work may still
// use it, as Fx orders any constructor after what it needs.
func TestModuleStartsWhatProvidersAndTasksNeedFirstAndStopsItLast(t *testing.T) {
	rec := &recorder{}
	app := fxtest.New(t, quiet(), fxbus.Module, lifecycle.Module,
		fx.Supply(rec),
		fx.Provide(newPool),
		lifecycle.AsProvider(func(p *pool) lifecycle.Provider {
			return lifecycle.NewProvider("repo", lifecycle.Normal, lifecycle.Hooks{
				Boot: func(context.Context) error { p.rec.add("repo booted"); return nil },
				Stop: func(context.Context) error { p.rec.add("repo stopped"); return nil },
			})
		}),
		lifecycle.AsTask(func(p *pool) lifecycle.Task {
			return lifecycle.Task{Name: "flusher", Run: func(ctx context.Context) error {
				p.rec.add("flusher running")
				<-ctx.Done()
				time.Sleep(20 * time.Millisecond) // a last flush through the pool
				p.rec.add("flusher ended")
				return nil
			}}
		}),
	)
	app.RequireStart()
	eventually(t, "running the task", func() bool { return slices.Contains(rec.get(), "flusher running") },
		func() string { return fmt.Sprint(rec.get()) })
	app.RequireStop()
	got := rec.get()
	at := func(s string) int {
		i := slices.Index(got, s)
		if i < 0 {
			t.Fatalf("%q never happened: %v", s, got)
		}
		return i
	}
	if at("pool started") > at("repo booted") || at("pool started") > at("flusher running") {
		t.Errorf("the pool started after what needs it: %v", got)
	}
	if at("pool stopped") < at("repo stopped") || at("pool stopped") < at("flusher ended") {
		t.Errorf("the pool stopped before what needs it: %v", got)
	}
}

// A component that depends on the runtime and is built by an fx.Invoke of
// the application (at the top level of fx.New, or in a module listed after
// lifecycle.Module) starts after the providers have booted and stops
// before they stop: Fx runs the invokes of lifecycle.Module first.
func TestModuleStartsComponentsBuiltAfterItOnceProvidersHaveBooted(t *testing.T) {
	rec := &recorder{}
	app := fxtest.New(t, quiet(), fxbus.Module, lifecycle.Module,
		fx.Supply(rec),
		lifecycle.AsProvider(func(rec *recorder) lifecycle.Provider {
			return lifecycle.NewProvider("repo", lifecycle.Normal, lifecycle.Hooks{
				Boot: func(context.Context) error { rec.add("repo booted"); return nil },
				Stop: func(context.Context) error { rec.add("repo stopped"); return nil },
			})
		}),
		fx.Module("app", fx.Invoke(func(lc fx.Lifecycle, _ *lifecycle.Runtime, rec *recorder) {
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error { rec.add("server started"); return nil },
				OnStop:  func(context.Context) error { rec.add("server stopped"); return nil },
			})
		})),
	)
	app.RequireStart().RequireStop()
	want := []string{"repo booted", "server started", "server stopped", "repo stopped"}
	if got := rec.get(); !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}
