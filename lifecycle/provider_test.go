package lifecycle_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

type prov struct {
	name string
	prio lifecycle.Priority
}

func TestProviderOrder(t *testing.T) {
	tests := []struct {
		desc string
		give []prov
		want []string
	}{
		{
			desc: "priority first",
			give: []prov{{"cache", lifecycle.Late}, {"db", lifecycle.Early}, {"api", lifecycle.Normal}},
			want: []string{"db", "api", "cache"},
		},
		{
			desc: "names break ties",
			give: []prov{{"c", lifecycle.Normal}, {"a", lifecycle.Normal}, {"b", lifecycle.Normal}},
			want: []string{"a", "b", "c"},
		},
		{
			desc: "custom priorities in between",
			give: []prov{{"z", lifecycle.Late}, {"m", lifecycle.Priority(50)}, {"a", lifecycle.Priority(-150)}, {"n", lifecycle.Early}},
			want: []string{"a", "n", "m", "z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for range 5 { // any input order gives the same result
				rec := &recorder{}
				ps := make([]lifecycle.Provider, len(tt.give))
				for i, p := range tt.give {
					ps[i] = recorded(rec, p.name, p.prio)
				}
				rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				rt := newRuntime(t, nil, lifecycle.WithProviders(ps...))
				if got := strings.Join(rt.Providers(), " "); got != strings.Join(tt.want, " ") {
					t.Fatalf("Providers() = %q, want %q", got, tt.want)
				}
				startRuntime(t, rt)
				if err := stopRuntime(t, rt); err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, n := range tt.want {
					want = append(want, "boot:"+n)
				}
				for i := len(tt.want) - 1; i >= 0; i-- {
					want = append(want, "stop:"+tt.want[i])
				}
				if got := rec.get(); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("calls = %v, want %v", got, want)
				}
			}
		})
	}

	t.Run("through an Fx value group", func(t *testing.T) {
		rec := &recorder{}
		var opts []fx.Option
		for _, n := range []string{"e", "b", "d", "a", "c"} {
			opts = append(opts, lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, n, lifecycle.Normal) }))
		}
		var bus *fxbus.Bus
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(), fx.Options(opts...), fx.Populate(&bus))
		booted := subscribe[lifecycle.BootedEvent](t, bus)
		app.RequireStart()
		if got := strings.Join(next(t, booted).Providers, " "); got != "a b c d e" {
			t.Fatalf("Booted.Providers = %q", got)
		}
		app.RequireStop()
		if got := strings.Join(rec.get(), " "); got != "boot:a boot:b boot:c boot:d boot:e stop:e stop:d stop:c stop:b stop:a" {
			t.Fatalf("calls = %q", got)
		}
	})

	t.Run("ProviderOf keeps the type in the graph", func(t *testing.T) {
		rec := &recorder{}
		app := fxtest.New(t, fxbus.Module, lifecycle.Module, quiet(),
			fx.Provide(func() *cache { return &cache{rec} }),
			lifecycle.ProviderOf[*cache](),
			fx.Invoke(func(*cache) {}),
		)
		app.RequireStart().RequireStop()
		if got := strings.Join(rec.get(), " "); got != "boot:cache stop:cache" {
			t.Fatalf("calls = %q", got)
		}
	})
}

// cache is a provider with a type of its own.
type cache struct{ rec *recorder }

func (*cache) Name() string                 { return "cache" }
func (c *cache) Boot(context.Context) error { c.rec.add("boot:cache"); return nil }
func (c *cache) Stop(context.Context) error { c.rec.add("stop:cache"); return nil }

// nilProvider is a provider type whose nil pointer is a bad input.
type nilProvider struct{}

func (*nilProvider) Name() string { return "nil" }

