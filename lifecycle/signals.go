package lifecycle

import (
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

// startSignals starts the goroutine that handles signals from Start to the
// end of Stop: SIGHUP reloads; SIGINT, SIGTERM (or anything else sent on
// an injected channel) initiates shutdown the first time, and forces the
// exit the second time.
func (r *Runtime) startSignals() {
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
	r.sigDone = make(chan struct{})
	go func() {
		defer close(r.sigDone)
		if own != nil {
			defer signal.Stop(own)
		}
		for {
			select {
			case <-r.sigQuit:
				return
			case sig := <-src:
				r.handleSignal(sig)
			}
		}
	}()
}

// stopSignals ends the signal goroutine and waits for it.
func (r *Runtime) stopSignals() {
	close(r.sigQuit)
	if r.sigDone != nil {
		<-r.sigDone
	}
}

func (r *Runtime) handleSignal(sig os.Signal) {
	emit(r, SignalReceived{Signal: sig})
	r.log.Info("lifecycle: signal received", zap.Stringer("signal", sig))
	if sig == syscall.SIGHUP {
		// Fire and forget: the reload loop coalesces a burst.
		if _, err := r.requestReload("signal: " + sig.String()); err != nil {
			r.log.Warn("lifecycle: reload on signal refused", zap.Stringer("signal", sig), zap.Error(err))
		}
		return
	}
	// Count the signals this runtime received, not the shutdowns: under
	// app.Run, Fx relays the same signal and may begin the shutdown first.
	switch r.stopSignalsSeen.Add(1) {
	case 1:
		r.InitiateShutdown("signal: "+sig.String(), nil, 0)
		return
	case 2: // forces the exit, below
	default:
		// The second signal forced the exit already. Forcing it again for
		// each signal of a storm emitted ShutdownForced, logged and called
		// the force-exit function once per signal (98 times for 100
		// SIGTERMs) when that function returns, as Run's does.
		return
	}
	code := r.cfg.ForceExitCode
	emit(r, ShutdownForced{Signal: sig, ExitCode: code})
	r.log.Warn("lifecycle: second signal during shutdown, forcing exit",
		zap.Stringer("signal", sig), zap.Int("exit_code", code))
	r.forceExit(code)
}
