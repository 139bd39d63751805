package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/claviron/fxruntime/fxbus"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
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
	return strconv.Itoa(int(p))
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

// hookOf returns p's method for phase, or nil if p takes no part in it
// (for a provider made by NewProvider: if that hook is nil).
func hookOf(p Provider, ph Phase) func(context.Context) error {
	if fp, ok := p.(*funcProvider); ok {
		switch ph {
		case PhaseBoot:
			return fp.hooks.Boot
		case PhaseValidate:
			return fp.hooks.Validate
		case PhaseReload:
			return fp.hooks.Reload
		case PhaseStop:
			return fp.hooks.Stop
		}
		return nil
	}
	switch ph {
	case PhaseBoot:
		if b, ok := p.(Booter); ok {
			return b.Boot
		}
	case PhaseValidate:
		if v, ok := p.(Validator); ok {
			return v.Validate
		}
	case PhaseReload:
		if r, ok := p.(Reloader); ok {
			return r.Reload
		}
	case PhaseStop:
		if s, ok := p.(Stopper); ok {
			return s.Stop
		}
	}
	return nil
}

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
			errs = append(errs, wrap(fmt.Sprintf("provider %q (%T)", name, p), ErrDuplicateName))
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

// provider is a registered Provider and the hook of it that is running.
type provider struct {
	Provider
	mu   sync.Mutex    // guards busy
	busy chan struct{} // closed when the running hook returns; nil if none runs
}

func wrapProviders(ps []Provider) []*provider {
	out := make([]*provider, len(ps))
	for i, p := range ps {
		out[i] = &provider{Provider: p}
	}
	return out
}

// call runs one hook of the provider on its own goroutine and waits for it
// until ctx is done. The hooks of one provider never run at the same
// time: call first waits, within ctx, for a hook still running (one that
// an earlier call stopped waiting for), and fails naming it if that hook
// does not return. A panic in f becomes a *PanicError, a call of
// runtime.Goexit an error wrapping [ErrGoexit]. If ctx ends first, f is
// left to finish on its own (Go cannot stop it) and the context's error is
// returned; the provider stays busy until f returns.
func (p *provider) call(ctx context.Context, f func(context.Context) error) error {
	var done chan struct{} // this call's busy channel
	for done == nil {
		p.mu.Lock()
		busy := p.busy
		if busy == nil {
			done = make(chan struct{})
			p.busy = done
		}
		p.mu.Unlock()
		if busy == nil {
			break
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return fmt.Errorf("its previous hook is still running: %w", ctx.Err())
		}
	}
	errc := make(chan error, 1) // buffered: a late f must not block
	go func() {
		defer func() {
			p.mu.Lock()
			p.busy = nil
			p.mu.Unlock()
			close(done)
		}()
		errc <- callGuarded(ctx, f)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("did not return in time: %w", ctx.Err())
	}
}

// callHook calls p's hook for phase with call; nil if p has none.
func (p *provider) callHook(ctx context.Context, ph Phase) error {
	f := hookOf(p.Provider, ph)
	if f == nil {
		return nil
	}
	return p.call(ctx, f)
}

// ErrGoexit is the error reported when a task, or a provider's hook,
// called runtime.Goexit (as t.FailNow and log.Fatal-like helpers do)
// instead of returning. It is treated like a panic. It is fxbus.ErrGoexit,
// which hooks and handlers report.
var ErrGoexit = fxbus.ErrGoexit

// callGuarded calls f on a new goroutine and returns its result: a panic
// becomes a *PanicError, and a call of runtime.Goexit, which ends the
// goroutine whatever happens, an error wrapping [ErrGoexit].
func callGuarded(ctx context.Context, f func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if v := recover(); v != nil {
				errc <- &PanicError{Value: v, Stack: debug.Stack()}
				return
			}
			if !returned {
				errc <- ErrGoexit
			}
		}()
		err := f(ctx)
		returned = true
		errc <- err
	}()
	return <-errc
}
