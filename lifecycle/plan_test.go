package lifecycle_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// broker and indexer are providers with types of their own, for ByType.
type broker struct{ rec *recorder }

func (*broker) Name() string                 { return "broker" }
func (b *broker) Boot(context.Context) error { b.rec.add("boot:broker"); return nil }
func (b *broker) Stop(context.Context) error { b.rec.add("stop:broker"); return nil }

type indexer struct{ rec *recorder }

func (*indexer) Name() string                 { return "indexer" }
func (*indexer) Priority() lifecycle.Priority { return lifecycle.Early }
func (i *indexer) Boot(context.Context) error { i.rec.add("boot:indexer"); return nil }
func (i *indexer) Stop(context.Context) error { i.rec.add("stop:indexer"); return nil }

// bootsAndStops is the calls a recorder sees when names boot in order and
// stop in reverse.
func bootsAndStops(names []string) string {
	var calls []string
	for _, n := range names {
		calls = append(calls, "boot:"+n)
	}
	for _, n := range slices.Backward(names) {
		calls = append(calls, "stop:"+n)
	}
	return strings.Join(calls, " ")
}

func TestPlanExplicitEdges(t *testing.T) {
	tests := []struct {
		desc string
		give []prov
		opts []lifecycle.Option
		want []string
	}{
		{
			desc: "After by name moves a provider past one with a later name",
			give: []prov{{"alpha", lifecycle.Normal}, {"zulu", lifecycle.Normal}},
			opts: []lifecycle.Option{lifecycle.After(lifecycle.ByName("alpha"), lifecycle.ByName("zulu"))},
			want: []string{"zulu", "alpha"},
		},
		{
			desc: "Before is After the other way round",
			give: []prov{{"alpha", lifecycle.Normal}, {"zulu", lifecycle.Normal}},
			opts: []lifecycle.Option{lifecycle.Before(lifecycle.ByName("zulu"), lifecycle.ByName("alpha"))},
			want: []string{"zulu", "alpha"},
		},
		{
			desc: "an edge wins over a priority that contradicts it",
			give: []prov{{"api", lifecycle.Early}, {"db", lifecycle.Late}},
			opts: []lifecycle.Option{lifecycle.After(lifecycle.ByName("api"), lifecycle.ByName("db"))},
			want: []string{"db", "api"},
		},
		{
			desc: "priority orders the providers that are ready, then name",
			// cache waits for db (late); meanwhile the normal ones go first.
			give: []prov{{"cache", lifecycle.Early}, {"db", lifecycle.Late}, {"mail", lifecycle.Normal}, {"auth", lifecycle.Normal}},
			opts: []lifecycle.Option{lifecycle.After(lifecycle.ByName("cache"), lifecycle.ByName("db"))},
			want: []string{"auth", "mail", "db", "cache"},
		},
		{
			desc: "edges chain",
			give: []prov{{"a", lifecycle.Normal}, {"b", lifecycle.Normal}, {"c", lifecycle.Normal}, {"d", lifecycle.Normal}},
			opts: []lifecycle.Option{
				lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("b")),
				lifecycle.After(lifecycle.ByName("b"), lifecycle.ByName("c")),
				lifecycle.Before(lifecycle.ByName("d"), lifecycle.ByName("c")),
			},
			want: []string{"d", "c", "b", "a"},
		},
		{
			desc: "an edge given twice counts once",
			give: []prov{{"a", lifecycle.Normal}, {"b", lifecycle.Normal}},
			opts: []lifecycle.Option{
				lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("b")),
				lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("b")),
			},
			want: []string{"b", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for range 10 { // any order of providers and options gives the same plan
				rec := &recorder{}
				ps := make([]lifecycle.Provider, len(tt.give))
				for i, p := range tt.give {
					ps[i] = recorded(rec, p.name, p.prio)
				}
				rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				opts := slices.Clone(tt.opts)
				rand.Shuffle(len(opts), func(i, j int) { opts[i], opts[j] = opts[j], opts[i] })
				rt := newRuntime(t, nil, append(opts, lifecycle.WithProviders(ps...))...)
				if got := rt.Plan().Names(); !slices.Equal(got, tt.want) {
					t.Fatalf("plan = %v, want %v\n%v", got, tt.want, rt.Plan())
				}
				if got := rt.Providers(); !slices.Equal(got, tt.want) {
					t.Fatalf("Providers() = %v, want %v", got, tt.want)
				}
				startRuntime(t, rt)
				if err := stopRuntime(t, rt); err != nil {
					t.Fatal(err)
				}
				if got, want := strings.Join(rec.get(), " "), bootsAndStops(tt.want); got != want {
					t.Fatalf("calls = %q, want %q", got, want)
				}
			}
		})
	}

	t.Run("ByType names providers by their dynamic type", func(t *testing.T) {
		rec := &recorder{}
		// indexer is early and its name comes first: only the edge puts it after broker.
		rt := newRuntime(t, nil, lifecycle.WithProviders(&indexer{rec}, &broker{rec}),
			lifecycle.After(lifecycle.ByType[*indexer](), lifecycle.ByType[*broker]()))
		startRuntime(t, rt)
		if err := stopRuntime(t, rt); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(rec.get(), " "), "boot:broker boot:indexer stop:indexer stop:broker"; got != want {
			t.Fatalf("calls = %q, want %q", got, want)
		}
	})

	t.Run("the plan says why", func(t *testing.T) {
		rt := newRuntime(t, nil, lifecycle.WithProviders(&indexer{&recorder{}}, &broker{&recorder{}},
			lifecycle.NewProvider("web", lifecycle.Late, lifecycle.Hooks{})),
			lifecycle.After(lifecycle.ByType[*indexer](), lifecycle.ByName("broker")),
			lifecycle.Before(lifecycle.ByName("indexer"), lifecycle.ByName("web")))
		plan := rt.Plan()
		want := lifecycle.Plan{Steps: []lifecycle.PlanStep{
			{Name: "broker", Priority: lifecycle.Normal},
			{Name: "indexer", Priority: lifecycle.Early, After: []lifecycle.Edge{
				{Provider: "indexer", After: "broker", Reason: `After(ByType[*lifecycle_test.indexer], ByName("broker"))`, Explicit: true},
			}},
			{Name: "web", Priority: lifecycle.Late, After: []lifecycle.Edge{
				{Provider: "web", After: "indexer", Reason: `Before(ByName("indexer"), ByName("web"))`, Explicit: true},
			}},
		}}
		if fmtAny(plan) != fmtAny(want) {
			t.Fatalf("plan =\n%#v\nwant\n%#v", plan, want)
		}
		wantText := `1. broker (normal)
2. indexer (early) after broker: After(ByType[*lifecycle_test.indexer], ByName("broker"))
3. web (late) after indexer: Before(ByName("indexer"), ByName("web"))`
		if plan.String() != wantText {
			t.Fatalf("plan.String() =\n%s\nwant\n%s", plan, wantText)
		}
		// The plan is a copy: changing it does not change the runtime's.
		plan.Steps[1].After[0].After = "changed"
		if rt.Plan().Steps[1].After[0].After != "broker" {
			t.Fatal("Plan returned the runtime's own slices")
		}
	})
}

