package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/internal/runhooks"
	"github.com/claviron/fxruntime/lifecycle"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Func is the body of a singleton task. It runs while this process holds
// the group's leadership and must return when ctx is done: leadership
// lost (a renewal failed, the connection is gone), or shutdown; ctx's
// cause says which. token is the fencing token of this term of
// leadership: it grows strictly from each leader to the next, so an
// external system that remembers the highest token it has seen can refuse
// a deposed leader's late writes.
type Func func(ctx context.Context, token uint64) error

// Conn gives the NATS connection, or nil while there is none yet. A
// *natsbridge.Conn is one (its connection exists once started); wrap a
// plain client with [Client].
type Conn interface {
	NATS() *nats.Conn
}

type client struct{ nc *nats.Conn }

func (c client) NATS() *nats.Conn { return c.nc }

// Client returns nc as a [Conn].
func Client(nc *nats.Conn) Conn { return client{nc} }

// Config configures a [Singleton].
type Config struct {
	// Bucket is the JetStream key-value bucket that holds the leadership
	// keys; it is created with TTL as its time to live if it does not
	// exist. Required.
	Bucket string
	// Group names the task: one process per group runs it. It is the key
	// in Bucket, so it follows the key rules (letters, digits, "-", "_",
	// "/", "=", "."). Required.
	Group string
	// ID identifies this process in the key's value, events and logs;
	// default: host name, process id and a random suffix.
	ID string
	// TTL is how long leadership outlives the leader's last renewal: a
	// leader that dies is replaced within TTL plus Renew. 0 means 10s.
	TTL time.Duration
	// Renew is the renewal interval; at most TTL/3. 0 means TTL/3.
	Renew time.Duration
	// Bus receives [ElectedEvent] and [LostEvent]; optional. On a bus
	// built by fxbus.Module, a [Singleton.Run] emits only during the
	// application's run in which it started: a term that ends after that
	// run has ended (its Func ignored its context past the stop budget)
	// emits nothing, and this is logged, because the bus may already be
	// the next run's, whose subscribers would take the event for theirs.
	// A term that ends within its run's stop emits as usual.
	Bus *fxbus.Bus
	// Logger logs the leadership changes; default the Bus's logger, else
	// none.
	Logger *zap.Logger
}

// ElectedEvent is emitted on [Config.Bus] when this process becomes the
// group's leader, before its Func starts.
type ElectedEvent struct {
	Group, ID string
	Token     uint64
}

// LostEvent is emitted when this process's leadership ends, after its
// Func has returned (under fxbus.Module, only within the application's
// run: see [Config.Bus]).
type LostEvent struct {
	Group, ID string
	Token     uint64
	// Cause is why: a failed renewal (the error), a shutdown (the
	// context's cause), or the Func's return ([ErrReturned] wrapping
	// its error, if any).
	Cause error
}

// ErrReturned is the cause of a [LostEvent] for a Func that returned on
// its own.
var ErrReturned = errors.New("leader: the task returned")

// Singleton runs a [Func] on at most one process of a group at a time.
type Singleton struct {
	conn Conn
	cfg  Config
	run  Func
	log  *zap.Logger

	// mu guards gate, which lets the events of the Runs of the
	// application's current run reach Config.Bus until that run ends:
	// under fxbus.Module the bus is reopened for the next run, and a Run
	// that outlived its run must not emit there. Each Run takes the gate
	// current when it starts.
	mu   sync.Mutex
	gate *runhooks.Gate
}

// New returns a Singleton; [Singleton.Run] campaigns and runs f while
// leader. It fails on a bad Config.
func New(conn Conn, cfg Config, f Func) (*Singleton, error) {
	switch {
	case conn == nil:
		return nil, errors.New("leader: nil Conn")
	case f == nil:
		return nil, errors.New("leader: nil Func")
	case cfg.Bucket == "":
		return nil, errors.New("leader: Config.Bucket is empty")
	case cfg.Group == "":
		return nil, errors.New("leader: Config.Group is empty")
	case cfg.TTL < 0 || cfg.Renew < 0:
		return nil, fmt.Errorf("leader: negative TTL (%v) or Renew (%v)", cfg.TTL, cfg.Renew)
	}
	for _, r := range cfg.Group {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '/' || r == '=' || r == '.') {
			return nil, fmt.Errorf("leader: Config.Group %q: %q is not allowed in a key (letters, digits, - _ / = .)", cfg.Group, r)
		}
	}
	if cfg.TTL == 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.Renew == 0 {
		cfg.Renew = cfg.TTL / 3
	}
	if cfg.Renew > cfg.TTL/3 {
		return nil, fmt.Errorf("leader: Renew %v is more than a third of TTL %v: a leader cut off must learn it before its key expires", cfg.Renew, cfg.TTL)
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if cfg.Logger == nil {
		if cfg.Bus != nil {
			cfg.Logger = cfg.Bus.Logger()
		} else {
			cfg.Logger = zap.NewNop()
		}
	}
	log := cfg.Logger.With(zap.String("group", cfg.Group), zap.String("id", cfg.ID))
	s := &Singleton{conn: conn, cfg: cfg, run: f, log: log, gate: &runhooks.Gate{}}
	if cfg.Bus != nil {
		// Reports false, registering nothing, for a bus that
		// fxbus.Module did not build: such a bus has no runs, and the
		// gate never ends. Under fxbus.Module the run ends after the
		// last OnStop hook, so after lifecycle's drain: a term that
		// ends within the stop budget has emitted its LostEvent.
		runhooks.Of(cfg.Bus).OnRunEnd(func(bool) { s.endRun() })
	}
	return s, nil
}

