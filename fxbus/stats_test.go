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
		{Type: "int", Emitted: 5, Dropped: 1, Missed: 3, Subscribers: 0},
		{Type: "string", Emitted: 0, Subscribers: 1},
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
	if got := fxbus.StatsOf[float64](b); got != (fxbus.Stats{Type: "float64"}) {
		t.Errorf("StatsOf a type without ring = %+v", got)
	}
}
