package fxbus

import (
	"reflect"
	"testing"
)

// The registry finds every type it holds and nothing else, at every size,
// with IDs that crowd a few home slots (so that probes run past each
// other and wrap around the end of the table).
func TestRegistryFindsEveryTypeItHolds(t *testing.T) {
	idSets := map[string]func(i int) uintptr{
		"descriptor-like": fakeID,
		// Multiples of a large power of two share their low bits; the
		// hash must still tell them apart.
		"crowded": func(i int) uintptr { return uintptr(i+1) << 40 },
	}
	for name, id := range idSets {
		t.Run(name, func(t *testing.T) {
			r := &registry{}
			if r.find(id(0)) != nil {
				t.Fatal("an empty registry found a type")
			}
			tops := make([]topicHandle, 300)
			for i := range tops {
				tops[i] = newTopic[int](reflect.TypeFor[int](), 1)
				r = r.with(id(i), tops[i])
				if got, want := len(r.topics), i+1; got != want {
					t.Fatalf("%d topics after %d additions", got, want)
				}
				if len(r.slots) < 2*len(r.topics) {
					t.Fatalf("%d slots for %d types: more than half full", len(r.slots), len(r.topics))
				}
				for j := 0; j <= i; j++ {
					if r.find(id(j)) != tops[j] {
						t.Fatalf("with %d types, type %d not found", i+1, j)
					}
				}
				if r.find(id(i+1)) != nil {
					t.Fatalf("with %d types, found type %d that was never added", i+1, i+1)
				}
			}
		})
	}
}
