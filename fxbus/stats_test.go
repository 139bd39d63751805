package fxbus_test

import (
	"errors"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

func TestStats(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(2))
	si := fxbus.Subscribe[int](b)
	ss := fxbus.Subscribe[string](b)
	defer ss.Close()
	for i := range 5 {
		fxbus.Emit(b, i)
	}
	if _, err := si.TryRecv(); !errors.Is(err, fxbus.ErrLagged) {
		t.Fatal(err)
	}
	si.Close()
	fxbus.Emit(b, 9)
	want := []fxbus.Stats{
		{Type: "int", Name: "int", Emitted: 5, Dropped: 1, Missed: 3, Subscribers: 0},
		{Type: "string", Name: "string", Emitted: 0, Subscribers: 1},
	}
	got := b.Stats()
	if len(got) != len(want) {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Stats()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := fxbus.StatsOf[float64](b); got != (fxbus.Stats{Type: "float64", Name: "float64"}) {
		t.Errorf("StatsOf a type without ring = %+v", got)
	}
}

// Stats.Type names each named type by its full import path, so that two
// packages' types of the same short name differ, composite types too;
// Stats.Name keeps the short form.
func TestStatsTypeIsUniqueAndQualified(t *testing.T) {
	type Event struct{ N int } // stats_test's own Event, beside emit_test's types
	b := newTestBus(t)
	fxbus.Subscribe[Event](b)
	fxbus.Subscribe[[]*Event](b)
	fxbus.Subscribe[map[string]Event](b)
	const pkg = "github.com/claviron/fxruntime/fxbus_test."
	for _, tc := range []struct{ got, want, name string }{
		{fxbus.StatsOf[Event](b).Type, pkg + "Event", "fxbus_test.Event"},
		{fxbus.StatsOf[[]*Event](b).Type, "[]*" + pkg + "Event", "[]*fxbus_test.Event"},
		{fxbus.StatsOf[map[string]Event](b).Type, "map[string]" + pkg + "Event", "map[string]fxbus_test.Event"},
		{fxbus.StatsOf[error](b).Type, "error", "error"},
	} {
		if tc.got != tc.want {
			t.Errorf("Stats.Type = %q, want %q", tc.got, tc.want)
		}
	}
	if got := fxbus.StatsOf[[]*Event](b).Name; got != "[]*fxbus_test.Event" {
		t.Errorf("Stats.Name = %q, want the short form %q", got, "[]*fxbus_test.Event")
	}
}

// Stats.Backlog is what the slowest live subscriber has yet to read.
func TestStatsBacklogIsTheSlowestSubscriber(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(4))
	fast := fxbus.Subscribe[int](b)
	slow := fxbus.Subscribe[int](b)
	for i := range 3 {
		fxbus.Emit(b, i)
	}
	if got := fxbus.StatsOf[int](b).Backlog; got != 3 {
		t.Fatalf("Backlog = %d with 3 unread, want 3", got)
	}
	for range 3 {
		if _, err := fast.TryRecv(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := slow.TryRecv(); err != nil {
		t.Fatal(err)
	}
	if got := fxbus.StatsOf[int](b).Backlog; got != 2 {
		t.Fatalf("Backlog = %d, want 2 (the slow subscriber's)", got)
	}
	for i := range 10 { // the slow subscriber falls behind by more than the ring
		fxbus.Emit(b, i)
	}
	if got := fxbus.StatsOf[int](b).Backlog; got != 4 {
		t.Fatalf("Backlog = %d after a lag, want the capacity, 4", got)
	}
	slow.Close()
	fast.Close()
	if got := fxbus.StatsOf[int](b).Backlog; got != 0 {
		t.Fatalf("Backlog = %d with no live subscriber, want 0", got)
	}
}