func TestProviderBadInput(t *testing.T) {
	tests := []struct {
		desc string
		give []lifecycle.Provider
		want []string // substrings of the error
	}{
		{
			desc: "nil provider",
			give: []lifecycle.Provider{nil},
			want: []string{"provider #0 is nil"},
		},
		{
			desc: "typed nil provider",
			give: []lifecycle.Provider{lifecycle.NewProvider("ok", lifecycle.Normal, lifecycle.Hooks{}), (*nilProvider)(nil)},
			want: []string{"provider #1 is nil"},
		},
		{
			desc: "duplicate name",
			give: []lifecycle.Provider{
				lifecycle.NewProvider("db", lifecycle.Early, lifecycle.Hooks{}),
				lifecycle.NewProvider("db", lifecycle.Late, lifecycle.Hooks{}),
			},
			want: []string{`provider "db"`, "duplicate name"},
		},
		{
			desc: "empty name",
			give: []lifecycle.Provider{lifecycle.NewProvider("", lifecycle.Normal, lifecycle.Hooks{})},
			want: []string{"provider #0", "empty name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := lifecycle.New(nil, lifecycle.WithProviders(tt.give...))
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

	t.Run("duplicate through Fx fails the app", func(t *testing.T) {
		mk := func() lifecycle.Provider { return lifecycle.NewProvider("twin", lifecycle.Normal, lifecycle.Hooks{}) }
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), lifecycle.AsProvider(mk), lifecycle.AsProvider(mk))
		if err := app.Err(); err == nil || !errors.Is(err, lifecycle.ErrDuplicateName) || !strings.Contains(err.Error(), "twin") {
			t.Fatalf("app.Err() = %v", err)
		}
	})
}

func TestProviderBoot(t *testing.T) {
	t.Run("failure rolls back the booted providers and names the provider", func(t *testing.T) {
		rec := &recorder{}
		boom := errors.New("no route to host")
		bad := lifecycle.NewProvider("queue", lifecycle.Normal, lifecycle.Hooks{
			Boot: func(context.Context) error { return boom },
			Stop: func(context.Context) error { rec.add("stop:queue"); return nil },
		})
		var bus *fxbus.Bus
		var stoppedProviders *fxbus.Subscription[lifecycle.ProviderStoppedEvent]
		var stopped *fxbus.Subscription[lifecycle.StoppedEvent]
		app := fx.New(fxbus.Module, lifecycle.Module, quiet(), fx.Populate(&bus),
			fx.Invoke(func(b *fxbus.Bus) {
				stoppedProviders = subscribe[lifecycle.ProviderStoppedEvent](t, b)
				stopped = subscribe[lifecycle.StoppedEvent](t, b)
			}),
			lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "db", lifecycle.Early) }),
			lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "cache", lifecycle.Early) }),
			lifecycle.AsProvider(func() lifecycle.Provider { return bad }),
			lifecycle.AsProvider(func() lifecycle.Provider { return recorded(rec, "web", lifecycle.Late) }),
		)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err := app.Start(ctx)
		var pe *lifecycle.ProviderError
		if !errors.As(err, &pe) || pe.Provider != "queue" || pe.Phase != lifecycle.PhaseBoot || !errors.Is(err, boom) {
			t.Fatalf("Start = %v, want a boot error of provider queue", err)
		}
		if got := strings.Join(rec.get(), " "); got != "boot:cache boot:db stop:db stop:cache" {
			t.Fatalf("calls = %q, want cache and db booted then stopped in reverse", got)
		}
		for _, want := range []string{"db", "cache"} {
			if ev := next(t, stoppedProviders); ev.Name != want || ev.Err != nil {
				t.Fatalf("ProviderStopped = %+v, want %s stopped", ev, want)
			}
		}
		if ev := next(t, stopped); !errors.Is(ev.Err, boom) {
			t.Fatalf("Stopped = %+v, want the boot's error", ev)
		}
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a boot that hangs past the start budget", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		rec := &recorder{}
		hang := lifecycle.NewProvider("migrations", lifecycle.Normal, lifecycle.Hooks{
			Boot: func(context.Context) error { <-release; return nil }, // ignores ctx
		})
		rt := newRuntime(t, nil, lifecycle.WithProviders(recorded(rec, "db", lifecycle.Early), hang))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		begin := time.Now()
		err := rt.Start(ctx)
		if took := time.Since(begin); took > wait {
			t.Fatalf("Start took %v", took)
		}
		var pe *lifecycle.ProviderError
		if !errors.As(err, &pe) || pe.Provider != "migrations" || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start = %v, want provider migrations past its deadline", err)
		}
		if got := strings.Join(rec.get(), " "); got != "boot:db stop:db" {
			t.Fatalf("calls = %q", got)
		}
		if rt.State() != lifecycle.StateStopped || rt.Context().Err() == nil {
			t.Fatalf("after a failed boot: state %v, token err %v", rt.State(), rt.Context().Err())
		}
	})

	t.Run("a panic is an error with the stack", func(t *testing.T) {
		p := lifecycle.NewProvider("fragile", lifecycle.Normal, lifecycle.Hooks{
			Boot: func(context.Context) error { panic("oops") },
		})
		rt := newRuntime(t, nil, lifecycle.WithProviders(p))
		err := rt.Start(context.Background())
		var pe *lifecycle.PanicError
		if !errors.As(err, &pe) || pe.Value != "oops" || !strings.Contains(string(pe.Stack), "provider_test.go") {
			t.Fatalf("Start = %v, want a *PanicError with the stack", err)
		}
		if !strings.Contains(err.Error(), `provider "fragile"`) {
			t.Fatalf("error %q does not name the provider", err)
		}
	})

	t.Run("events and stop errors", func(t *testing.T) {
		b := newBus(t)
		booted := subscribe[lifecycle.ProviderBootedEvent](t, b)
		stopErr := errors.New("flush failed")
		rt := newRuntime(t, b, lifecycle.WithProviders(
			lifecycle.NewProvider("log", lifecycle.Late, lifecycle.Hooks{Stop: func(context.Context) error { return stopErr }}),
			lifecycle.NewProvider("db", lifecycle.Early, lifecycle.Hooks{}),
		))
		startRuntime(t, rt)
		if ev := next(t, booted); ev.Name != "db" || ev.Priority != lifecycle.Early {
			t.Fatalf("first ProviderBooted = %+v", ev)
		}
		if ev := next(t, booted); ev.Name != "log" || ev.Priority != lifecycle.Late {
			t.Fatalf("second ProviderBooted = %+v", ev)
		}
		err := stopRuntime(t, rt)
		var pe *lifecycle.ProviderError
		if !errors.As(err, &pe) || pe.Provider != "log" || pe.Phase != lifecycle.PhaseStop || !errors.Is(err, stopErr) {
			t.Fatalf("Stop = %v", err)
		}
	})
}
