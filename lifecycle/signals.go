package lifecycle

import (
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

// signalLoop is a run's signal goroutine.
type signalLoop struct {
	quit chan struct{} // closed by stop: the goroutine returns
	done chan struct{} // closed by the goroutine; nil if none was started
}

// startSignals starts the goroutine that handles signals from Start to the
// end of the run's stop: SIGHUP reloads; SIGINT, SIGTERM (or anything else
// sent on an injected channel) initiates shutdown the first time, and
// forces the exit the second time. A closed injected channel means no more
// signals; a nil signal on it is ignored, with a warning.
func (r *Runtime) startSignals(ru *run) {
	if r.noSignals {
		return
	}
	src := r.signals
	var own chan os.Signal
	if src == nil {
		// Buffered so that a burst is not lost while one is handled;
		// os/signal drops what does not fit.
		own = make(chan os.Signal, 4)
		signal.Notify(own, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		src = own
	}
	ru.sig = signalLoop{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ru.sig.done)
		if own != nil {
			defer signal.Stop(own)
		}
		for {
			select {
			case <-ru.sig.quit:
				return
			case sig, ok := <-src:
				switch {
				case !ok:
					r.log.Warn("the signal source was closed: no more signals")
					src = nil // a nil channel blocks: wait for the quit
				case sig == nil:
					r.log.Warn("a nil os.Signal was received and ignored")
				default:
					r.handleSignal(ru, sig)
				}
			}
		}
	}()
}

// stop ends the signal goroutine, if one was started, and waits for it.
// It is called once per run, by the end of its stop.
func (s *signalLoop) stop() {
	if s.done == nil {
		return
	}
	close(s.quit)
	<-s.done
}

func (r *Runtime) handleSignal(ru *run, sig os.Signal) {
	emit(r, SignalReceivedEvent{Signal: sig})
	r.log.Info("signal received", zap.Stringer("signal", sig))
	if sig == syscall.SIGHUP {
		// Fire and forget: the reload loop coalesces a burst.
		if _, err := r.requestReload("signal: " + sig.String()); err != nil {
			r.log.Warn("reload on signal refused", zap.Stringer("signal", sig), zap.Error(err))
		}
		return
	}
	// Count the signals this run received, not the shutdowns: under
	// app.Run, Fx relays the same signal and may begin the shutdown first.
	// The second cuts a shutdown delay in progress short, or forces the
	// exit; after a cut, the third forces it. Later ones of a storm do
	// nothing.
	if ru.forceAt == 0 {
		ru.forceAt = 2
	}
	n := ru.stopSignals.Add(1)
	switch {
	case n == 1:
		r.InitiateShutdown("signal: "+sig.String(), nil, 0)
		return
	case n == 2 && r.cutDelay(ru):
		ru.forceAt = 3
		return
	case n != ru.forceAt:
		return
	}
	code := r.cfg.ForceExitCode
	emit(r, ShutdownForcedEvent{Signal: sig, ExitCode: code})
	r.log.Warn("second signal during shutdown, forcing exit",
		zap.Stringer("signal", sig), zap.Int("exit_code", code))
	r.forceExit(code)
}
