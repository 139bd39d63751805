package fxbus_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
)

// Event types of the identity and channel tests.
type (
	named     int // same underlying type as int, but a different event
	intAlias  = int
	raceEvent struct{ N int }
)

// customErr is an error type, emitted both as itself and as an error.
type customErr struct{}

func (customErr) Error() string { return "customErr" }

func TestEventIdentity(t *testing.T) {
	b := newTestBus(t)
	ints := fxbus.Subscribe[int](b)
	nameds := fxbus.Subscribe[named](b)
	defer ints.Close()
	defer nameds.Close()
	if got := b.TypeCount(); got != 2 {
		t.Fatalf("TypeCount() = %d, want 2", got)
	}
	if n := fxbus.Emit(b, named(7)); n != 1 {
		t.Fatalf("Emit(named) = %d, want 1", n)
	}
	if _, err := ints.TryRecv(); !errors.Is(err, fxbus.ErrEmpty) {
		t.Fatalf("int subscriber got %v, want ErrEmpty: named and int are different events", err)
	}
	if got := mustRecv(t, nameds); got != 7 {
		t.Fatalf("named subscriber got %d, want 7", got)
	}

	t.Run("by static type", func(t *testing.T) {
		b := newTestBus(t)
		subInt := fxbus.Subscribe[int](b)
		subNamed := fxbus.Subscribe[named](b)
		subErr := fxbus.Subscribe[error](b)

		t.Run("int does not reach type named int", func(t *testing.T) {
			if n := fxbus.Emit(b, 7); n != 1 {
				t.Fatalf("Emit[int] = %d, want 1", n)
			}
			ev, err := subInt.TryRecv()
			wantEvent(t, "int subscriber", ev, err, 7)
			a, err := subNamed.TryRecv()
			wantErr(t, "named subscriber after Emit[int]", a, err, fxbus.ErrEmpty)
		})
		t.Run("type named int does not reach int", func(t *testing.T) {
			if n := fxbus.Emit(b, named(8)); n != 1 {
				t.Fatalf("Emit[named] = %d, want 1", n)
			}
			a, err := subNamed.TryRecv()
			wantEvent(t, "named subscriber", a, err, named(8))
			ev, err := subInt.TryRecv()
			wantErr(t, "int subscriber after Emit[named]", ev, err, fxbus.ErrEmpty)
		})
		t.Run("an alias is the same type", func(t *testing.T) {
			if n := fxbus.Emit[intAlias](b, 9); n != 1 {
				t.Fatalf("Emit[alias of int] = %d, want 1", n)
			}
			ev, err := subInt.TryRecv()
			wantEvent(t, "int subscriber", ev, err, 9)
		})
		t.Run("the static type decides, not the dynamic one", func(t *testing.T) {
			var e error = customErr{}
			if n := fxbus.Emit(b, e); n != 1 { // E = error
				t.Fatalf("Emit[error] = %d, want 1", n)
			}
			if n := fxbus.Emit(b, customErr{}); n != 0 { // E = customErr: nobody subscribed
				t.Fatalf("Emit[customErr] = %d, want 0", n)
			}
			got, err := subErr.TryRecv()
			wantEvent[error](t, "error subscriber", got, err, customErr{})
			got, err = subErr.TryRecv()
			wantErr(t, "error subscriber after Emit[customErr]", got, err, fxbus.ErrEmpty)
		})
		t.Run("one channel per static type", func(t *testing.T) {
			if got := b.TypeCount(); got != 3 {
				t.Fatalf("TypeCount = %d, want 3 (int, named, error)", got)
			}
			for _, c := range []struct {
				desc string
				got  int
			}{
				{"int", fxbus.SubscriberCount[int](b)},
				{"named", fxbus.SubscriberCount[named](b)},
				{"alias", fxbus.SubscriberCount[intAlias](b)},
				{"error", fxbus.SubscriberCount[error](b)},
			} {
				if c.got != 1 {
					t.Errorf("SubscriberCount[%s] = %d, want 1", c.desc, c.got)
				}
			}
		})
	})
}

