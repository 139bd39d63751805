package fxbus_test

import (
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

// manyTypes checks one event type among many: its own ring, its own
// subscriber, nobody else's events.
func manyTypes[E any](t *testing.T, b *fxbus.Bus, ev E) func() {
	t.Helper()
	s := fxbus.Subscribe[E](b)
	return func() {
		t.Helper()
		defer s.Close()
		if n := fxbus.Emit(b, ev); n != 1 {
			t.Fatalf("Emit(%T) = %d, want 1", ev, n)
		}
		if got := mustRecv(t, s); any(got) != any(ev) {
			t.Fatalf("got %v, want %v", got, ev)
		}
		if _, err := s.TryRecv(); err == nil {
			t.Fatalf("%T received a second event", ev)
		}
	}
}

// TestManyTypes crosses the size where the registry switches from a linear
// scan to a map.
func TestManyTypes(t *testing.T) {
	b := newTestBus(t)
	checks := []func(){
		manyTypes(t, b, [1]byte{1}), manyTypes(t, b, [2]byte{2}), manyTypes(t, b, [3]byte{3}),
		manyTypes(t, b, [4]byte{4}), manyTypes(t, b, [5]byte{5}), manyTypes(t, b, [6]byte{6}),
		manyTypes(t, b, [7]byte{7}), manyTypes(t, b, [8]byte{8}), manyTypes(t, b, [9]byte{9}),
		manyTypes(t, b, [10]byte{10}), manyTypes(t, b, [11]byte{11}), manyTypes(t, b, [12]byte{12}),
		manyTypes(t, b, [13]byte{13}), manyTypes(t, b, [14]byte{14}), manyTypes(t, b, [15]byte{15}),
		manyTypes(t, b, [16]byte{16}), manyTypes(t, b, [17]byte{17}), manyTypes(t, b, [18]byte{18}),
		manyTypes(t, b, [19]byte{19}), manyTypes(t, b, [20]byte{20}),
		manyTypes(t, b, int8(1)), manyTypes(t, b, int16(2)), manyTypes(t, b, int32(3)),
		manyTypes(t, b, uint8(4)), manyTypes(t, b, uint16(5)), manyTypes(t, b, uint32(6)),
	}
	if got := b.TypeCount(); got != len(checks) {
		t.Fatalf("TypeCount() = %d, want %d", got, len(checks))
	}
	if n := fxbus.Emit(b, [21]byte{}); n != 0 {
		t.Fatalf("Emit of a type without ring = %d", n)
	}
	for _, check := range checks {
		check()
	}
	if got := len(b.Stats()); got != len(checks) {
		t.Fatalf("Stats() has %d types, want %d", got, len(checks))
	}
}
