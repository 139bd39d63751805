package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Components see IsShuttingDown, a cancelled token and a closed gate from
// their first OnStop hook on, even when an InitiateShutdown races app.Stop
// (a task failing while a signal stops the app). A logger that is slow on
// the shutdown's log line widens the window between the shutdown's start
// and its end.
func TestOnStopSeesCancelledTokenWhenShutdownRacesStop(t *testing.T) {
	inLog, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.LoggerName == "lifecycle" && e.Message == "shutdown initiated" {
			once.Do(func() { close(inLog); <-release })
		}
		return nil
	}))
	var rt *lifecycle.Runtime
	var tokenErr error
	var gateClosed bool
	app := fx.New(quiet(), fxbus.Module, lifecycle.Module, lifecycle.With(lifecycle.WithLogger(log)),
		fx.Populate(&rt),
		fx.Invoke(func(lc fx.Lifecycle, r *lifecycle.Runtime) {
			lc.Append(fx.StopHook(func(context.Context) error {
				tokenErr, gateClosed = r.Context().Err(), r.Gate().Closed()
				return nil
			}))
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go rt.InitiateShutdown("disk full", errors.New("ENOSPC"), 7)
	select {
	case <-inLog:
	case <-time.After(3 * time.Second):
		t.Fatal("log hook not reached")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(ctx) }()
	time.Sleep(200 * time.Millisecond)
	close(release)
	<-stopped
	t.Logf("first OnStop hook saw: token err %v, gate closed %v, IsShuttingDown at end %v", tokenErr, gateClosed, rt.IsShuttingDown())
	if tokenErr == nil {
		t.Error("an OnStop hook ran with the runtime's token not yet cancelled")
	}
}