func TestChannelCreation(t *testing.T) {
	b := newTestBus(t)
	if n := fxbus.Emit(b, "before"); n != 0 {
		t.Fatalf("Emit with no channel = %d, want 0", n)
	}
	if got := b.TypeCount(); got != 0 {
		t.Fatalf("Emit created a channel: TypeCount() = %d", got)
	}
	var wg sync.WaitGroup
	subs := make([]*fxbus.Subscription[string], 8)
	for i := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs[i] = fxbus.Subscribe[string](b)
		}()
	}
	wg.Wait()
	if got := b.TypeCount(); got != 1 {
		t.Fatalf("8 racing Subscribe made %d channels, want 1", got)
	}
	if n := fxbus.Emit(b, "after"); n != 8 {
		t.Fatalf("Emit = %d, want 8 (one shared channel)", n)
	}
	for _, s := range subs {
		if got := mustRecv(t, s); got != "after" {
			t.Fatalf("got %q, want \"after\": no replay of older events", got)
		}
		s.Close()
	}
	if n := fxbus.Emit(b, "nobody"); n != 0 {
		t.Fatalf("Emit with no live subscriber = %d, want 0", n)
	}
	st := fxbus.StatsOf[string](b)
	want := fxbus.Stats{Type: "string", Name: "string", Emitted: 1, Dropped: 1}
	if st != want {
		t.Fatalf("StatsOf = %+v, want %+v", st, want)
	}

	t.Run("created on first Subscribe only", func(t *testing.T) {
		b := newTestBus(t)
		steps := []struct {
			desc string
			give func()
			want int
		}{
			{"fresh bus", func() {}, 0},
			{"Emit without subscriber", func() { fxbus.Emit(b, msgEvent{1}) }, 0},
			{"SubscriberCount", func() { fxbus.SubscriberCount[msgEvent](b) }, 0},
			{"first Subscribe", func() { fxbus.Subscribe[msgEvent](b) }, 1},
			{"second Subscribe same type", func() { fxbus.Subscribe[msgEvent](b) }, 1},
			{"Subscribe another type", func() { fxbus.Subscribe[named](b) }, 2},
		}
		for _, st := range steps {
			st.give()
			if got := b.TypeCount(); got != st.want {
				t.Fatalf("after %s: TypeCount = %d, want %d", st.desc, got, st.want)
			}
		}
	})

	t.Run("race-safe: concurrent first Subscribes make one channel", func(t *testing.T) {
		const n = 32
		b := newTestBus(t)
		subs := make([]*fxbus.Subscription[raceEvent], n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				subs[i] = fxbus.Subscribe[raceEvent](b)
			}()
		}
		close(start)
		within(t, "concurrent Subscribe", wg.Wait)
		if got := b.TypeCount(); got != 1 {
			t.Fatalf("TypeCount = %d, want 1", got)
		}
		if got := fxbus.SubscriberCount[raceEvent](b); got != n {
			t.Fatalf("SubscriberCount = %d, want %d", got, n)
		}
		if got := fxbus.Emit(b, raceEvent{42}); got != n {
			t.Fatalf("Emit = %d, want %d", got, n)
		}
		for i, s := range subs {
			ev, err := s.TryRecv()
			wantEvent(t, fmt.Sprintf("subscriber %d", i), ev, err, raceEvent{42})
			ev, err = s.TryRecv()
			wantErr(t, fmt.Sprintf("subscriber %d second receive", i), ev, err, fxbus.ErrEmpty)
		}
	})
}

// TestEmit checks what Emit returns and that it never waits for a reader.
func TestEmit(t *testing.T) {
	t.Run("returns the number of live subscribers", func(t *testing.T) {
		for _, tt := range []struct {
			desc   string
			give   int // subscribers
			closed int // of which closed before Emit
			want   int
		}{
			{desc: "one", give: 1, want: 1},
			{desc: "three", give: 3, want: 3},
			{desc: "three, one closed", give: 3, closed: 1, want: 2},
			{desc: "thousand", give: 1000, want: 1000},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				b := newTestBus(t)
				subs := make([]*fxbus.Subscription[int], tt.give)
				for i := range subs {
					subs[i] = fxbus.Subscribe[int](b)
				}
				for _, s := range subs[:tt.closed] {
					s.Close()
				}
				var n int
				within(t, "Emit", func() { n = fxbus.Emit(b, 5) })
				if n != tt.want {
					t.Fatalf("Emit = %d, want %d", n, tt.want)
				}
				for i, s := range subs[tt.closed:] {
					ev, err := s.TryRecv()
					wantEvent(t, fmt.Sprintf("subscriber %d", i), ev, err, 5)
					ev, err = s.TryRecv()
					wantErr(t, fmt.Sprintf("subscriber %d again", i), ev, err, fxbus.ErrEmpty)
				}
			})
		}
	})

	t.Run("never blocks on a subscriber that does not read", func(t *testing.T) {
		b := newTestBus(t, fxbus.WithCapacity(4))
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		within(t, "1000 Emits to a full ring", func() {
			for i := 0; i < 1000; i++ {
				if n := fxbus.Emit(b, i); n != 1 {
					t.Errorf("Emit(%d) = %d, want 1", i, n)
					return
				}
			}
		})
	})
}