// endRun ends the emit gate of the application's run that ended, and
// gives the next run a new one.
func (s *Singleton) endRun() {
	s.mu.Lock()
	g := s.gate
	s.gate = &runhooks.Gate{}
	s.mu.Unlock()
	g.End()
}

// Task returns a lifecycle.Task that runs [Singleton.Run] under the
// Restart policy, for [lifecycle.AsTask] or lifecycle.WithTasks.
func (s *Singleton) Task(name string) lifecycle.Task {
	return lifecycle.Task{Name: name, Run: s.Run, Policy: lifecycle.Restart}
}

// Run campaigns for the group's leadership until ctx is done, and runs
// the Func each time this process wins it, with a context cancelled as
// soon as leadership is lost. It returns nil when ctx is done (leadership
// is then given up at once, so another process takes over without waiting
// for the TTL), and the Func's error if it returns one while leader
// (leadership also given up): the runtime's policy for the task decides.
// A Func that returns nil while leader is done: Run gives leadership up
// and returns nil.
func (s *Singleton) Run(ctx context.Context) error {
	s.mu.Lock()
	gate := s.gate // the events of this Run belong to the current run
	s.mu.Unlock()
	var (
		kv      jetstream.KeyValue
		kvConn  *nats.Conn // the connection kv is on
		waiting time.Time  // since when there has been no open connection
		warned  bool
	)
	for ctx.Err() == nil {
		nc := s.conn.NATS()
		if nc == nil || nc.IsClosed() {
			// A Conn not started yet, or one that still has a previous
			// run's closed connection: campaign as soon as there is an
			// open one, not a renewal interval later.
			kv = nil
			if waiting.IsZero() {
				waiting = time.Now()
			} else if !warned && time.Since(waiting) > s.cfg.TTL {
				warned = true
				s.log.Warn("leader: no open connection yet (is the Conn started?); still waiting", zap.Duration("waited", time.Since(waiting)))
			}
			s.sleep(ctx, connPoll)
			continue
		}
		waiting, warned = time.Time{}, false
		if nc != kvConn {
			kv = nil
		}
		if kv == nil {
			var err error
			kvConn = nc
			if kv, err = s.bucket(ctx, nc); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("leader: no bucket yet; trying again", zap.String("bucket", s.cfg.Bucket), zap.Error(err))
				}
				s.sleep(ctx, s.cfg.Renew)
				continue
			}
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Renew)
		rev, err := kv.Create(cctx, s.cfg.Group, []byte(s.cfg.ID))
		cancel()
		switch {
		case err == nil:
			if returned, err := s.lead(ctx, gate, kv, rev); returned {
				return err
			}
			continue
		case errors.Is(err, jetstream.ErrKeyExists):
		case ctx.Err() == nil:
			s.log.Warn("leader: campaign failed; trying again", zap.Error(err))
		}
		s.sleep(ctx, s.cfg.Renew)
	}
	return nil
}

func (s *Singleton) bucket(ctx context.Context, nc *nats.Conn) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.TTL)
	defer cancel()
	kv, err := js.KeyValue(cctx, s.cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: s.cfg.Bucket, TTL: s.cfg.TTL, History: 1})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(cctx, s.cfg.Bucket)
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(cctx)
	if err != nil {
		return nil, err
	}
	if st.TTL() != s.cfg.TTL {
		return nil, fmt.Errorf("bucket %q has TTL %v, this process %v: every process of a group needs the same TTL", s.cfg.Bucket, st.TTL(), s.cfg.TTL)
	}
	return kv, nil
}

// connPoll is how often Run looks for an open connection while there is
// none (a Conn not started yet, or closed).
const connPoll = 20 * time.Millisecond

// errLost is the cause of a leader's context when a renewal fails.
type errLost struct{ err error }

