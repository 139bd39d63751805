package lifecycle

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The dependencies between providers come from fx.DotGraph, the one view
// of the whole constructor graph that Fx gives an application: dig renders
// it with dig.Visualize. It lists every constructor of every scope with
// its parameters (named, optional, fx.In fields, value groups) and its
// results, each keyed by the string dig prints for it ("*app.DB",
// "*app.DB[name=primary]", "[type=app.Handler group=handlers]" for a
// group). Fx renders it when it is first asked for, here by Module's
// invoke, after every constructor was provided.
//
// The reader below reads only the statement shapes dig.Visualize writes
// (clusters of results, "constructor_N -> param" edges, "group -> member"
// edges) and ignores the rest (labels, colours). A provider whose key it
// cannot find fails the application rather than leave the order unknown.

// origin is what AsProvider and ProviderOf add, next to each provider, to
// the originsGroup: the key of the graph value that the provider is.
type origin struct {
	provider Provider
	key      string
	// tag keeps the address that makes an AsProvider's name unique
	// allocated as long as the provider lives; nil for ProviderOf.
	tag *byte
}

// dotGraph is the constructor graph read from fx.DotGraph.
type dotGraph struct {
	ctors     []*dotCtor
	producers map[string][]int    // result key -> constructors, in graph order
	groups    map[string][]string // group key -> member result keys
}

type dotCtor struct {
	params  []string // keys; a group's key starts with "[type="
	results []string
}

// readDotGraph parses the output of dig.Visualize.
func readDotGraph(dot string) (*dotGraph, error) {
	lines := strings.Split(dot, "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "digraph {" {
		return nil, errors.New(`it does not begin with "digraph {"`)
	}
	g := &dotGraph{producers: make(map[string][]int), groups: make(map[string][]string)}
	byID := make(map[string]int) // "N" of constructor_N -> index in g.ctors
	ctor := func(id string) int {
		i, ok := byID[id]
		if !ok {
			i = len(g.ctors)
			byID[id] = i
			g.ctors = append(g.ctors, &dotCtor{})
		}
		return i
	}
	cluster := -1 // the constructor whose subgraph is open
	for n, line := range lines[1:] {
		line = strings.TrimSpace(line)
		switch {
		case cluster >= 0 && line == "}":
			cluster = -1
		case strings.HasPrefix(line, "subgraph cluster_"):
			id, ok := strings.CutSuffix(strings.TrimPrefix(line, "subgraph cluster_"), " {")
			if !ok {
				return nil, fmt.Errorf("line %d: %q", n+2, line)
			}
			cluster = ctor(id)
		case cluster >= 0 && strings.HasPrefix(line, `"`):
			key, _, err := quoted(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+2, err)
			}
			g.ctors[cluster].results = append(g.ctors[cluster].results, key)
			g.producers[key] = append(g.producers[key], cluster)
		case cluster < 0 && strings.HasPrefix(line, "constructor_"):
			id, rest, ok := strings.Cut(strings.TrimPrefix(line, "constructor_"), " -> ")
			if !ok {
				return nil, fmt.Errorf("line %d: %q", n+2, line)
			}
			key, _, err := quoted(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+2, err)
			}
			c := g.ctors[ctor(id)]
			c.params = append(c.params, key)
		case cluster < 0 && strings.HasPrefix(line, `"`):
			group, rest, err := quoted(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+2, err)
			}
			if rest, ok := strings.CutPrefix(rest, " -> "); ok {
				member, _, err := quoted(rest)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", n+2, err)
				}
				g.groups[group] = append(g.groups[group], member)
			}
		}
	}
	return g, nil
}

// quoted splits s into the Go string literal it begins with, unquoted,
// and the rest.
func quoted(s string) (string, string, error) {
	lit, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("no quoted key in %q", s)
	}
	v, err := strconv.Unquote(lit)
	return v, s[len(lit):], err
}

// producersOf returns the constructors that a parameter key is built from:
// every member's constructor for a group, else the key's constructors.
func (g *dotGraph) producersOf(key string) []int {
	if !strings.HasPrefix(key, "[type=") {
		return g.producers[key]
	}
	var out []int
	for _, m := range g.groups[key] {
		out = append(out, g.producers[m]...)
	}
	return out
}

// readDependencies returns the dependencies between the providers that
// origins describe: provider A follows provider B when a constructor of A
// needs, directly or through other constructors, a value built by a
// constructor of B. A provider's constructors are those of its origin's
// key: its own for AsProvider, the type's for ProviderOf. The search from
// A stops at each provider it meets: that provider's own dependencies are
// its edges, not A's.
func readDependencies(dot string, origins []origin) (*dependencies, error) {
	deps := &dependencies{traced: make(map[string]bool)}
	if len(origins) == 0 {
		return deps, nil
	}
	g, err := readDotGraph(dot)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: cannot read the providers' dependencies from fx.DotGraph: %w", err)
	}
	type provider struct {
		name  string
		ctors []int
	}
	var ps []provider
	owners := make(map[int][]string) // constructor -> the providers it builds
	for _, o := range origins {
		if isNil(o.provider) {
			continue // the plan reports it
		}
		ctors := g.producers[o.key]
		if len(ctors) == 0 {
			return nil, fmt.Errorf("lifecycle: cannot read the dependencies of provider %q: fx.DotGraph shows no constructor of %s", o.provider.Name(), o.key)
		}
		name := o.provider.Name()
		ps = append(ps, provider{name, ctors})
		for _, c := range ctors {
			owners[c] = append(owners[c], name)
		}
		deps.traced[name] = true
	}

	type via struct {
		from int    // the constructor that needs it; -1 for a start
		key  string // the parameter it was reached through
	}
	for _, p := range ps {
		reached := make(map[int]via)
		queue := slices.Clone(p.ctors)
		for _, c := range queue {
			reached[c] = via{from: -1}
		}
		found := make(map[string]bool)
		for ; len(queue) > 0; queue = queue[1:] {
			c := queue[0]
			for _, key := range g.ctors[c].params {
				for _, q := range g.producersOf(key) {
					if _, ok := reached[q]; ok {
						continue
					}
					reached[q] = via{from: c, key: key}
					if len(owners[q]) == 0 {
						queue = append(queue, q)
						continue
					}
					var path []string // the keys from p to q
					for v := q; reached[v].from >= 0; v = reached[v].from {
						path = append(path, reached[v].key)
					}
					slices.Reverse(path)
					for _, other := range owners[q] {
						if !found[other] {
							found[other] = true
							deps.edges = append(deps.edges, Edge{Provider: p.name, After: other, Reason: "needs " + strings.Join(path, ", which needs ")})
						}
					}
				}
			}
		}
	}
	return deps, nil
}
