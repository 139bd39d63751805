package natsbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// A shape is what the strict [JSON] codec requires of a payload beyond
// what encoding/json checks: the fields json.Marshal always writes, and no
// null where the value is never null. It is read from json.Marshal of the
// zero E, so encoding/json's own rules (tags, omitempty, omitzero,
// embedded structs, custom marshalers) decide which fields those are.
type shape struct {
	// nullable: the zero value encodes as null (a pointer, slice, map or
	// interface), so null is valid here and nothing below is required.
	nullable bool
	// object: the zero value encodes as an object, whose always-written
	// fields are fields; a payload's object must have every one of them.
	object bool
	fields []shapeField
}

type shapeField struct {
	name  string
	bname []byte // name, for comparisons without a conversion
	shape *shape
}

// shapes caches the shape of each type: reflect.Type -> *shape (nil: no
// requirement, when the zero value cannot be encoded).
var shapes sync.Map

func shapeOf[E any]() *shape {
	t := reflect.TypeFor[E]()
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	var zero E
	var s *shape
	if data, err := json.Marshal(zero); err == nil {
		var v any
		if json.Unmarshal(data, &v) == nil {
			s = shapeOfValue(v)
		}
	}
	shapes.Store(t, s)
	return s
}

func shapeOfValue(v any) *shape {
	switch v := v.(type) {
	case nil:
		return &shape{nullable: true}
	case map[string]any:
		s := &shape{object: true}
		for name, fv := range v {
			s.fields = append(s.fields, shapeField{name: name, bname: []byte(name), shape: shapeOfValue(fv)})
		}
		return s
	default: // a string, number, bool or array: never null
		return &shape{}
	}
}

// check reports the first way data, a single valid JSON value, does not
// have shape s. It also reports whether data has a key that is not one of
// the shape's fields, or an object or array that the shape does not
// describe: there, whether every key is one of E's fields is for
// encoding/json to tell. A nil shape requires nothing and is unsure of
// everything.
func (s *shape) check(data []byte) (unsure bool, err error) {
	if s == nil {
		return true, nil
	}
	sc := jsonScanner{data: data}
	err = sc.value(s, "")
	return sc.unsure, err
}

// jsonScanner walks a JSON value that encoding/json has already decoded
// without error, so it need not check the syntax.
type jsonScanner struct {
	data   []byte
	i      int
	unsure bool // a key or a container was skipped without a shape
}

func (sc *jsonScanner) space() {
	for sc.i < len(sc.data) {
		switch sc.data[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.i++
		default:
			return
		}
	}
}

// value checks the value at sc.i against s (nil: anything) and moves past
// it. path names the field, for the error.
func (sc *jsonScanner) value(s *shape, path string) error {
	sc.space()
	if s == nil || sc.i >= len(sc.data) {
		sc.skip()
		return nil
	}
	switch c := sc.data[sc.i]; {
	case c == 'n' && !s.nullable:
		if path == "" {
			return errors.New("null")
		}
		return fmt.Errorf("null for field %s", path)
	case c == '{' && s.object:
		return sc.object(s, path)
	}
	sc.skip()
	return nil
}

func (sc *jsonScanner) object(s *shape, path string) error {
	sc.i++ // {
	var seen uint64
	var seenMore []bool // for fields past the 64th
	if len(s.fields) > 64 {
		seenMore = make([]bool, len(s.fields)-64)
	}
	for {
		sc.space()
		switch sc.data[sc.i] {
		case '}':
			sc.i++
			for k, f := range s.fields {
				if k < 64 && seen&(1<<k) == 0 || k >= 64 && !seenMore[k-64] {
					return fmt.Errorf("missing field %s", join(path, f.name))
				}
			}
			return nil
		case ',':
			sc.i++
			continue
		}
		key := sc.key()
		sc.space()
		sc.i++ // :
		var fs *shape
		name := ""
		if k := s.field(key); k >= 0 {
			if k < 64 {
				seen |= 1 << k
			} else {
				seenMore[k-64] = true
			}
			fs, name = s.fields[k].shape, s.fields[k].name
		} else {
			sc.unsure = true
		}
		if err := sc.value(fs, join(path, name)); err != nil {
			return err
		}
	}
}

// field returns the index of the field named key, or -1. As in
// encoding/json, an exact match wins, then one without regard to case.
func (s *shape) field(key []byte) int {
	for k, f := range s.fields {
		if bytes.Equal(key, f.bname) {
			return k
		}
	}
	for k, f := range s.fields {
		if bytes.EqualFold(key, f.bname) {
			return k
		}
	}
	return -1
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// key returns the object key at sc.i, a string, unescaped, and moves past
// it.
func (sc *jsonScanner) key() []byte {
	start := sc.i
	escaped := sc.skipString()
	raw := sc.data[start+1 : sc.i-1]
	if !escaped {
		return raw
	}
	var k string
	_ = json.Unmarshal(sc.data[start:sc.i], &k) // valid: encoding/json read it
	return []byte(k)
}

// skipString moves past the string at sc.i and reports whether it has an
// escape.
func (sc *jsonScanner) skipString() (escaped bool) {
	sc.i++ // opening quote
	for sc.i < len(sc.data) {
		switch sc.data[sc.i] {
		case '\\':
			escaped = true
			sc.i += 2
			continue
		case '"':
			sc.i++
			return escaped
		}
		sc.i++
	}
	return escaped
}

// skip moves past the value at sc.i.
func (sc *jsonScanner) skip() {
	sc.space()
	if sc.i >= len(sc.data) {
		return
	}
	switch sc.data[sc.i] {
	case '"':
		sc.skipString()
	case '{', '[':
		sc.unsure = true
		depth := 0
		for sc.i < len(sc.data) {
			switch sc.data[sc.i] {
			case '"':
				sc.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					sc.i++
					return
				}
			}
			sc.i++
		}
	default: // a number, true, false or null
		for sc.i < len(sc.data) {
			switch sc.data[sc.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			sc.i++
		}
	}
}