func (e *errLost) Error() string { return "leader: leadership lost: " + e.err.Error() }
func (e *errLost) Unwrap() error { return e.err }

// lead runs the Func under the leadership won at revision token, renewing
// it every Renew, and gives it up when the Func returns or ctx ends. It
// reports whether the Func returned on its own, and its error. Its events
// pass through gate, the emit gate of the run in which its Run started.
func (s *Singleton) lead(ctx context.Context, gate *runhooks.Gate, kv jetstream.KeyValue, token uint64) (bool, error) {
	log := s.log.With(zap.Uint64("token", token))
	log.Info("leader: elected")
	s.emit(gate, log, ElectedEvent{Group: s.cfg.Group, ID: s.cfg.ID, Token: token})

	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- callFunc(lctx, s.run, token) }()

	rev := token
	tick := time.NewTicker(s.cfg.Renew)
	defer tick.Stop()
	var cause, ret error
	returned := false
loop:
	for {
		select {
		case ret = <-done:
			returned = true
			if ctx.Err() != nil {
				cause = context.Cause(ctx)
			} else {
				cause = fmt.Errorf("%w: %v", ErrReturned, ret)
			}
			break loop
		case <-ctx.Done():
			cause = context.Cause(ctx)
			break loop
		case <-tick.C:
			// A renewal may take up to TTL/3: with Renew at most TTL/3,
			// a failure is known within 2/3 of the TTL after the last
			// success, before the key can expire.
			rctx, rcancel := context.WithTimeout(ctx, s.cfg.TTL/3)
			next, err := kv.Update(rctx, s.cfg.Group, []byte(s.cfg.ID), rev)
			rcancel()
			if err != nil {
				if ctx.Err() != nil {
					cause = context.Cause(ctx)
				} else {
					cause = &errLost{err: err}
				}
				break loop
			}
			rev = next
		}
	}
	cancel(cause)
	if !returned {
		ret = <-done
	}
	// Give leadership up at once unless it is already lost: another
	// process need not wait for the TTL. Only this term's key is deleted.
	var lost *errLost
	if !errors.As(cause, &lost) {
		// Bounded so that a shutdown does not wait on an unreachable
		// server longer than the key would take to expire anyway.
		dctx, dcancel := context.WithTimeout(context.Background(), min(s.cfg.TTL, max(s.cfg.Renew, time.Second)))
		if err := s.giveUp(dctx, kv, rev); err != nil {
			log.Warn("leader: cannot give leadership up; it expires with the TTL", zap.Error(err))
		}
		dcancel()
	}
	log.Info("leader: leadership ended", zap.NamedError("cause", cause))
	s.emit(gate, log, LostEvent{Group: s.cfg.Group, ID: s.cfg.ID, Token: token, Cause: cause})
	if ctx.Err() == nil && errors.Is(cause, ErrReturned) {
		return true, ret
	}
	return false, nil
}

// giveUp deletes the key of this process's term, last renewed at revision
// rev. A renewal that the stop cancelled on the client may have been
// applied by the server all the same: the key is then at a later revision
// that holds this process's ID, and that revision is deleted. The server
// handles the requests of one connection in order, so once the first
// delete has failed, such a renewal has been applied. A key that holds
// another ID, or none, is not this term's and is left alone.
func (s *Singleton) giveUp(ctx context.Context, kv jetstream.KeyValue, rev uint64) error {
	err := kv.Delete(ctx, s.cfg.Group, jetstream.LastRevision(rev))
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return err
	}
	e, gerr := kv.Get(ctx, s.cfg.Group)
	if gerr != nil || e.Revision() < rev || string(e.Value()) != s.cfg.ID {
		return err
	}
	return kv.Delete(ctx, s.cfg.Group, jetstream.LastRevision(e.Revision()))
}

// emit emits ev on Config.Bus while gate's application run lasts, and
// logs it instead once that run has ended.
func (s *Singleton) emit(gate *runhooks.Gate, log *zap.Logger, ev any) {
	if s.cfg.Bus == nil {
		return
	}
	if !gate.Enter() {
		log.Warn("leader: leadership changed after its application run ended; event not emitted on the bus",
			zap.String("event", fmt.Sprintf("%T", ev)))
		return
	}
	switch e := ev.(type) {
	case ElectedEvent:
		fxbus.Emit(s.cfg.Bus, e)
	case LostEvent:
		fxbus.Emit(s.cfg.Bus, e)
	}
	gate.Leave()
}

func (s *Singleton) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// callFunc runs f, turning a panic into an error.
func callFunc(ctx context.Context, f Func, token uint64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("leader: task panicked: %v", r)
		}
	}()
	return f(ctx, token)
}