func TestPlanCycle(t *testing.T) {
	tests := []struct {
		desc  string
		give  []string
		opts  []lifecycle.Option
		cycle []string // the edges of the *CycleError, closing edge last
	}{
		{
			desc: "two providers after each other",
			give: []string{"a", "b"},
			opts: []lifecycle.Option{
				lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("b")),
				lifecycle.After(lifecycle.ByName("b"), lifecycle.ByName("a")),
			},
			cycle: []string{
				`"b" after "a" (After(ByName("b"), ByName("a")))`,
				`"a" after "b" (After(ByName("a"), ByName("b")))`,
			},
		},
		{
			desc: "three providers, Before and After mixed",
			give: []string{"a", "b", "c", "d"},
			opts: []lifecycle.Option{
				lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("b")),
				lifecycle.Before(lifecycle.ByName("c"), lifecycle.ByName("b")),
				lifecycle.After(lifecycle.ByName("c"), lifecycle.ByName("a")),
				lifecycle.After(lifecycle.ByName("d"), lifecycle.ByName("a")), // after the cycle, not in it
			},
			cycle: []string{
				`"b" after "c" (Before(ByName("c"), ByName("b")))`,
				`"c" after "a" (After(ByName("c"), ByName("a")))`,
				`"a" after "b" (After(ByName("a"), ByName("b")))`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec := &recorder{}
			var ps []lifecycle.Provider
			for _, n := range tt.give {
				ps = append(ps, recorded(rec, n, lifecycle.Normal))
			}
			_, err := lifecycle.New(nil, append(tt.opts, lifecycle.WithProviders(ps...))...)
			var ce *lifecycle.CycleError
			if !errors.As(err, &ce) {
				t.Fatalf("New = %v, want a *CycleError", err)
			}
			var got []string
			for _, e := range ce.Cycle {
				got = append(got, e.String())
			}
			if !slices.Equal(got, tt.cycle) {
				t.Fatalf("cycle =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.cycle, "\n"))
			}
			for _, e := range tt.cycle {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not name the edge %s", err, e)
				}
			}
			if !strings.Contains(err.Error(), "and "+tt.cycle[len(tt.cycle)-1]+" closes the cycle") {
				t.Errorf("error %q does not say which edge closes the cycle", err)
			}
			if strings.Contains(err.Error(), `"d"`) {
				t.Errorf("error %q names d, which is only after the cycle", err)
			}
			if len(rec.get()) > 0 {
				t.Fatalf("calls = %v, want none", rec.get())
			}
		})
	}
}

