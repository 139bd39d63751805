package fxbus

import (
	"fmt"
	"reflect"
	"testing"
)

// This file is inside the package so that it can give a bus thousands of
// event types without compiling thousands of them: 4096 distinct generic
// instantiations took minutes to build. A lookup sees a type only as its
// typeID, a uintptr, so registering real rings under made-up IDs measures
// exactly what Emit does with that many types.

type scaleEvent struct{ a, _ uint64 } // 16 bytes; only a is written

// fakeID returns made-up type IDs, spaced like type descriptors and far
// below any address a binary's read-only data can have.
func fakeID(i int) uintptr { return 0x1000 + uintptr(i)*64 }

// addFakeTypes gives bus n more rings, of type int, under made-up IDs.
func addFakeTypes(b *Bus, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.topics.Load()
	if r == nil {
		r = &registry{}
	}
	for i := range n {
		r = r.with(fakeID(len(r.topics)+i), newTopic[int](reflect.TypeFor[int](), b.capacity))
	}
	b.topics.Store(r)
}

// BenchmarkEmitTypes emits to one subscriber that never reads, on a bus
// where n event types have a ring. The emitted type got its ring last:
// the worst place for the scan used up to 16 types; from 17 on, a map.
func BenchmarkEmitTypes(b *testing.B) {
	for _, n := range []int{1, 16, 17, 256, 4096} {
		b.Run(fmt.Sprintf("impl=fxbus/types=%d", n), func(b *testing.B) {
			bus, err := New()
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close()
			addFakeTypes(bus, n-1)
			s := Subscribe[scaleEvent](bus)
			defer s.Close()
			if got := bus.TypeCount(); got != n {
				b.Fatalf("TypeCount = %d, want %d", got, n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Emit(bus, scaleEvent{a: uint64(i)})
			}
		})
	}
}
