package natsbridge

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// shapeProbe has what the shape check must handle: a nested struct, an
// embedded one, fields that may be null, omitted when empty, renamed.
type shapeProbe struct {
	ID    string
	N     int `json:"n"`
	Inner shapeInner
	Ptr   *shapeInner
	List  []int
	Map   map[string]int
	Opt   string `json:",omitempty"`
	Any   any
	Skip  int `json:"-"`
	shapeEmbedded
}

type shapeInner struct {
	A string
	B float64 `json:"b,omitempty"`
}

type shapeEmbedded struct {
	E bool
}

// The shape check, a scanner that does not allocate, agrees with a
// reference built on encoding/json's tokens on every payload that
// encoding/json decodes strictly, and never vouches for a payload with a
// field the type has not.
func FuzzShapeCheck(f *testing.F) {
	seed, _ := json.Marshal(shapeProbe{ID: "x", Ptr: &shapeInner{A: "p"}, List: []int{1}, Any: map[string]any{"k": nil}})
	f.Add(seed)
	f.Add([]byte(`{"id":"x","N":1,"inner":{"A":"a"},"Ptr":null,"List":null,"Map":null,"Any":null,"E":true}`))
	f.Add([]byte(`{"ID":"x","n":1,"Inner":{"A":null},"Ptr":{},"List":[],"Map":{},"Any":[{"a":"}"}],"E":false}`))
	f.Add([]byte(`{"I\u0044":"x","n":1,"Inner":{"A":"\"}"},"Ptr":null,"List":null,"Map":null,"Any":null,"E":true,"ID":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"ID":"x","n":1,"Inner":{"A":"a","Z":1},"Ptr":{"A":"b","Y":[]},"List":null,"Map":null,"Any":null,"E":true,"X":0}`))
	s := shapeOf[shapeProbe]()
	f.Fuzz(func(t *testing.T, data []byte) {
		var p shapeProbe
		if json.Unmarshal(data, &p) != nil {
			return // the codec checks shapes only after this succeeds
		}
		unsure, err := s.check(data)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if dec.Decode(&p) != nil {
			// An unknown field: the check must fail or leave it to
			// encoding/json.
			if err == nil && !unsure {
				t.Errorf("check(%s) is sure of a payload with an unknown field", data)
			}
			return
		}
		want := refCheck(s, parseTokens(json.NewDecoder(bytes.NewReader(data))))
		if (err == nil) != want {
			t.Errorf("check(%s) = %v, reference says valid: %v", data, err, want)
		}
	})
}

// node is a JSON value as the reference sees it: an object keeps its
// pairs in order, duplicates included.
type node struct {
	null  bool
	obj   bool
	pairs []pair
}

type pair struct {
	key string
	val node
}

func parseTokens(dec *json.Decoder) node {
	tok, err := dec.Token()
	if err != nil && err != io.EOF {
		panic(err)
	}
	switch tok {
	case nil:
		return node{null: true}
	case json.Delim('{'):
		n := node{obj: true}
		for dec.More() {
			k, _ := dec.Token()
			n.pairs = append(n.pairs, pair{key: k.(string), val: parseTokens(dec)})
		}
		_, _ = dec.Token() // }
		return n
	case json.Delim('['):
		for dec.More() {
			parseTokens(dec)
		}
		_, _ = dec.Token() // ]
	}
	return node{}
}

func refCheck(s *shape, n node) bool {
	if s == nil {
		return true
	}
	if n.null {
		return s.nullable
	}
	if !s.object || !n.obj {
		return true
	}
	seen := make([]bool, len(s.fields))
	for _, p := range n.pairs {
		if k := s.field([]byte(p.key)); k >= 0 {
			seen[k] = true
			if !refCheck(s.fields[k].shape, p.val) {
				return false
			}
		}
	}
	for _, ok := range seen {
		if !ok {
			return false
		}
	}
	return true
}