func TestPlanBadEdges(t *testing.T) {
	providers := lifecycle.WithProviders(
		lifecycle.NewProvider("db", lifecycle.Normal, lifecycle.Hooks{}),
		lifecycle.NewProvider("cache", lifecycle.Normal, lifecycle.Hooks{}),
		&broker{&recorder{}},
	)
	tests := []struct {
		desc string
		give lifecycle.Option
		want []string // substrings of New's error
	}{
		{
			desc: "unknown name",
			give: lifecycle.After(lifecycle.ByName("cache"), lifecycle.ByName("dbx")),
			want: []string{`After(ByName("cache"), ByName("dbx"))`, `ByName("dbx") names no provider`, `"broker", "cache", "db"`},
		},
		{
			desc: "unknown type",
			give: lifecycle.Before(lifecycle.ByType[*indexer](), lifecycle.ByName("db")),
			want: []string{`ByType[*lifecycle_test.indexer] names no provider`},
		},
		{
			desc: "the zero Ref",
			give: lifecycle.After(lifecycle.Ref{}, lifecycle.ByName("db")),
			want: []string{`After(Ref{}, ByName("db"))`, "name no provider"},
		},
		{
			desc: "an empty name",
			give: lifecycle.After(lifecycle.ByName("db"), lifecycle.ByName("")),
			want: []string{`ByName("") name no provider`},
		},
		{
			desc: "an interface type",
			give: lifecycle.After(lifecycle.ByType[lifecycle.Provider](), lifecycle.ByName("db")),
			want: []string{"ByType[lifecycle.Provider] is an interface type"},
		},
		{
			desc: "a provider after itself",
			give: lifecycle.After(lifecycle.ByName("db"), lifecycle.ByName("db")),
			want: []string{`After(ByName("db"), ByName("db"))`, "after itself"},
		},
		{
			desc: "a provider after itself by name and type",
			give: lifecycle.After(lifecycle.ByName("broker"), lifecycle.ByType[*broker]()),
			want: []string{`provider "broker" after itself`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := lifecycle.New(nil, providers, tt.give)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPlanDrivesEveryPhase(t *testing.T) {
	b := newBus(t)
	booted := subscribe[lifecycle.ProviderBootedEvent](t, b)
	stopped := subscribe[lifecycle.ProviderStoppedEvent](t, b)
	rec := &recorder{}
	core, logs := observer.New(zapcore.DebugLevel)
	rt := newRuntime(t, b, lifecycle.WithLogger(zap.New(core)),
		lifecycle.WithProviders(recorded(rec, "a", lifecycle.Early), recorded(rec, "b", lifecycle.Normal),
			recorded(rec, "c", lifecycle.Late), recorded(rec, "d", lifecycle.Normal)),
		lifecycle.After(lifecycle.ByName("a"), lifecycle.ByName("c")))
	plan := rt.Plan().Names() // before Start
	if want := []string{"b", "d", "c", "a"}; !slices.Equal(plan, want) {
		t.Fatalf("plan = %v, want %v", plan, want)
	}
	if len(rec.get()) > 0 || logs.FilterMessage("plan").Len() > 0 {
		t.Fatal("the plan was acted on before Start")
	}

	startRuntime(t, rt)
	for _, want := range plan {
		if ev := next(t, booted); ev.Name != want {
			t.Fatalf("ProviderBooted %q, want %q (plan %v)", ev.Name, want, plan)
		}
	}
	entries := logs.FilterMessage("plan").All()
	if len(entries) != 1 || entries[0].Level != zapcore.DebugLevel {
		t.Fatalf("plan log entries = %+v, want one at debug level", entries)
	}
	steps, _ := entries[0].ContextMap()["providers"].([]any)
	if len(steps) != 4 || fmtAny(steps[3]) != fmtAny(map[string]any{
		"name": "a", "priority": "early", "after": []any{`c: After(ByName("a"), ByName("c"))`},
	}) {
		t.Fatalf("plan log providers = %v", steps)
	}

	if err := rt.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := stopRuntime(t, rt); err != nil {
		t.Fatal(err)
	}
	for _, want := range slices.Backward(plan) {
		if ev := next(t, stopped); ev.Name != want {
			t.Fatalf("ProviderStopped %q, want %q (plan %v)", ev.Name, want, plan)
		}
	}
	want := "boot:b boot:d boot:c boot:a validate:b validate:d validate:c validate:a " +
		"reload:b reload:d reload:c reload:a stop:a stop:c stop:d stop:b"
	if got := strings.Join(rec.get(), " "); got != want {
		t.Fatalf("calls = %q\nwant    %q", got, want)
	}
}
