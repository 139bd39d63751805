package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

// TestRecvManyMatchesRecv reads one stream two ways, TryRecv one event at
// a time and TryRecvMany in random batch sizes, and checks that both see
// the same events and the same lags.
func TestRecvManyMatchesRecv(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		b := newTestBus(t, fxbus.WithCapacity(1+rng.Intn(8)))
		one := fxbus.Subscribe[int](b)
		many := fxbus.Subscribe[int](b)
		var gotOne, gotMany []string
		record := func(got *[]string, v int, err error) {
			var lag *fxbus.LaggedError
			switch {
			case err == nil:
				*got = append(*got, fmt.Sprint("event ", v))
			case errors.As(err, &lag):
				*got = append(*got, fmt.Sprint("lag ", lag.Missed))
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		next := 0
		for step := 0; step < 200; step++ {
			for range rng.Intn(12) {
				fxbus.Emit(b, next)
				next++
			}
			// Drain both subscribers fully after each burst.
			for {
				v, err := one.TryRecv()
				if errors.Is(err, fxbus.ErrEmpty) {
					break
				}
				record(&gotOne, v, err)
			}
			for {
				buf := make([]int, 1+rng.Intn(5))
				n, err := many.TryRecvMany(buf)
				if errors.Is(err, fxbus.ErrEmpty) {
					break
				}
				if err != nil {
					record(&gotMany, 0, err)
					continue
				}
				for _, v := range buf[:n] {
					record(&gotMany, v, nil)
				}
			}
		}
		if len(gotOne) != len(gotMany) {
			t.Fatalf("seed %d: %d results one by one, %d in batches", seed, len(gotOne), len(gotMany))
		}
		for i := range gotOne {
			if gotOne[i] != gotMany[i] {
				t.Fatalf("seed %d: result %d differs: %q vs %q", seed, i, gotOne[i], gotMany[i])
			}
		}
		one.Close()
		many.Close()
	}
}

func TestRecvMany(t *testing.T) {
	b := newTestBus(t, fxbus.WithCapacity(4))
	s := fxbus.Subscribe[int](b)
	ctx := context.Background()
	if _, err := s.RecvMany(ctx, nil); err == nil {
		t.Fatal("RecvMany with an empty dst did not fail")
	}
	if n, err := s.TryRecvMany(nil); n != 0 || err != nil {
		t.Fatalf("TryRecvMany(nil) = %d, %v", n, err)
	}
	if _, err := s.TryRecvMany(make([]int, 2)); !errors.Is(err, fxbus.ErrEmpty) {
		t.Fatalf("TryRecvMany on empty = %v", err)
	}
	got := make(chan []int)
	go func() {
		buf := make([]int, 8)
		n, err := s.RecvMany(ctx, buf)
		if err != nil {
			t.Error(err)
		}
		got <- buf[:n]
	}()
	waitParked(t, s)
	fxbus.Emit(b, 1)
	if v := <-got; len(v) < 1 || v[0] != 1 {
		t.Fatalf("RecvMany woke with %v", v)
	}
	for i := range 6 {
		fxbus.Emit(b, 10+i)
	}
	buf := make([]int, 8)
	if _, err := s.RecvMany(ctx, buf); !errors.Is(err, fxbus.ErrLagged) {
		t.Fatalf("RecvMany after overflow = %v, want a lag", err)
	}
	n, err := s.RecvMany(ctx, buf)
	if err != nil || n != 4 || buf[0] != 12 || buf[3] != 15 {
		t.Fatalf("RecvMany = %v, %v; want [12 13 14 15]", buf[:n], err)
	}
	b.Close()
	if _, err := s.RecvMany(ctx, buf); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("RecvMany after close = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s2 := fxbus.Subscribe[string](newTestBus(t))
	if _, err := s2.RecvMany(cctx, make([]string, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecvMany with a done ctx = %v", err)
	}
	s.Close()
	if _, err := s.TryRecvMany(buf); !errors.Is(err, fxbus.ErrClosed) {
		t.Fatalf("TryRecvMany after Close = %v", err)
	}
	s2.Close()
}
