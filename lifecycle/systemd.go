package lifecycle

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// A runtime started by systemd as a Type=notify (or notify-reload)
// service tells systemd its state through the datagram socket named by
// NOTIFY_SOCKET (sd_notify(3)): READY=1 when it is running, RELOADING=1
// with MONOTONIC_USEC when a reload starts and READY=1 when it ends,
// STOPPING=1 when its shutdown begins, and a STATUS= line naming each
// phase. With WatchdogSec= set (WATCHDOG_USEC, and WATCHDOG_PID naming
// this process if set), it sends WATCHDOG=1 every half of that interval
// from Start to the end of its stop, except once a shutdown that reports a
// failure (a non-zero exit code: a critical task failed) has begun, so
// that a stop which then hangs is ended by systemd. Without NOTIFY_SOCKET
// it does nothing. The socket is read when the runtime is built.

// sdNotifier sends a runtime's notifications. Its messages are queued by
// setPhase, under Runtime.mu, and sent by a goroutine per run, so that a
// slow socket never holds the runtime's lock.
type sdNotifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // the ping interval; 0 for none
	log      *zap.Logger

	// Guarded by Runtime.mu.
	queue []string
	kick  chan struct{} // capacity 1: messages are queued
	loop  *sdLoop       // the current run's sender; nil when none runs

	conn   *net.UnixConn // used by the sender goroutine only
	warned bool          // a failure was logged as a warning; sender only
}

// sdLoop is a run's sender goroutine.
type sdLoop struct {
	quit chan struct{} // closed to end the goroutine, after a last flush
	done chan struct{} // closed by the goroutine
}

// newSDNotifier reads the environment; it returns nil without
// NOTIFY_SOCKET.
func newSDNotifier(log *zap.Logger) *sdNotifier {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		log.Warn("systemd: NOTIFY_SOCKET is not a unix socket path or abstract address; not notifying", zap.String("socket", socket))
		return nil
	}
	n := &sdNotifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}, log: log, kick: make(chan struct{}, 1)}
	if usec := os.Getenv("WATCHDOG_USEC"); usec != "" {
		pid := os.Getenv("WATCHDOG_PID")
		v, err := strconv.ParseInt(usec, 10, 64)
		switch {
		case err != nil || v <= 0:
			log.Warn("systemd: WATCHDOG_USEC is not a positive number of microseconds; no watchdog pings", zap.String("WATCHDOG_USEC", usec))
		case pid != "" && pid != strconv.Itoa(os.Getpid()):
			// The watchdog is another process's.
		default:
			n.watchdog = time.Duration(v) * time.Microsecond / 2
		}
	}
	return n
}

// phaseMessage returns what systemd is told when the runtime moves to p,
// or "" for nothing. Called under Runtime.mu.
func (r *Runtime) phaseMessage(p phase) string {
	switch p {
	case phaseBooting:
		return "STATUS=booting"
	case phaseRunning:
		return "READY=1\nSTATUS=running"
	case phaseReloading:
		msg := "RELOADING=1\nSTATUS=reloading"
		if usec, ok := monotonicUsec(); ok {
			msg = fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=reloading", usec)
		}
		return msg
	case phaseShuttingDown:
		status := "shutting down"
		if se := r.run.shutdown; se != nil {
			status = oneLine(status+": "+strings.TrimPrefix(inner(se), "shutdown: "), se)
		}
		return "STOPPING=1\nSTATUS=" + status
	case phaseStopped:
		return "STATUS=stopped"
	}
	return ""
}

// sdPhase queues the message for phase p, if a run's sender goroutine
// runs. Called under Runtime.mu.
func (r *Runtime) sdPhase(p phase) {
	n := r.sd
	if n == nil || n.loop == nil {
		return
	}
	if msg := r.phaseMessage(p); msg != "" {
		n.queue = append(n.queue, msg)
		select {
		case n.kick <- struct{}{}:
		default:
		}
	}
}

// sdStartLocked starts the sender goroutine of a run; Start calls it,
// under Runtime.mu, before the run's first phase.
func (r *Runtime) sdStartLocked() {
	n := r.sd
	if n == nil || n.loop != nil {
		return
	}
	l := &sdLoop{quit: make(chan struct{}), done: make(chan struct{})}
	n.loop, n.queue, n.warned = l, nil, false
	go r.sdRun(n, l)
}

// sdStop sends what is queued and ends the sender goroutine; the end of
// a run calls it, once the runtime has stopped.
func (r *Runtime) sdStop() {
	n := r.sd
	if n == nil {
		return
	}
	r.mu.Lock()
	l := n.loop
	n.loop = nil
	r.mu.Unlock()
	if l != nil {
		close(l.quit)
		<-l.done
	}
}

func (r *Runtime) sdRun(n *sdNotifier, l *sdLoop) {
	defer close(l.done)
	defer func() {
		if n.conn != nil {
			_ = n.conn.Close()
			n.conn = nil
		}
	}()
	var tick <-chan time.Time
	if n.watchdog > 0 {
		t := time.NewTicker(n.watchdog)
		defer t.Stop()
		tick = t.C
		n.send("WATCHDOG=1")
	}
	for {
		select {
		case <-n.kick:
			r.sdFlush(n)
		case <-tick:
			if !r.failing() {
				n.send("WATCHDOG=1")
			}
		case <-l.quit:
			r.sdFlush(n)
			return
		}
	}
}

// sdFlush sends the queued messages, in order.
func (r *Runtime) sdFlush(n *sdNotifier) {
	r.mu.Lock()
	msgs := n.queue
	n.queue = nil
	r.mu.Unlock()
	for _, m := range msgs {
		n.send(m)
	}
}

// send writes one datagram, reconnecting after a failure. The first
// failure of a run is a warning, later ones debug entries. Sender only.
func (n *sdNotifier) send(msg string) {
	err := n.write(msg)
	if err != nil && n.conn != nil { // the socket may have been replaced: once more
		_ = n.conn.Close()
		n.conn = nil
		err = n.write(msg)
	}
	if err == nil {
		return
	}
	if n.conn != nil {
		_ = n.conn.Close()
		n.conn = nil
	}
	lvl := n.log.Debug
	if !n.warned {
		n.warned = true
		lvl = n.log.Warn
	}
	lvl("systemd: cannot notify", zap.String("socket", n.addr.Name), zap.String("message", strings.ReplaceAll(msg, "\n", " ")), zap.Error(err))
}

func (n *sdNotifier) write(msg string) error {
	if n.conn == nil {
		c, err := net.DialUnix("unixgram", nil, n.addr)
		if err != nil {
			return err
		}
		n.conn = c
	}
	// A full receive queue blocks a datagram socket: do not wait long.
	if err := n.conn.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	w, err := n.conn.Write([]byte(msg))
	if err == nil && w != len(msg) {
		err = errors.New("short write")
	}
	return err
}
