package lifecycle

import (
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"go.uber.org/fx"
)

// TestIncludesFindsTheModulesByIdentity: the modules are found inside
// fx.Options and fx.Module at any depth, and only they: an option built
// the same way is another option.
func TestIncludesFindsTheModulesByIdentity(t *testing.T) {
	lookalike := fx.Module("lifecycle", fx.Provide(provideRuntime, (*Runtime).Gate), fx.Invoke(registerComponents))
	tests := []struct {
		desc    string
		opts    []fx.Option
		bus, rt bool
	}{
		{"none", nil, false, false},
		{"top level", []fx.Option{fxbus.Module, Module}, true, true},
		{"in options", []fx.Option{fx.Options(fx.NopLogger, fx.Options(fxbus.Module))}, true, false},
		{"in a module", []fx.Option{fx.Module("app", fx.Options(Module))}, false, true},
		{"a look-alike", []fx.Option{lookalike, fx.Options(fx.Module("fxbus"))}, false, false},
		{"nil options", []fx.Option{nil, fx.Options(nil)}, false, false},
		{"other options", []fx.Option{fx.Supply(1), fx.Invoke(func() {}), fx.NopLogger}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := includes(tt.opts, fxbus.Module); got != tt.bus {
				t.Errorf("includes fxbus.Module = %v, want %v", got, tt.bus)
			}
			if got := includes(tt.opts, Module); got != tt.rt {
				t.Errorf("includes Module = %v, want %v", got, tt.rt)
			}
		})
	}
}
