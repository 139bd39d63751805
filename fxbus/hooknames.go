package fxbus

import (
	"reflect"

	"go.uber.org/fx"
)

// Fx's event log names a hook's functions by what fx.Hook records:
// fx.StartHook, fx.StopHook and fx.StartStopHook store each function's
// name in unexported fields; for a hook built as a literal, Fx names the
// OnStart and OnStop functions themselves. The bus's decoration replaces
// both functions with wrappers, so it must carry names for them.

// hookNames returns the names recorded in h for its OnStart and OnStop
// functions; empty for a function Fx names after itself. Reading an
// unexported field with reflect is allowed; should Fx rename the fields,
// the names read empty and the hook is named after its functions.
func hookNames(h fx.Hook) (start, stop string) {
	v := reflect.ValueOf(h)
	if f := v.FieldByName("onStartName"); f.IsValid() && f.Kind() == reflect.String {
		start = f.String()
	}
	if f := v.FieldByName("onStopName"); f.IsValid() && f.Kind() == reflect.String {
		stop = f.String()
	}
	return start, stop
}

// withNames returns h with a name recorded for each of its functions, so
// that Fx's event log shows the user's functions once the bus has replaced
// them with wrappers: a name recorded by fx.StartHook, fx.StopHook or
// fx.StartStopHook is kept, and a function without one gets its own, as
// Fx would give it.
//
// Fx records names only through those three constructors, which name the
// functions they are given, so one name cannot be set while the other is
// kept. For a hook whose one function has a recorded name and the other
// has none (fx.StartHook(f), then OnStop set by assignment), both are
// named only if the named one is a func(context.Context) error (its
// recorded name is then its own). Otherwise hiddenStart or hiddenStop
// reports the function that Fx's log will show as the bus's wrapper;
// the bus then logs that function's execution and failure under its name.
func withNames(h fx.Hook) (named fx.Hook, hiddenStart, hiddenStop bool) {
	start, stop := hookNames(h)
	needStart := h.OnStart != nil && start == ""
	needStop := h.OnStop != nil && stop == ""
	if !needStart && !needStop {
		return h, false, false
	}
	n := fx.StartStopHook(h.OnStart, h.OnStop)
	nStart, nStop := hookNames(n)
	if (start == "" || start == nStart) && (stop == "" || stop == nStop) {
		return n, false, false
	}
	return h, needStart, needStop
}

// fxFuncName names f as Fx's event log does: "pkg.Func()".
func fxFuncName(f any) string { return funcName(f) + "()" }
