package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
)

// Provider is a component whose life the runtime manages. Name identifies
// it in errors, events and logs and must be unique and non-empty. A
// provider takes part in a phase by implementing the matching optional
// interface: [Booter], [Validator], [Reloader], [Stopper]; its place in
// the order comes from its dependencies, explicit edges ([After], [Before])
// and [Prioritized].
type Provider interface {
	Name() string
}

// Booter is a provider with work to do at start. Boot runs within the
// start budget: its ctx expires with the application's start timeout.
type Booter interface {
	Boot(ctx context.Context) error
}

// Validator is a provider that can check a reload before it is applied.
// Validate must not change anything.
type Validator interface {
	Validate(ctx context.Context) error
}

// Reloader is a provider that can reload its configuration or state.
type Reloader interface {
	Reload(ctx context.Context) error
}

// Stopper is a provider with work to do at shutdown (runtime-rs calls it
// shutdown). Providers stop in the reverse of their boot order.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Prioritized is a provider with a priority other than [Normal].
type Prioritized interface {
	Priority() Priority
}

// Priority orders the providers that no dependency or explicit edge
// orders (see [Plan]): lower boots first and stops last. It never moves a
// provider past one it depends on. Any value may be used; the named ones
// leave room in between.
type Priority int

// The usual priorities.
const (
	Early  Priority = -100
	Normal Priority = 0
	Late   Priority = 100
)

// String returns "early", "normal", "late" or the number.
func (p Priority) String() string {
	switch p {
	case Early:
		return "early"
	case Normal:
		return "normal"
	case Late:
		return "late"
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

// Hooks are the functions of a provider made with [NewProvider]; nil ones
// are skipped.
type Hooks struct {
	Boot     func(ctx context.Context) error
	Validate func(ctx context.Context) error
	Reload   func(ctx context.Context) error
	Stop     func(ctx context.Context) error
}

// NewProvider returns a provider made of functions, for components that
// would rather not declare a type.
func NewProvider(name string, priority Priority, hooks Hooks) Provider {
	return &funcProvider{name: name, priority: priority, hooks: hooks}
}

type funcProvider struct {
	name     string
	priority Priority
	hooks    Hooks
}

func (p *funcProvider) Name() string       { return p.name }
func (p *funcProvider) Priority() Priority { return p.priority }

func (p *funcProvider) Boot(ctx context.Context) error     { return callHook(ctx, p.hooks.Boot) }
func (p *funcProvider) Validate(ctx context.Context) error { return callHook(ctx, p.hooks.Validate) }
func (p *funcProvider) Reload(ctx context.Context) error   { return callHook(ctx, p.hooks.Reload) }
func (p *funcProvider) Stop(ctx context.Context) error     { return callHook(ctx, p.hooks.Stop) }

func callHook(ctx context.Context, f func(context.Context) error) error {
	if f == nil {
		return nil
	}
	return f(ctx)
}

func priorityOf(p Provider) Priority {
	if pp, ok := p.(Prioritized); ok {
		return pp.Priority()
	}
	return Normal
}

// orderProviders checks ps and returns them sorted by priority, then name,
// whatever order they came in.
func orderProviders(ps []Provider) ([]Provider, error) {
	var errs []error
	seen := make(map[string]bool, len(ps))
	out := make([]Provider, 0, len(ps))
	for i, p := range ps {
		if isNil(p) {
			errs = append(errs, fmt.Errorf("lifecycle: provider #%d is nil", i))
			continue
		}
		name := p.Name()
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("lifecycle: provider #%d (%T) has an empty name", i, p))
		case seen[name]:
			errs = append(errs, fmt.Errorf("lifecycle: provider %q (%T): %w", name, p, ErrDuplicateName))
		default:
			seen[name] = true
			out = append(out, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(out, func(a, b Provider) int {
		if c := cmp.Compare(priorityOf(a), priorityOf(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name(), b.Name())
	})
	return out, nil
}

// isNil reports whether v is nil or a typed nil pointer, map, func...
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Slice, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// callBounded runs f on its own goroutine and waits for it until ctx is
// done. A panic in f becomes a *PanicError. If ctx ends first, f's
// goroutine is left to finish on its own and the context's error is
// returned: Go cannot stop it.
func callBounded(ctx context.Context, f func(context.Context) error) error {
	done := make(chan error, 1) // buffered: a late f must not block forever
	go func() { done <- safeCall(ctx, f) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("did not return in time: %w", ctx.Err())
	}
}

// safeCall calls f, turning a panic into a *PanicError.
func safeCall(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return f(ctx)
}
