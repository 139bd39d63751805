package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// sampleDot is dig.Visualize's output for: a constructor of *app.DB; one of
// *app.Repo that needs it; one of a handler group member that needs the
// repo; and one that takes the group, an optional named string, and a
// type whose name needs escaping.
const sampleDot = `digraph {
	rankdir=RL;
	graph [compound=true];
	"[type=app.Handler group=h]" [shape=diamond label=<app.Handler<BR /><FONT POINT-SIZE="10">Group: h</FONT>>];
	"[type=app.Handler group=h]" -> "app.Handler[group=h]0";
	subgraph cluster_0 {
		label = "example.com/app";
		constructor_0 [shape=plaintext label="NewDB"];
		"*app.DB" [label=<*app.DB>];
	}
	subgraph cluster_1 {
		label = "example.com/app";
		constructor_1 [shape=plaintext label="NewRepo"];
		color=orange;
		"*app.Repo" [label=<*app.Repo>];
	}
	constructor_1 -> "*app.DB" [ltail=cluster_1];
	subgraph cluster_2 {
		label = "reflect";
		constructor_2 [shape=plaintext label="makeFuncStub"];
		"app.Handler[group=h]0" [label=<app.Handler<BR /><FONT POINT-SIZE="10">Group: h</FONT>>];
	}
	constructor_2 -> "*app.Repo" [ltail=cluster_2];
	subgraph cluster_3 {
		label = "example.com/app";
		constructor_3 [shape=plaintext label="NewAPI"];
		"struct { X int \"json:\\\"x\\\"\" }" [label=<struct { X int "json:\"x\"" }>];
	}
	constructor_3 -> "string[name=n]" [ltail=cluster_3 style=dashed];
	constructor_3 -> "[type=app.Handler group=h]" [ltail=cluster_3];
	"*app.DB" [color=red];
}`

func TestReadDotGraph(t *testing.T) {
	g, err := readDotGraph(sampleDot)
	if err != nil {
		t.Fatal(err)
	}
	type ctor struct{ params, results []string }
	want := []ctor{
		{nil, []string{"*app.DB"}},
		{[]string{"*app.DB"}, []string{"*app.Repo"}},
		{[]string{"*app.Repo"}, []string{"app.Handler[group=h]0"}},
		{[]string{"string[name=n]", "[type=app.Handler group=h]"}, []string{`struct { X int "json:\"x\"" }`}},
	}
	var got []ctor
	for _, c := range g.ctors {
		got = append(got, ctor{c.params, c.results})
	}
	if fmtAny(got) != fmtAny(want) {
		t.Fatalf("constructors:\n%#v\nwant\n%#v", got, want)
	}
	if p := g.producersOf("[type=app.Handler group=h]"); !slices.Equal(p, []int{2}) {
		t.Fatalf("producers of the group = %v, want [2]", p)
	}
	if p := g.producersOf("string[name=n]"); len(p) != 0 {
		t.Fatalf("producers of a missing optional value = %v", p)
	}

	for _, bad := range []string{"", "graph {\n}", "digraph {\n\tsubgraph cluster_0 {\n\t\t\"unterminated\n}", "digraph {\n\tconstructor_0 \"x\"\n}"} {
		if _, err := readDotGraph(bad); err == nil {
			t.Errorf("readDotGraph(%q) succeeded", bad)
		}
	}
}

func TestReadDependenciesNeedsEveryProviderInTheGraph(t *testing.T) {
	p := NewProvider("api", Normal, Hooks{})
	_, err := readDependencies(sampleDot, []origin{{provider: p, key: "*app.API"}})
	if err == nil || !strings.Contains(err.Error(), `provider "api"`) || !strings.Contains(err.Error(), "*app.API") {
		t.Fatalf("error %v, want it to name the provider and its key", err)
	}
	_, err = readDependencies("not a graph", []origin{{provider: p, key: "*app.API"}})
	if err == nil || !strings.Contains(err.Error(), "fx.DotGraph") {
		t.Fatalf("error %v, want it to say the graph cannot be read", err)
	}
}

// TestReadDotGraphReadsFx pins the reader to the fx.DotGraph of the fx and
// dig versions in go.mod: the runtime's own constructor must show its
// parameters, groups included.
func TestReadDotGraphReadsFx(t *testing.T) {
	var dot fx.DotGraph
	app := fx.New(fx.NopLogger, fxbus.Module, Module, With(WithoutSignals()), fx.Populate(&dot))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	g, err := readDotGraph(string(dot))
	if err != nil {
		t.Fatal(err)
	}
	ctors := g.producers["*lifecycle.Runtime"]
	if len(ctors) != 1 {
		t.Fatalf("constructors of *lifecycle.Runtime: %v\n%s", ctors, dot)
	}
	params := g.ctors[ctors[0]].params
	for _, want := range []string{"fx.Lifecycle", "*fxbus.Bus", "lifecycle.Config", "[type=lifecycle.Option group=lifecycle.options]"} {
		if !slices.Contains(params, want) {
			t.Errorf("the runtime's constructor has params %q, without %q", params, want)
		}
	}
	if p := g.producersOf("[type=lifecycle.Option group=lifecycle.options]"); len(p) != 1 { // With's
		t.Errorf("producers of the options group: %v", p)
	}
}

func fmtAny(v any) string { return fmt.Sprintf("%#v", v) }
