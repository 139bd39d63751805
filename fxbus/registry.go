package fxbus

import (
	"reflect"
	"unsafe"
)

// registry is an immutable snapshot of the rings of a bus, indexed by
// event type. A new type copies the snapshot (under Bus.mu) and publishes
// the copy, so a lookup is one atomic load and a probe with no lock. New
// types are rare, lookups are on every Emit.
//
// The index is an open-addressing hash table of type IDs, at most half
// full, probed linearly. A lookup costs a multiply, a shift and, almost
// always, one slot read, whatever the number of types: a Go map lookup
// measured about 15 ns more than the scan it replaced past 16 types,
// which more than doubled the cost of an emit.
type registry struct {
	topics []topicHandle // every ring, in creation order
	slots  []regSlot     // len is a power of two, at least twice len(topics)
	shift  uint          // 64 - log2(len(slots))
}

// regSlot is one entry of the index; id 0 marks an empty slot (no type
// descriptor lives at address 0).
type regSlot struct {
	id uintptr
	t  topicHandle
}

// typeID identifies the static type E: the address of its type
// descriptor, which is what a reflect.Type holds. Descriptors of static
// types live in the binary's read-only data: they never move and are never
// freed, so the address is a stable, unique key. It costs a load, where a
// map keyed by reflect.Type costs a hash of the interface.
func typeID[E any]() uintptr {
	t := reflect.TypeFor[E]()
	return (*[2]uintptr)(unsafe.Pointer(&t))[1]
}

// home returns the slot where the probe for id starts: Fibonacci hashing,
// which spreads the aligned, clustered addresses of type descriptors over
// the table.
func (r *registry) home(id uintptr) uint64 {
	return (uint64(id) * 0x9E3779B97F4A7C15) >> r.shift
}

func (r *registry) find(id uintptr) topicHandle {
	if len(r.slots) == 0 {
		return nil
	}
	mask := uint64(len(r.slots) - 1)
	for i := r.home(id); ; i = (i + 1) & mask {
		s := &r.slots[i]
		if s.id == id {
			return s.t
		}
		if s.id == 0 {
			return nil // at most half full: a probe always reaches an empty slot
		}
	}
}

// with returns a copy of r with t added under id, which must not be in r.
func (r *registry) with(id uintptr, t topicHandle) *registry {
	n := len(r.topics) + 1
	next := &registry{topics: append(make([]topicHandle, 0, n), r.topics...)}
	next.topics = append(next.topics, t)
	size, bits := 2, uint(1)
	for size < 2*n {
		size, bits = size*2, bits+1
	}
	next.slots = make([]regSlot, size)
	next.shift = 64 - bits
	for _, s := range r.slots {
		if s.id != 0 {
			next.insert(s.id, s.t)
		}
	}
	next.insert(id, t)
	return next
}

func (r *registry) insert(id uintptr, t topicHandle) {
	mask := uint64(len(r.slots) - 1)
	i := r.home(id)
	for r.slots[i].id != 0 {
		i = (i + 1) & mask
	}
	r.slots[i] = regSlot{id: id, t: t}
}
