package fxbus

import (
	"reflect"
	"unsafe"
)

// registry is an immutable snapshot of the rings of a bus, indexed by
// event type. A new type copies the snapshot (under Bus.mu) and publishes
// the copy, so a lookup is one atomic load and a scan with no lock. New
// types are rare, lookups are on every Emit.
type registry struct {
	ids    []uintptr // typeID of each ring's event type, in creation order
	topics []topicHandle
	// index maps a typeID to its position once there are more types than
	// a linear scan handles faster than a map.
	index map[uintptr]int
}

// linearMax is the number of types up to which a lookup scans ids rather
// than hashing into index.
const linearMax = 16

// typeID identifies the static type E: the address of its type
// descriptor, which is what a reflect.Type holds. Descriptors of static
// types live in the binary's read-only data: they never move and are never
// freed, so the address is a stable, unique key. It costs a load, where a
// map keyed by reflect.Type costs a hash of the interface.
func typeID[E any]() uintptr {
	t := reflect.TypeFor[E]()
	return (*[2]uintptr)(unsafe.Pointer(&t))[1]
}

func (r *registry) find(id uintptr) topicHandle {
	if r.index != nil {
		if i, ok := r.index[id]; ok {
			return r.topics[i]
		}
		return nil
	}
	for i, k := range r.ids {
		if k == id {
			return r.topics[i]
		}
	}
	return nil
}

// with returns a copy of r with t added under id.
func (r *registry) with(id uintptr, t topicHandle) *registry {
	n := len(r.ids) + 1
	next := &registry{
		ids:    append(make([]uintptr, 0, n), r.ids...),
		topics: append(make([]topicHandle, 0, n), r.topics...),
	}
	next.ids = append(next.ids, id)
	next.topics = append(next.topics, t)
	if n > linearMax {
		next.index = make(map[uintptr]int, n)
		for i, k := range next.ids {
			next.index[k] = i
		}
	}
	return next
}
