package lifecycle

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Plan is the order of a runtime's providers: they validate, boot and
// reload in this order and stop in the reverse. Each step says why it is
// where it is. See the package documentation for how the order is decided.
type Plan struct {
	// Steps are the providers in boot order.
	Steps []PlanStep
}

// PlanStep is one provider of a [Plan].
type PlanStep struct {
	Name     string
	Priority Priority
	// After lists the edges that make this provider follow others: its
	// dependencies found in the Fx graph and the explicit edges that name
	// it, in the order of the providers they name.
	After []Edge
}

// An Edge orders two providers: Provider boots after After, and stops
// before it.
type Edge struct {
	Provider string
	After    string
	// Reason says where the edge comes from: for a dependency, the values
	// of the Fx graph through which Provider needs After, as dig names them
	// ("needs *app.Repo, which needs *app.DB"); for an explicit edge, the
	// option (`After(ByName("indexer"), ByName("broker"))`).
	Reason string
	// Explicit is true for an edge set with [After] or [Before], false for
	// a dependency.
	Explicit bool
}

// String returns `"cache" after "db" (needs *app.DB)`.
func (e Edge) String() string {
	return fmt.Sprintf("%q after %q (%s)", e.Provider, e.After, e.Reason)
}

// Names returns the provider names in boot order.
func (p Plan) Names() []string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = s.Name
	}
	return names
}

// String returns the plan on one line per provider, numbered in boot
// order, with its priority and the edges of its step: for the second of
// two, "2. cache (early) after db: needs *app.DB".
func (p Plan) String() string {
	var b strings.Builder
	for i, s := range p.Steps {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d. %s (%v)", i+1, s.Name, s.Priority)
		for j, e := range s.After {
			sep := ";"
			if j == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s after %s: %s", sep, e.After, e.Reason)
		}
	}
	return b.String()
}

// Plan returns the order in which the providers validate, boot and reload
// (stop is the reverse), with why each is where it is. Under [Module] it is
// complete once fx.New has returned: read it before Start for a startup
// log line or a test. The runtime logs it at debug level when it starts.
func (r *Runtime) Plan() Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	steps := make([]PlanStep, len(r.plan.steps))
	for i, s := range r.plan.steps {
		s.After = slices.Clone(s.After)
		steps[i] = s
	}
	return Plan{Steps: steps}
}

// CycleError reports providers that cannot be ordered because each must
// boot after the next, around a cycle. [New] returns it (under Fx, the
// application fails to build) before any provider boots.
type CycleError struct {
	// Cycle lists the edges around the cycle: each edge's After is the
	// next edge's Provider, and the last edge leads back to the first
	// edge's Provider. The last edge is the one that closes the cycle: an
	// explicit edge, if the cycle has one, as that is the one to change.
	Cycle []Edge
}

// Error implements error; it names every provider in the cycle.
func (e *CycleError) Error() string {
	names := make([]string, len(e.Cycle))
	for i, c := range e.Cycle {
		names[i] = fmt.Sprintf("%q", c.Provider)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "lifecycle: providers %s form a cycle, they cannot be ordered: ", strings.Join(names, ", "))
	for i, c := range e.Cycle {
		switch {
		case i == len(e.Cycle)-1:
			fmt.Fprintf(&b, "and %v closes the cycle", c)
		default:
			fmt.Fprintf(&b, "%v, ", c)
		}
	}
	return b.String()
}

// plan is a runtime's Plan and what it was built from. It is built by New
// and rebuilt by Module's register, both before Start; it does not change
// after that, so readers take no lock.
type plan struct {
	providers []Provider // in boot order
	steps     []PlanStep // one per provider, in the same order
	rules     []orderRule
	lateRules bool     // the rules are not checked yet: Module registers providers later
	untraced  []string // under Module: providers whose dependencies were not read
}

// dependencies are the edges that Module reads from the Fx graph.
type dependencies struct {
	edges  []Edge
	traced map[string]bool // the providers whose dependencies were read
}

// newPlan returns the plan of the providers and edges given to New.
func (o *options) newPlan() (*plan, error) {
	return buildPlan(o.providers, o.order, o.lateOrder, nil)
}

// with returns the plan of p's providers and ps, with the explicit edges
// given to New and the dependencies deps read from the Fx graph.
func (p *plan) with(ps []Provider, deps *dependencies) (*plan, error) {
	return buildPlan(append(slices.Clone(p.providers), ps...), p.rules, false, deps)
}

