package lifecycle

import (
	"errors"
	"fmt"
	"reflect"
)

// A Ref names a provider in an ordering edge ([After], [Before]): by name
// with [ByName], or by type with [ByType]. The zero Ref names nothing and
// is refused.
type Ref struct {
	name string
	typ  reflect.Type
}

// ByName refers to the provider whose Name is name.
func ByName(name string) Ref { return Ref{name: name} }

// ByType refers to every provider whose dynamic type is T: a concrete type
// such as *Cache, as the provider values are of. Providers made with
// [NewProvider] share one unexported type: refer to them [ByName].
func ByType[T Provider]() Ref { return Ref{typ: reflect.TypeFor[T]()} }

// String returns the Ref as written in Go: ByName("db"), ByType[*app.DB].
func (r Ref) String() string {
	switch {
	case r.typ != nil:
		return "ByType[" + r.typ.String() + "]"
	case r.name != "":
		return fmt.Sprintf("ByName(%q)", r.name)
	}
	return "Ref{}"
}

// check reports why r cannot name a provider, or nil.
func (r Ref) check() error {
	switch {
	case r.typ != nil && r.typ.Kind() == reflect.Interface:
		return fmt.Errorf("%v is an interface type; ByType takes the concrete type of the providers, such as *Cache", r)
	case r.typ == nil && r.name == "":
		return errors.New("the zero Ref and ByName(\"\") name no provider")
	}
	return nil
}

// match reports whether r names p.
func (r Ref) match(p Provider) bool {
	if r.typ != nil {
		return reflect.TypeOf(p) == r.typ
	}
	return p.Name() == r.name
}

// After orders the providers p names after those dep names, for what the
// Fx graph cannot see: two providers that talk through the network or the
// bus rather than through Go values. They boot, validate and reload after
// dep and stop before it. With Fx, pass it with [With]:
//
//	lifecycle.With(lifecycle.After(lifecycle.ByName("indexer"), lifecycle.ByType[*Broker]()))
//
// Each Ref must name at least one provider once all are registered, or
// [New] (under Fx, the application) fails naming it. An edge that closes a
// cycle, with other edges or with dependencies, fails the same way with a
// [*CycleError].
func After(p, dep Ref) Option {
	return orderRule{later: p, earlier: dep, text: fmt.Sprintf("After(%v, %v)", p, dep)}
}

// Before orders the providers p names before those next names: After(next, p).
func Before(p, next Ref) Option {
	return orderRule{later: next, earlier: p, text: fmt.Sprintf("Before(%v, %v)", p, next)}
}

// orderRule is an explicit edge: later boots after earlier.
type orderRule struct {
	later, earlier Ref
	text           string // the option as written, for errors and the plan
}

func (o orderRule) apply(opts *options) {
	var errs []error
	for _, r := range []Ref{o.later, o.earlier} {
		if err := r.check(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && o.later == o.earlier {
		errs = append(errs, errors.New("a provider cannot be ordered after itself"))
	}
	if len(errs) > 0 {
		opts.errs = append(opts.errs, fmt.Errorf("lifecycle: %s: %w", o.text, errors.Join(errs...)))
		return
	}
	opts.order = append(opts.order, o)
}
