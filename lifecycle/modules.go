package lifecycle

import (
	"reflect"

	"go.uber.org/fx"
)

// Fx has no "provide unless provided": a module given twice fails the
// build. So that an application module that includes fxbus.Module and
// Module (as its fxtest tests need) runs under Main as it is, Run looks
// for the two modules among its options before adding them.
//
// Fx's options are values of unexported types: fx.Options is a slice of
// options, fx.Module a struct whose field "options" holds its own. An
// option is found by identity, not by content: the same slice (same
// array, same length) as fxbus.Module's, or a module struct with the same
// name and the same options slice as Module's. Reflection reads these
// values without calling into them. Should Fx store its options otherwise,
// nothing is found and Run adds both modules, as it always did: the build
// then fails as before, with Fx's "already provided" error.

// optionType is the type of the elements of an fx.Options value.
var optionType = reflect.TypeFor[fx.Option]()

// includes reports whether target, an fx.Options or fx.Module value, is
// among opts, at any depth of fx.Options and fx.Module.
func includes(opts []fx.Option, target fx.Option) bool {
	want := reflect.ValueOf(target)
	for _, o := range opts {
		if findOption(reflect.ValueOf(o), want, 0) {
			return true
		}
	}
	return false
}

// maxOptionDepth bounds the walk, against an option that contains itself.
const maxOptionDepth = 64

func findOption(v, want reflect.Value, depth int) bool {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if !v.IsValid() || depth > maxOptionDepth {
		return false
	}
	if sameOption(v, want) {
		return true
	}
	children := optionsOf(v)
	for i := 0; children.IsValid() && i < children.Len(); i++ {
		if findOption(children.Index(i), want, depth+1) {
			return true
		}
	}
	return false
}

// optionsOf returns the options v contains: v itself for fx.Options, the
// field "options" of an fx.Module; the zero Value for any other option.
func optionsOf(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		if v.Type().Elem() == optionType {
			return v
		}
	case reflect.Struct:
		if f := v.FieldByName("options"); f.IsValid() && f.Kind() == reflect.Slice && f.Type().Elem() == optionType {
			return f
		}
	}
	return reflect.Value{}
}

// sameOption reports whether v is the option want: of the same type, with
// the same options slice (and, for a module, the same name).
func sameOption(v, want reflect.Value) bool {
	if v.Type() != want.Type() {
		return false
	}
	a, b := optionsOf(v), optionsOf(want)
	if !a.IsValid() || !b.IsValid() || a.Len() == 0 || a.Len() != b.Len() || a.Pointer() != b.Pointer() {
		return false
	}
	if v.Kind() == reflect.Struct {
		an, bn := v.FieldByName("name"), want.FieldByName("name")
		return an.IsValid() && bn.IsValid() && an.Kind() == reflect.String && bn.Kind() == reflect.String && an.String() == bn.String()
	}
	return true
}
