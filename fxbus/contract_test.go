package fxbus_test

// Outside contract tests for fxbus, written from /work/shared/DESIGN.md ("fxbus: the
// contract", its semantics table and "Fx integration") and the exported API
// only. Every blocking call is bounded by a timeout so a bug fails, not hangs.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claviron/fxruntime/fxbus"
)

// Event types owned by this file; ct prefix avoids clashes with other tests.
type (
	ctA       int // same underlying type as int, but a different event
	ctAlias   = int
	ctMsg     struct{ N int }
	ctSeq     struct{ Emitter, Seq int }
	ctRace    struct{ N int }
	ctProbe   struct{ N int }
	ctPayload struct {
		_  [256]byte
		id int
	}
	ctStopping struct{ Hook string }
	ctOrder    struct{ ID int }
	ctHandled  struct{ N int }
)

type ctErr struct{}

func (ctErr) Error() string { return "ctErr" }

func TestContractFxHelpers(t *testing.T) {
	t.Run("Handle keeps running after an error and a panic", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		got := make(chan int, 16)
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core)), fx.Populate(&b),
			fxbus.Handle(func(_ context.Context, ev ctHandled) error {
				switch ev.N {
				case 1:
					panic("handler panic")
				case 2:
					return errors.New("handler error")
				}
				got <- ev.N
				return nil
			}),
		)
		app.RequireStart()
		for i := 1; i <= 3; i++ {
			if n := fxbus.Emit(b, ctHandled{i}); n != 1 {
				t.Fatalf("Emit = %d, want 1 (Handle subscribes at construction)", n)
			}
		}
		select {
		case n := <-got:
			if n != 3 {
				t.Fatalf("handler recorded %d, want 3", n)
			}
		case <-time.After(waitLimit):
			t.Fatal("handler did not process the event after a panic and an error")
		}
		warnings := logs.Filter(func(e observer.LoggedEntry) bool { return e.Level >= zapcore.WarnLevel })
		if n := warnings.Len(); n < 2 {
			t.Errorf("handler error and panic: got %d entries at warn or above, want >= 2: %+v", n, logs.All())
		}
		app.RequireStop()
	})

	t.Run("Handle logs a lag with its count", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		first := make(chan struct{})
		release := make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		defer unblock()
		last := make(chan struct{})
		var b *fxbus.Bus
		app := fxtest.New(t, fxTimeouts(), fxbus.Module, fx.Supply(zap.New(core), fxbus.Config{Capacity: 4}), fx.Populate(&b),
			fxbus.Handle(func(_ context.Context, ev ctHandled) error {
				switch ev.N {
				case 0:
					close(first)
					<-release
				case 7:
					close(last)
				}
				return nil
			}),
		)
		app.RequireStart()
		defer app.RequireStop()
		fxbus.Emit(b, ctHandled{0})
		select {
		case <-first:
		case <-time.After(waitLimit):
			t.Fatal("handler did not get the first event")
		}
		for i := 1; i <= 7; i++ { // 7 behind with capacity 4: 3 missed
			fxbus.Emit(b, ctHandled{i})
		}
		unblock()
		select {
		case <-last:
		case <-time.After(waitLimit):
			t.Fatal("handler did not resume after the lag")
		}
		found := false
		for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
			if strings.Contains(e.Message, "3") {
				found = true
			}
			for _, v := range e.ContextMap() {
				if fmt.Sprint(v) == "3" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no warning carries the lag count 3: %+v", logs.All())
		}
	})
}
