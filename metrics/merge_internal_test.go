package metrics

import (
	"reflect"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

// Two event types that the attribute names alike (same package name and
// type name, different import paths) are reported as one, with the counts
// of both: each attribute set is observed once per collection, and no
// event goes uncounted.
func TestMergeStatsSumsTheTypesOfOneName(t *testing.T) {
	give := []fxbus.Stats{
		{Type: "orders.Placed", Emitted: 3, Dropped: 1, Missed: 2, Subscribers: 1},
		{Type: "orders.Shipped", Emitted: 7, Subscribers: 2},
		{Type: "orders.Placed", Emitted: 4, Dropped: 5, Missed: 6, Subscribers: 3},
	}
	want := []fxbus.Stats{
		{Type: "orders.Placed", Emitted: 7, Dropped: 6, Missed: 8, Subscribers: 4},
		{Type: "orders.Shipped", Emitted: 7, Subscribers: 2},
	}
	if got := mergeStats(give); !reflect.DeepEqual(got, want) {
		t.Fatalf("mergeStats(%v)\n got %v\nwant %v", give, got, want)
	}
	if got := mergeStats(nil); len(got) != 0 {
		t.Fatalf("mergeStats(nil) = %v", got)
	}
}