// TestEmitWithoutLiveSubscriberKeepsNothing checks that an event nobody
// listens to is dropped at once, without allocating and without being kept
// for a later subscriber.
func TestEmitWithoutLiveSubscriberKeepsNothing(t *testing.T) {
	for _, tt := range []struct {
		desc  string
		setup func(b *fxbus.Bus)
	}{
		{"no channel", func(*fxbus.Bus) {}},
		{"channel but every subscriber closed", func(b *fxbus.Bus) {
			s1 := fxbus.Subscribe[msgEvent](b)
			s2 := fxbus.Subscribe[msgEvent](b)
			s1.Close()
			s2.Close()
		}},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			b := newTestBus(t)
			tt.setup(b)
			var n int
			within(t, "Emit", func() { n = fxbus.Emit(b, msgEvent{1}) })
			if n != 0 {
				t.Fatalf("Emit = %d, want 0", n)
			}
			if allocs := testing.AllocsPerRun(100, func() { fxbus.Emit(b, msgEvent{2}) }); allocs != 0 {
				t.Errorf("Emit allocates %v times per call, want 0", allocs)
			}
			// Nothing was kept for a later subscriber.
			s := fxbus.Subscribe[msgEvent](b)
			defer s.Close()
			ev, err := s.TryRecv()
			wantErr(t, "later subscriber", ev, err, fxbus.ErrEmpty)
		})
	}
}

func TestOrderAndNoReplay(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(8))
	first := fxbus.Subscribe[int](b)
	defer first.Close()
	fxbus.Emit(b, 1)
	fxbus.Emit(b, 2)
	late := fxbus.Subscribe[int](b)
	defer late.Close()
	fxbus.Emit(b, 3)
	if got := first.Len(); got != 3 {
		t.Fatalf("first.Len() = %d, want 3", got)
	}
	for _, want := range []int{1, 2, 3} {
		if got := mustRecv(t, first); got != want {
			t.Fatalf("first got %d, want %d", got, want)
		}
	}
	if got := mustRecv(t, late); got != 3 {
		t.Fatalf("late subscriber got %d, want 3 (nothing from before it subscribed)", got)
	}
	if _, err := late.TryRecv(); !errors.Is(err, fxbus.ErrEmpty) {
		t.Fatalf("TryRecv on empty = %v, want ErrEmpty", err)
	}

	t.Run("subscribers that join between emits see the later events in order", func(t *testing.T) {
		b := newTestBus(t)
		early := fxbus.Subscribe[int](b) // makes the channel exist before any emit
		emitN(t, b, 0, 3, 1)             // 0,1,2 before s1
		s1 := fxbus.Subscribe[int](b)
		emitN(t, b, 3, 5, 2) // 3,4
		s2 := fxbus.Subscribe[int](b)
		emitN(t, b, 5, 8, 3) // 5,6,7

		for _, tt := range []struct {
			desc string
			give *fxbus.Subscription[int]
			want []int
		}{
			{"subscribed before everything", early, []int{0, 1, 2, 3, 4, 5, 6, 7}},
			{"subscribed after 3 events: no replay", s1, []int{3, 4, 5, 6, 7}},
			{"subscribed after 5 events: no replay", s2, []int{5, 6, 7}},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				for _, w := range tt.want {
					ev, err := tt.give.TryRecv()
					wantEvent(t, "in emit order", ev, err, w)
				}
				ev, err := tt.give.TryRecv()
				wantErr(t, "after the last", ev, err, fxbus.ErrEmpty)
			})
		}
	})
}

func TestNilBus(t *testing.T) {
	if n := fxbus.Emit[int](nil, 1); n != 0 {
		t.Fatalf("Emit on nil bus = %d", n)
	}
	var e fxbus.Emitter[int]
	if n := e.Emit(1); n != 0 {
		t.Fatalf("zero Emitter.Emit = %d", n)
	}
}

// TestEmitLogsAtDebugLevel checks that Emit logs at debug level, naming
// the event type.
func TestEmitLogsAtDebugLevel(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	b := newTestBus(t, fxbus.WithLogger(zap.New(core)))
	s := fxbus.Subscribe[msgEvent](b)
	defer s.Close()
	fxbus.Emit(b, msgEvent{1})
	typeName := reflect.TypeFor[msgEvent]().String()
	entries := logs.FilterLevelExact(zapcore.DebugLevel).All()
	if len(entries) == 0 {
		t.Fatal("Emit logged nothing at debug level")
	}
	found := false
	for _, e := range entries {
		if strings.Contains(e.Message, typeName) {
			found = true
		}
		for _, v := range e.ContextMap() {
			if strings.Contains(fmt.Sprint(v), typeName) {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("no debug entry names the event type %q: %+v", typeName, entries)
	}
}