// buildPlan checks ps and orders them: a provider comes after every
// provider an edge says it follows; among those whose predecessors are all
// placed, the lowest priority, then the first name, comes next. The result
// does not depend on the order of ps. With lateRules, the rules are kept
// for later rather than applied. deps may be nil.
func buildPlan(ps []Provider, rules []orderRule, lateRules bool, deps *dependencies) (*plan, error) {
	// orderProviders checks for nil, unnamed and duplicate providers and
	// sorts by priority, then name: an index in byRank is a rank.
	byRank, err := orderProviders(ps)
	if err != nil {
		return nil, err
	}
	n := len(byRank)
	rank := make(map[string]int, n)
	for i, p := range byRank {
		rank[p.Name()] = i
	}

	var edges []Edge
	var errs []error
	if deps != nil {
		for _, e := range deps.edges {
			_, ok1 := rank[e.Provider]
			_, ok2 := rank[e.After]
			if ok1 && ok2 { // always, as both come from the providers' value group
				edges = append(edges, e)
			}
		}
	}
	if !lateRules {
		for _, r := range rules {
			es, err := r.resolve(byRank)
			if err != nil {
				errs = append(errs, err)
			}
			edges = append(edges, es...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Sorted, so that the plan and its errors do not depend on the order
	// of the options (a value group under Fx); a rule given twice counts once.
	slices.SortFunc(edges, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(rank[a.Provider], rank[b.Provider]), cmp.Compare(rank[a.After], rank[b.After]),
			compareBool(a.Explicit, b.Explicit), cmp.Compare(a.Reason, b.Reason))
	})
	edges = slices.Compact(edges)

	// follows[i] are the ranks that i must follow, each once; followers is
	// the reverse; first holds the first edge of each pair.
	follows := make([][]int, n)
	followers := make([][]int, n)
	pending := make([]int, n) // predecessors of i not placed yet
	reasons := make([][]Edge, n)
	first := make(map[[2]int]Edge)
	for _, e := range edges {
		i, j := rank[e.Provider], rank[e.After]
		reasons[i] = append(reasons[i], e)
		if _, ok := first[[2]int{i, j}]; !ok {
			first[[2]int{i, j}] = e
			follows[i] = append(follows[i], j)
			followers[j] = append(followers[j], i)
			pending[i]++
		}
	}

	// Kahn's algorithm, taking the lowest rank among the ready providers.
	// n is the number of providers, tens at most: a scan is enough.
	placed := make([]bool, n)
	order := make([]int, 0, n)
	for len(order) < n {
		next := -1
		for i := range n {
			if !placed[i] && pending[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, cycleErrors(byRank, placed, follows, first)
		}
		placed[next] = true
		order = append(order, next)
		for _, k := range followers[next] {
			pending[k]--
		}
	}

	pos := make(map[string]int, n)
	for at, i := range order {
		pos[byRank[i].Name()] = at
	}
	pl := &plan{rules: rules, lateRules: lateRules}
	for _, i := range order {
		p := byRank[i]
		after := slices.Clone(reasons[i])
		slices.SortStableFunc(after, func(a, b Edge) int { return cmp.Compare(pos[a.After], pos[b.After]) })
		pl.providers = append(pl.providers, p)
		pl.steps = append(pl.steps, PlanStep{Name: p.Name(), Priority: priorityOf(p), After: after})
		if deps != nil && !deps.traced[p.Name()] {
			pl.untraced = append(pl.untraced, p.Name())
		}
	}
	return pl, nil
}

// resolve returns the edges that r makes between the providers ps.
func (r orderRule) resolve(ps []Provider) ([]Edge, error) {
	var later, earlier []string
	for _, p := range ps {
		if r.later.match(p) {
			later = append(later, p.Name())
		}
		if r.earlier.match(p) {
			earlier = append(earlier, p.Name())
		}
	}
	var errs []error
	for _, m := range []struct {
		ref   Ref
		names []string
	}{{r.later, later}, {r.earlier, earlier}} {
		if len(m.names) == 0 {
			errs = append(errs, fmt.Errorf("%v names no provider (the providers: %s)", m.ref, providerNames(ps)))
		}
	}
	var edges []Edge
	for _, l := range later {
		for _, e := range earlier {
			if l == e {
				errs = append(errs, fmt.Errorf("it orders provider %q after itself", l))
				continue
			}
			edges = append(edges, Edge{Provider: l, After: e, Reason: r.text, Explicit: true})
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lifecycle: %s: %w", r.text, errors.Join(errs...))
	}
	return edges, nil
}

// providerNames lists the names of ps, quoted: "a", "b"; or "none".
func providerNames(ps []Provider) string {
	if len(ps) == 0 {
		return "none"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = fmt.Sprintf("%q", p.Name())
	}
	return strings.Join(names, ", ")
}

// cycleErrors returns a *CycleError for each cycle among the providers not
// placed (those in a cycle and those after one): one per strongly
// connected component, through that component's preferred closing edge.
func cycleErrors(byRank []Provider, placed []bool, follows [][]int, first map[[2]int]Edge) error {
	var errs []error
	for _, comp := range strongComponents(placed, follows) {
		if len(comp) < 2 {
			continue // a provider after a cycle, not in one
		}
		in := make(map[int]bool, len(comp))
		for _, i := range comp {
			in[i] = true
		}
		// The closing edge: an explicit one if any, then the lowest ranks.
		var closing [2]int
		found := false
		for _, i := range comp {
			for _, j := range follows[i] {
				if !in[j] {
					continue
				}
				if !found || first[[2]int{i, j}].Explicit && !first[closing].Explicit {
					closing, found = [2]int{i, j}, true
				}
			}
		}
		// The shortest way back from the closing edge's end to its start.
		from, to := closing[1], closing[0]
		prev := map[int]int{from: -1}
		for queue := []int{from}; len(queue) > 0; queue = queue[1:] {
			for _, v := range follows[queue[0]] {
				if _, seen := prev[v]; in[v] && !seen {
					prev[v] = queue[0]
					queue = append(queue, v)
				}
			}
		}
		var path []int
		for v := to; v != -1; v = prev[v] {
			path = append(path, v)
		}
		slices.Reverse(path) // from ... to
		var cycle []Edge
		for k := 0; k+1 < len(path); k++ {
			cycle = append(cycle, first[[2]int{path[k], path[k+1]}])
		}
		errs = append(errs, &CycleError{Cycle: append(cycle, first[closing])})
	}
	return errors.Join(errs...)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// strongComponents returns the strongly connected components of the graph of
// the nodes not placed, with edges i -> follows[i] (Tarjan's algorithm),
// each sorted, in order of their lowest node.
func strongComponents(placed []bool, follows [][]int) [][]int {
	n := len(placed)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	var visit func(u int)
	visit = func(u int) {
		index[u], low[u] = next, next
		next++
		stack = append(stack, u)
		onStack[u] = true
		for _, v := range follows[u] {
			if placed[v] {
				continue
			}
			if index[v] < 0 {
				visit(v)
				low[u] = min(low[u], low[v])
			} else if onStack[v] {
				low[u] = min(low[u], index[v])
			}
		}
		if low[u] == index[u] {
			var comp []int
			for {
				v := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[v] = false
				comp = append(comp, v)
				if v == u {
					break
				}
			}
			slices.Sort(comp)
			comps = append(comps, comp)
		}
	}
	for i := range n {
		if !placed[i] && index[i] < 0 {
			visit(i)
		}
	}
	slices.SortFunc(comps, func(a, b []int) int { return cmp.Compare(a[0], b[0]) })
	return comps
}

// logPlan logs the plan at debug level.
func (r *Runtime) logPlan() {
	if ce := r.log.Check(zap.DebugLevel, "plan"); ce != nil {
		r.mu.Lock()
		p := r.plan // replaced whole, never changed in place
		r.mu.Unlock()
		fields := []zap.Field{zap.Array("providers", planSteps(p.steps))}
		if len(p.untraced) > 0 {
			fields = append(fields, zap.Strings("dependencies_unknown", p.untraced))
		}
		ce.Write(fields...)
	}
}

// planSteps logs as an array of {name, priority, after}.
type planSteps []PlanStep

func (ss planSteps) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, s := range ss {
		if err := enc.AppendObject(zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
			enc.AddString("name", s.Name)
			enc.AddString("priority", s.Priority.String())
			if len(s.After) == 0 {
				return nil
			}
			return enc.AddArray("after", zapcore.ArrayMarshalerFunc(func(enc zapcore.ArrayEncoder) error {
				for _, e := range s.After {
					enc.AppendString(e.After + ": " + e.Reason)
				}
				return nil
			}))
		})); err != nil {
			return err
		}
	}
	return nil
}
