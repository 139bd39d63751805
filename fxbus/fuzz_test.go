package fxbus_test

// FuzzBus is a model-based fuzz test of the bus: it decodes its input into a
// sequence of operations on a real *fxbus.Bus, replays each one on a small
// reference model written below (fzModel), and fails at the first result
// that differs.
//
// Plain `go test ./fxbus/` (and CI) runs the seeds added with f.Add and every
// input committed under testdata/fuzz/FuzzBus. To search for new failures:
//
//	go test -run '^$' -fuzz '^FuzzBus$' -fuzztime 10m ./fxbus/
//
// -fuzztime takes a duration or a count of executions (-fuzztime 5000000x);
// -parallel sets the number of workers (default GOMAXPROCS). The inputs the
// fuzzer found interesting are kept in $(go env GOCACHE)/fuzz, so a longer
// campaign can be run in several sittings and resumes where it stopped. When
// the fuzzer finds a failure it writes the input to
// testdata/fuzz/FuzzBus/<hash>: commit that file with the fix, so the failure
// stays a regression test, and replay it alone with
//
//	go test -run 'FuzzBus/<hash>' -v ./fxbus/
//
// Input format: byte 0 chooses the capacity (1 to 8); then each pair of
// bytes is one operation, an opcode and an argument (see the fzOp
// constants; opcodes are taken modulo their number). Operations
// whose preconditions do not hold (no subscriber yet, a receive that would
// block) are skipped, so every input is valid.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/claviron/fxruntime/fxbus"
)

// The main event types of the fuzz test: a named integer, a struct with a
// string, and a pointer (*fzBox), for which the model checks with weak
// pointers when the bus lets an event go. Seventeen filler types (fzFill)
// follow in fzKinds. Every event carries an id unique in the run, starting
// at 1, so that the zero value is never a valid event.
type (
	fzEvA uint64
	fzEvB struct {
		ID  uint64
		Tag string
	}
	fzBox struct {
		id uint64
		_  [3]uint64 // 32 bytes: not served by the tiny allocator, so its weak pointer clears on its own
	}
)

const (
	fzTypes   = 20 // event types: fzEvA, fzEvB, *fzBox, then fillers
	fzMaxSubs = 24 // subscriptions made per input, live or not
	fzMaxOps  = 512
	fzWait    = 5 * time.Second // bound on the calls that could block if the bus were wrong
)

// The operations. The argument byte selects the subscriber and a variant
// (fzRun.sub, fzSL) or the type and a count (fzTypeOf, fzCountOf, fzTN).
const (
	fzOpSubscribe   = iota // Subscribe[type]
	fzOpEmit               // Emit[type] one event
	fzOpEmitBurst          // Emit[type] 1 to 8 events
	fzOpTryRecv            // TryRecv
	fzOpRecvExpired        // Recv with a context already cancelled or past its deadline
	fzOpRecvLive           // Recv with a live context, only when the model says it returns at once
	fzOpRecvCancel         // Recv with a context cancelled when Recv waits on it (parks the subscriber)
	fzOpCloseSub           // Subscription.Close
	fzOpCloseBus           // Bus.Close
	fzOpLen                // Subscription.Len
	fzOpCounts             // SubscriberCount, StatsOf, Stats, TypeCount, Capacity
	fzOpReady              // Subscription.Ready, and check it fires at once when something is waiting
	fzOpReadyPoll          // check that an armed Ready channel fired if something arrived since
	fzOpAll                // range over All, up to 1-3 items or to the end (the variant)
	fzOpGC                 // GC, then check released events are collected (once per input)
	fzOpTryRecvMany        // TryRecvMany into a slice of 1 to 4 (the variant)
	fzOpCount
)

var fzOpNames = [fzOpCount]string{
	"Subscribe", "Emit", "EmitBurst", "TryRecv", "RecvExpired", "RecvLive", "RecvCancel",
	"CloseSub", "CloseBus", "Len", "Counts", "Ready", "ReadyPoll", "All", "GC", "TryRecvMany",
}

// fzTypeOf is the event type an argument selects: one of the three main
// types three times out of four, otherwise one of the fillers, which are
// there so that the bus's type registry grows past its linear-scan size.
func fzTypeOf(arg int) int {
	if arg%4 < 3 {
		return arg % 4
	}
	return 3 + (arg/4)%(fzTypes-3)
}

// fzCountOf is the number of events (1 to 8) an EmitBurst argument selects.
func fzCountOf(arg int) int { return 1 + (arg/32)%8 }

// fzTN is the argument that selects main type typ (0 to 2) and count n.
func fzTN(typ, n int) int { return typ + 32*(n-1) }

// fzSL is the argument that selects subscriber sub and variant (or limit) v.
func fzSL(sub, v int) int { return sub + 32*v }

// fzOp builds one operation of a seed.
func fzOp(op, arg int) []byte { return []byte{byte(op), byte(arg)} }

// fzSeed builds a seed input from a capacity and operations.
func fzSeed(capacity int, ops ...[]byte) []byte {
	b := []byte{byte(capacity - 1)}
	for _, o := range ops {
		b = append(b, o...)
	}
	return b
}

func FuzzBus(f *testing.F) {
	const A, B, C = 0, 1, 2
	op := fzOp
	// Deliver in order, no replay, counts.
	f.Add(fzSeed(4,
		op(fzOpEmit, A), op(fzOpSubscribe, A), op(fzOpEmit, A), op(fzOpEmit, A),
		op(fzOpCounts, 0), op(fzOpLen, 0), op(fzOpTryRecv, 0), op(fzOpRecvLive, 0), op(fzOpTryRecv, 0),
		op(fzOpRecvExpired, 0), op(fzOpRecvExpired, fzSL(0, 1)), op(fzOpCounts, 0)))
	// Lag with capacity 1 and 2, through TryRecv and Recv, then Len past the capacity.
	f.Add(fzSeed(1,
		op(fzOpSubscribe, A), op(fzOpSubscribe, A), op(fzOpEmitBurst, fzTN(A, 5)), op(fzOpLen, 0),
		op(fzOpTryRecv, 0), op(fzOpTryRecv, 0), op(fzOpRecvLive, 1), op(fzOpRecvLive, fzSL(1, 1)), op(fzOpCounts, 0)))
	f.Add(fzSeed(2,
		op(fzOpSubscribe, B), op(fzOpEmitBurst, fzTN(B, 8)), op(fzOpAll, fzSL(0, 2)), op(fzOpEmit, B), op(fzOpAll, fzSL(0, 1)),
		op(fzOpCounts, 0)))
	// Several types and subscribers, subscriber close, drop counting.
	f.Add(fzSeed(3,
		op(fzOpSubscribe, A), op(fzOpSubscribe, B), op(fzOpSubscribe, C), op(fzOpSubscribe, A),
		op(fzOpEmit, A), op(fzOpEmit, B), op(fzOpEmit, C), op(fzOpCloseSub, 1), op(fzOpEmit, B),
		op(fzOpCounts, 0), op(fzOpTryRecv, 3), op(fzOpCloseSub, 3), op(fzOpCloseSub, 3), op(fzOpTryRecv, 3),
		op(fzOpEmit, A), op(fzOpCounts, 0), op(fzOpGC, 0)))
	// Bus close: drain, then ErrClosed; emits return 0; late subscribers are closed.
	f.Add(fzSeed(2,
		op(fzOpSubscribe, C), op(fzOpSubscribe, C), op(fzOpEmitBurst, fzTN(C, 4)), op(fzOpCloseBus, 0),
		op(fzOpEmit, C), op(fzOpSubscribe, C), op(fzOpSubscribe, A), op(fzOpCounts, 0),
		op(fzOpTryRecv, 0), op(fzOpAll, 0), op(fzOpRecvLive, 1), op(fzOpAll, 1), op(fzOpTryRecv, 2),
		op(fzOpLen, 3), op(fzOpCloseSub, 3), op(fzOpCloseBus, 0), op(fzOpCounts, 0), op(fzOpGC, 0)))
	// Ready: fires at once when something waits, arms a wake-up otherwise.
	f.Add(fzSeed(2,
		op(fzOpSubscribe, A), op(fzOpSubscribe, A), op(fzOpReady, 0), op(fzOpReadyPoll, 0),
		op(fzOpEmit, A), op(fzOpReadyPoll, 0), op(fzOpReady, 0), op(fzOpReady, 1), op(fzOpTryRecv, 1),
		op(fzOpReady, 1), op(fzOpCloseSub, 1), op(fzOpReadyPoll, 1), op(fzOpReady, 1),
		op(fzOpTryRecv, 0), op(fzOpReady, 0), op(fzOpCloseBus, 0), op(fzOpReadyPoll, 0)))
	// A parked subscriber (Recv with a cancelled context) then closed, emitted to, woken.
	f.Add(fzSeed(3,
		op(fzOpSubscribe, C), op(fzOpSubscribe, C), op(fzOpRecvCancel, 0), op(fzOpRecvCancel, 1),
		op(fzOpCloseSub, 0), op(fzOpEmit, C), op(fzOpRecvCancel, 1), op(fzOpEmitBurst, fzTN(C, 7)),
		op(fzOpRecvCancel, 1), op(fzOpGC, 0), op(fzOpCloseBus, 0), op(fzOpRecvCancel, 1), op(fzOpAll, 0)))
	// Memory: released once every subscriber live at emission read it or closed.
	f.Add(fzSeed(4,
		op(fzOpSubscribe, C), op(fzOpEmit, C), op(fzOpSubscribe, C), op(fzOpEmit, C), op(fzOpTryRecv, 0),
		op(fzOpTryRecv, 0), op(fzOpCloseSub, 1), op(fzOpEmitBurst, fzTN(C, 2)), op(fzOpGC, 0)))

	// TryRecvMany: batches up to the slice's size, then a lag, empty, closed.
	f.Add(fzSeed(3,
		op(fzOpSubscribe, A), op(fzOpSubscribe, A), op(fzOpEmitBurst, fzTN(A, 2)), op(fzOpTryRecvMany, fzSL(0, 3)),
		op(fzOpEmitBurst, fzTN(A, 3)), op(fzOpTryRecvMany, fzSL(0, 2)), op(fzOpTryRecvMany, fzSL(0, 2)),
		op(fzOpTryRecvMany, fzSL(0, 3)), op(fzOpEmitBurst, fzTN(A, 7)), op(fzOpTryRecvMany, fzSL(1, 1)),
		op(fzOpTryRecvMany, fzSL(1, 3)), op(fzOpTryRecvMany, fzSL(0, 0)), op(fzOpCloseBus, 0),
		op(fzOpTryRecvMany, fzSL(1, 3)), op(fzOpTryRecvMany, fzSL(1, 3)), op(fzOpGC, 0)))

	// More types than the registry scans linearly: every filler, then
	// the main types, with emits and counts across the threshold.
	many := []byte{byte(5 - 1), fzOpEmit, 3, fzOpSubscribe, A, fzOpEmit, A}
	for k := range fzTypes - 3 {
		many = append(many, fzOpSubscribe, byte(3+4*k), fzOpEmit, byte(3+4*k), fzOpCounts, 0)
	}
	many = append(many, fzSeed(1, op(fzOpSubscribe, B), op(fzOpSubscribe, C), op(fzOpEmit, A),
		op(fzOpEmit, B), op(fzOpEmit, C), op(fzOpEmit, 3+4*16), op(fzOpTryRecv, 0), op(fzOpTryRecv, 5),
		op(fzOpCounts, 0))[1:]...)
	f.Add(many)

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		capacity := 1 + int(data[0])%8
		b, err := fxbus.New(fxbus.WithCapacity(capacity))
		if err != nil {
			t.Fatal(err)
		}
		r := &fzRun{t: t, b: b, m: fzNewModel(capacity)}
		defer b.Close()
		ops := data[1:]
		for i := 0; i+1 < len(ops) && i/2 < fzMaxOps; i += 2 {
			r.step(int(ops[i])%fzOpCount, int(ops[i+1]))
		}
		// Whatever the sequence, after the bus closes every subscription
		// drains what the model says it holds, then gets ErrClosed.
		r.step(fzOpCloseBus, 0)
		for i := range r.m.subs {
			r.trace = append(r.trace, [2]int{fzOpCount, i})
			r.all(i, 0)
		}
		r.step(fzOpCounts, 0)
	})
}

// ---- The reference model ----

// fzModel is the reference: per type, the list of every event written to
// its ring (index = position); per subscriber, the position it reads next.
// The ring retains positions [len-capacity, len); a subscriber whose next
// position is older has lagged.
type fzModel struct {
	capacity int
	closed   bool
	types    [fzTypes]fzTypeModel
	subs     []*fzSubModel
	nextID   uint64
	weaks    map[uint64]weak.Pointer[fzBox] // events of type C, by id
	gcDone   bool
}

type fzTypeModel struct {
	ring     bool     // subscribed to at least once before the bus closed
	ids      []uint64 // id of the event at each position
	eligible [][]int  // per position, the subscribers live when it was emitted
	dropped  uint64
	missed   uint64
}

type fzSubModel struct {
	typ    int
	dead   bool // made on a closed bus: closed from the start
	closed bool // Subscription.Close called
	next   int  // position of the next event to read

	// Ready: armed after a Ready call that found nothing waiting; woken
	// once something a receive would return arrived since.
	armed, woken bool
	ch           <-chan struct{}
}

func fzNewModel(capacity int) *fzModel {
	return &fzModel{capacity: capacity, nextID: 1, weaks: map[uint64]weak.Pointer[fzBox]{}}
}

func (m *fzModel) live(s *fzSubModel) bool { return !s.dead && !s.closed }

// backlog is what the slowest live subscriber of typ has yet to read, at
// most the capacity: the ring holds no more.
func (m *fzModel) backlog(typ int) uint64 {
	var most int
	for _, s := range m.subs {
		if s.typ == typ && m.live(s) {
			most = max(most, min(len(m.types[typ].ids)-s.next, m.capacity))
		}
	}
	return uint64(most)
}

// fzQualified is the Stats.Type of a type of this test package.
func fzQualified(name string) string {
	return strings.ReplaceAll(name, "fxbus_test.", "github.com/claviron/fxruntime/fxbus_test.")
}

func (m *fzModel) liveCount(typ int) int {
	n := 0
	for _, s := range m.subs {
		if s.typ == typ && m.live(s) {
			n++
		}
	}
	return n
}

// fzOutcome is the result of one receive, from the bus or the model.
type fzOutcome struct {
	kind   string // "event", "lag", "empty", "closed", or the text of another error
	id     uint64 // for "event"
	missed uint64 // for "lag"
}

func (o fzOutcome) String() string {
	switch o.kind {
	case "event":
		return fmt.Sprintf("event #%d", o.id)
	case "lag":
		return fmt.Sprintf("lagged, missed %d", o.missed)
	}
	return o.kind
}

// peek is what the next receive of s returns.
func (m *fzModel) peek(s *fzSubModel) fzOutcome {
	if !m.live(s) {
		return fzOutcome{kind: "closed"}
	}
	tm := &m.types[s.typ]
	pos := len(tm.ids)
	oldest := max(0, pos-m.capacity)
	switch {
	case s.next < oldest:
		return fzOutcome{kind: "lag", missed: uint64(oldest - s.next)}
	case s.next < pos:
		return fzOutcome{kind: "event", id: tm.ids[s.next]}
	case m.closed:
		return fzOutcome{kind: "closed"}
	}
	return fzOutcome{kind: "empty"}
}

// consume applies the receive that peek described.
func (m *fzModel) consume(s *fzSubModel) fzOutcome {
	o := m.peek(s)
	tm := &m.types[s.typ]
	switch o.kind {
	case "lag":
		s.next = max(0, len(tm.ids)-m.capacity)
		tm.missed += o.missed
	case "event":
		s.next++
	}
	return o
}

// pending is Len: positions between s and the tail, lagged ones included.
func (m *fzModel) pending(s *fzSubModel) int {
	if !m.live(s) {
		return 0
	}
	return len(m.types[s.typ].ids) - s.next
}

// mustBeReleased reports whether the bus may no longer hold the event at
// position p of typ: it was overwritten, or every subscriber live when it
// was emitted has read past it or closed.
func (m *fzModel) mustBeReleased(typ, p int) bool {
	tm := &m.types[typ]
	if p < len(tm.ids)-m.capacity {
		return true
	}
	for _, i := range tm.eligible[p] {
		if s := m.subs[i]; m.live(s) && s.next <= p {
			return false
		}
	}
	return true
}

// ---- Running operations against the bus and the model ----

type fzRun struct {
	t     *testing.T
	b     *fxbus.Bus
	m     *fzModel
	subs  []fzSub
	trace [][2]int // the operations run so far, printed on failure
}

// fzCancelAfterCheck is a context that is cancelled right after the first
// call of its Err method has found it live: as if another goroutine had
// cancelled it at that moment, which is a legal interleaving, but
// deterministic, so that the fuzzer's coverage is stable.
type fzCancelAfterCheck struct {
	context.Context
	cancel context.CancelFunc
}

func (c fzCancelAfterCheck) Err() error {
	err := c.Context.Err()
	if err == nil {
		c.cancel()
	}
	return err
}

func (r *fzRun) failf(format string, args ...any) {
	r.t.Helper()
	var ops []string
	nsubs := 0
	for _, o := range r.trace {
		op, arg := o[0], o[1]
		switch op {
		case fzOpSubscribe, fzOpEmit, fzOpEmitBurst, fzOpCounts, fzOpCloseBus, fzOpGC:
			ops = append(ops, fmt.Sprintf("%s(type %d, arg %d)", fzOpNames[op], fzTypeOf(arg), arg))
			if op == fzOpSubscribe && nsubs < fzMaxSubs {
				nsubs++
			}
		case fzOpCount: // the final drain
			ops = append(ops, fmt.Sprintf("All(sub %d, to the end)", arg))
		default:
			sub := -1
			if nsubs > 0 {
				sub = arg % 32 % nsubs
			}
			ops = append(ops, fmt.Sprintf("%s(sub %d, arg %d)", fzOpNames[op], sub, arg))
		}
	}
	r.t.Fatalf("%s\noperations (capacity %d):\n  %s", fmt.Sprintf(format, args...), r.m.capacity, strings.Join(ops, "\n  "))
}

func (r *fzRun) check(what string, got, want fzOutcome) {
	r.t.Helper()
	if got != want {
		r.failf("%s = %v, model says %v", what, got, want)
	}
}

// sub resolves an argument to a subscription index, or -1 if there is
// none: its low 5 bits, modulo the number of subscriptions. The high bits
// choose a variant of some operations.
func (r *fzRun) sub(arg int) int {
	if len(r.subs) == 0 {
		return -1
	}
	return arg % 32 % len(r.subs)
}

func (r *fzRun) step(op, arg int) {
	r.t.Helper()
	m := r.m
	typ := fzTypeOf(arg)
	r.trace = append(r.trace, [2]int{op, arg})

	switch op {
	case fzOpSubscribe:
		if len(r.subs) == fzMaxSubs {
			return
		}
		s := &fzSubModel{typ: typ}
		if m.closed {
			s.dead = true
		} else {
			m.types[typ].ring = true
			s.next = len(m.types[typ].ids)
		}
		m.subs = append(m.subs, s)
		r.subs = append(r.subs, fzKinds[typ].subscribe(r.b))

	case fzOpEmit, fzOpEmitBurst:
		n := 1
		if op == fzOpEmitBurst {
			n = fzCountOf(arg)
		}
		for range n {
			r.emit(typ)
		}

	case fzOpTryRecv:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		got := r.subs[i].tryRecv()
		r.check(fmt.Sprintf("sub %d: TryRecv", i), got, m.consume(m.subs[i]))

	case fzOpRecvExpired:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		// The documented contract: "ctx.Err() if ctx is done first, in
		// which case nothing is consumed". A context done before the call
		// is done first, whatever is waiting.
		var ctx context.Context
		var cancel context.CancelFunc
		if arg/32%2 == 0 { // the variant: cancelled, or past its deadline
			ctx, cancel = context.WithCancel(context.Background())
		} else {
			ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}
		cancel()
		m.subs[i].armed = false // a Recv may take the Ready token
		got := r.subs[i].recv(ctx)
		r.check(fmt.Sprintf("sub %d: Recv(expired ctx)", i), got, fzOutcome{kind: ctx.Err().Error()})

	case fzOpRecvLive:
		i := r.sub(arg)
		if i < 0 || m.peek(m.subs[i]).kind == "empty" {
			return // would block: see fzOpRecvCancel
		}
		m.subs[i].armed = false
		var got fzOutcome
		if arg/32%2 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), fzWait)
			got = r.subs[i].recv(ctx)
			cancel()
		} else {
			// A context that is never done: Recv may take another path.
			// It runs in a goroutine, so that a Recv that blocks fails
			// the test rather than hanging it.
			res := make(chan fzOutcome, 1)
			go func() { res <- r.subs[i].recv(context.Background()) }()
			select {
			case got = <-res:
			case <-time.After(fzWait):
				r.failf("sub %d: Recv(context.Background()) blocked although the model says it returns %v", i, m.peek(m.subs[i]))
			}
		}
		r.check(fmt.Sprintf("sub %d: Recv", i), got, m.consume(m.subs[i]))

	case fzOpRecvCancel:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		// The context is cancelled right after Recv first checks it
		// (fzCancelAfterCheck). Recv either returns what is waiting or
		// context.Canceled having consumed nothing; with nothing waiting
		// it parks and must come back with context.Canceled. The timer
		// is a safety net for a Recv that never checks Err.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := time.AfterFunc(fzWait, cancel)
		m.subs[i].armed = false
		got := r.subs[i].recv(fzCancelAfterCheck{ctx, cancel})
		if !net.Stop() {
			r.failf("sub %d: Recv with a context cancelled after its first check returned only after %v", i, fzWait)
		}
		if got.kind == context.Canceled.Error() {
			return
		}
		want := m.peek(m.subs[i])
		if want.kind == "empty" {
			want.kind = context.Canceled.Error()
		}
		r.check(fmt.Sprintf("sub %d: Recv(ctx cancelled meanwhile)", i), got, want)
		m.consume(m.subs[i])

	case fzOpCloseSub:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		r.subs[i].close()
		s := m.subs[i]
		if s.armed {
			s.woken = true // Close wakes a receive waiting on s
		}
		s.closed = true

	case fzOpCloseBus:
		r.b.Close()
		if !m.closed {
			m.closed = true
			for _, s := range m.subs {
				if s.armed {
					s.woken = true
				}
			}
		}

	case fzOpLen:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		if got, want := r.subs[i].len(), m.pending(m.subs[i]); got != want {
			r.failf("sub %d: Len = %d, model says %d", i, got, want)
		}

	case fzOpCounts:
		r.checkCounts()

	case fzOpReady:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		s := m.subs[i]
		ch := r.subs[i].ready()
		if want := m.peek(s); want.kind != "empty" {
			select {
			case <-ch:
			default:
				r.failf("sub %d: Ready did not fire at once although a receive returns %v", i, want)
			}
			s.armed, s.woken = false, false
			return
		}
		s.armed, s.woken, s.ch = true, false, ch

	case fzOpReadyPoll:
		i := r.sub(arg)
		if i < 0 || !m.subs[i].armed {
			return
		}
		s := m.subs[i]
		select {
		case <-s.ch:
			// A wake-up, maybe a spurious one (allowed); either way the
			// one armed by the last Ready may be used up.
			s.armed, s.woken = false, false
		default:
			if s.woken {
				r.failf("sub %d: the channel of an earlier Ready has not fired although a receive now returns %v (or did since)", i, m.peek(s))
			}
		}

	case fzOpAll:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		r.all(i, (arg/32)%4)

	case fzOpTryRecvMany:
		i := r.sub(arg)
		if i < 0 {
			return
		}
		// The model: a series of receives that stops at the first one
		// without an event; with no event at all, that receive's outcome.
		n := 1 + (arg/32)%4
		var want []fzOutcome
		for len(want) < n {
			if o := m.peek(m.subs[i]); o.kind != "event" {
				if len(want) == 0 {
					want = append(want, m.consume(m.subs[i]))
				}
				break
			}
			want = append(want, m.consume(m.subs[i]))
		}
		got := r.subs[i].tryRecvMany(n)
		if len(got) != len(want) {
			r.failf("sub %d: TryRecvMany(%d) = %v, model says %v", i, n, got, want)
		}
		for j := range want {
			r.check(fmt.Sprintf("sub %d: TryRecvMany(%d) result %d", i, n, j), got[j], want[j])
		}

	case fzOpGC:
		if m.gcDone {
			return // runtime.GC is slow; once per input is plenty
		}
		m.gcDone = true
		r.checkReleased()
	}
}

func (r *fzRun) emit(typ int) {
	r.t.Helper()
	m := r.m
	tm := &m.types[typ]
	id := m.nextID
	m.nextID++
	want := 0
	switch {
	case m.closed || !tm.ring:
	default:
		want = m.liveCount(typ)
		if want == 0 {
			tm.dropped++
			break
		}
		var eligible []int
		for i, s := range m.subs {
			if s.typ == typ && m.live(s) {
				eligible = append(eligible, i)
				if s.armed {
					s.woken = true
				}
			}
		}
		tm.ids = append(tm.ids, id)
		tm.eligible = append(tm.eligible, eligible)
	}
	if got := fzKinds[typ].emit(r.b, id, m); got != want {
		r.failf("Emit[%s] #%d = %d, model says %d", fzKinds[typ].name(), id, got, want)
	}
}

// all ranges over Subscription.All, stopping after limit items (0: to the
// end), if the model says that it would not block.
func (r *fzRun) all(i, limit int) {
	r.t.Helper()
	m := r.m
	s := m.subs[i]
	// Simulate on a copy first: skip the operation if it would block.
	saved := *s
	savedMissed := m.types[s.typ].missed
	var want []fzOutcome
	for limit == 0 || len(want) < limit {
		o := m.peek(s)
		if o.kind == "empty" {
			*s = saved
			m.types[s.typ].missed = savedMissed
			return
		}
		if o.kind == "closed" {
			break
		}
		want = append(want, m.consume(s))
	}
	s.armed = false
	ctx, cancel := context.WithTimeout(context.Background(), fzWait)
	defer cancel()
	got := r.subs[i].all(ctx, limit)
	if ctx.Err() != nil {
		r.failf("sub %d: All(limit %d) did not end within %v; got %v, model says %v", i, limit, fzWait, got, want)
	}
	if !slices.Equal(got, want) {
		r.failf("sub %d: All(limit %d) yielded %v, model says %v", i, limit, got, want)
	}
}

func (r *fzRun) checkCounts() {
	r.t.Helper()
	m := r.m
	if got := r.b.Capacity(); got != m.capacity {
		r.failf("Capacity = %d, want %d", got, m.capacity)
	}
	var want []fxbus.Stats
	rings := 0
	for typ, k := range fzKinds {
		tm := &m.types[typ]
		st := fxbus.Stats{Type: fzQualified(k.name()), Name: k.name()}
		if tm.ring {
			rings++
			st = fxbus.Stats{
				Type:        fzQualified(k.name()),
				Name:        k.name(),
				Backlog:     m.backlog(typ),
				Emitted:     uint64(len(tm.ids)),
				Dropped:     tm.dropped,
				Missed:      tm.missed,
				Subscribers: m.liveCount(typ),
			}
			want = append(want, st)
		}
		if got := k.statsOf(r.b); got != st {
			r.failf("StatsOf[%s] = %+v, model says %+v", k.name(), got, st)
		}
		if got := k.subscriberCount(r.b); got != st.Subscribers {
			r.failf("SubscriberCount[%s] = %d, model says %d", k.name(), got, st.Subscribers)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Type < want[j].Type })
	if got := r.b.Stats(); !slices.Equal(got, want) {
		r.failf("Stats = %+v, model says %+v", got, want)
	}
	if got := r.b.TypeCount(); got != rings {
		r.failf("TypeCount = %d, model says %d", got, rings)
	}
}

// checkReleased collects garbage and checks that every event of type C the
// model says the bus must have let go is gone. (The converse is not part
// of the contract: the bus may drop an event early only by overwriting it.)
func (r *fzRun) checkReleased() {
	r.t.Helper()
	runtime.GC()
	runtime.GC()
	m := r.m
	const typ = 2
	for p, id := range m.types[typ].ids {
		if w := m.weaks[id]; m.mustBeReleased(typ, p) && w.Value() != nil {
			r.failf("event #%d (type %s, position %d) is still referenced although every subscriber live at its emission read it or closed", id, fzKinds[typ].name(), p)
		}
	}
}

// ---- The three event types behind one interface ----

// fzSub is a subscription of any of the three types, reduced to outcomes.
type fzSub interface {
	tryRecv() fzOutcome
	tryRecvMany(n int) []fzOutcome
	recv(ctx context.Context) fzOutcome
	len() int
	close()
	ready() <-chan struct{}
	all(ctx context.Context, limit int) []fzOutcome
}

type fzKind interface {
	name() string
	subscribe(b *fxbus.Bus) fzSub
	emit(b *fxbus.Bus, id uint64, m *fzModel) int
	subscriberCount(b *fxbus.Bus) int
	statsOf(b *fxbus.Bus) fxbus.Stats
}

var fzKinds = [fzTypes]fzKind{
	fzKindOf[fzEvA]{
		mk: func(id uint64, _ *fzModel) fzEvA { return fzEvA(id) },
		id: func(e fzEvA) uint64 { return uint64(e) },
	},
	fzKindOf[fzEvB]{
		mk: func(id uint64, _ *fzModel) fzEvB { return fzEvB{ID: id, Tag: "b"} },
		id: func(e fzEvB) uint64 {
			if e.Tag != "b" {
				return 0 // a torn or foreign value: never a valid id
			}
			return e.ID
		},
	},
	fzKindOf[*fzBox]{
		mk: func(id uint64, m *fzModel) *fzBox {
			p := &fzBox{id: id}
			m.weaks[id] = weak.Make(p)
			return p
		},
		id: func(e *fzBox) uint64 {
			if e == nil {
				return 0
			}
			return e.id
		},
	},
	fzFillKind[[1]byte](), fzFillKind[[2]byte](), fzFillKind[[3]byte](), fzFillKind[[4]byte](),
	fzFillKind[[5]byte](), fzFillKind[[6]byte](), fzFillKind[[7]byte](), fzFillKind[[8]byte](),
	fzFillKind[[9]byte](), fzFillKind[[10]byte](), fzFillKind[[11]byte](), fzFillKind[[12]byte](),
	fzFillKind[[13]byte](), fzFillKind[[14]byte](), fzFillKind[[15]byte](), fzFillKind[[16]byte](),
	fzFillKind[[17]byte](),
}

// fzFill is a filler event type: one distinct type per T.
type fzFill[T any] uint64

func fzFillKind[T any]() fzKind {
	return fzKindOf[fzFill[T]]{
		mk: func(id uint64, _ *fzModel) fzFill[T] { return fzFill[T](id) },
		id: func(e fzFill[T]) uint64 { return uint64(e) },
	}
}

type fzKindOf[E comparable] struct {
	mk func(id uint64, m *fzModel) E
	id func(E) uint64
}

func (k fzKindOf[E]) name() string { return reflect.TypeFor[E]().String() }

func (k fzKindOf[E]) subscribe(b *fxbus.Bus) fzSub {
	return fzSubOf[E]{s: fxbus.Subscribe[E](b), k: k}
}

func (k fzKindOf[E]) emit(b *fxbus.Bus, id uint64, m *fzModel) int {
	return fxbus.Emit(b, k.mk(id, m))
}

func (k fzKindOf[E]) subscriberCount(b *fxbus.Bus) int { return fxbus.SubscriberCount[E](b) }
func (k fzKindOf[E]) statsOf(b *fxbus.Bus) fxbus.Stats { return fxbus.StatsOf[E](b) }

type fzSubOf[E comparable] struct {
	s *fxbus.Subscription[E]
	k fzKindOf[E]
}

// outcome turns a receive's result into an fzOutcome, checking on the way
// that an error comes with the zero value.
func (s fzSubOf[E]) outcome(v E, err error) fzOutcome {
	var zero E
	var lag *fxbus.LaggedError
	switch {
	case err == nil:
		return fzOutcome{kind: "event", id: s.k.id(v)}
	case v != zero:
		return fzOutcome{kind: fmt.Sprintf("non-zero value %v with error %v", v, err)}
	case errors.As(err, &lag):
		if !errors.Is(err, fxbus.ErrLagged) {
			return fzOutcome{kind: "LaggedError not matching ErrLagged"}
		}
		return fzOutcome{kind: "lag", missed: lag.Missed}
	case errors.Is(err, fxbus.ErrEmpty):
		return fzOutcome{kind: "empty"}
	case errors.Is(err, fxbus.ErrClosed):
		return fzOutcome{kind: "closed"}
	}
	return fzOutcome{kind: err.Error()}
}

func (s fzSubOf[E]) tryRecv() fzOutcome { return s.outcome(s.s.TryRecv()) }

// tryRecvMany returns the events TryRecvMany gave, or its one error.
func (s fzSubOf[E]) tryRecvMany(n int) []fzOutcome {
	buf := make([]E, n)
	k, err := s.s.TryRecvMany(buf)
	if err != nil {
		if k != 0 {
			return []fzOutcome{{kind: fmt.Sprintf("%d events with error %v", k, err)}}
		}
		var zero E
		return []fzOutcome{s.outcome(zero, err)}
	}
	if k == 0 {
		return []fzOutcome{{kind: "no event and no error"}}
	}
	out := make([]fzOutcome, k)
	for i, v := range buf[:k] {
		out[i] = s.outcome(v, nil)
	}
	return out
}
func (s fzSubOf[E]) recv(ctx context.Context) fzOutcome { return s.outcome(s.s.Recv(ctx)) }
func (s fzSubOf[E]) len() int                           { return s.s.Len() }
func (s fzSubOf[E]) close()                             { s.s.Close() }
func (s fzSubOf[E]) ready() <-chan struct{}             { return s.s.Ready() }

func (s fzSubOf[E]) all(ctx context.Context, limit int) []fzOutcome {
	var out []fzOutcome
	for v, err := range s.s.All(ctx) {
		out = append(out, s.outcome(v, err))
		if len(out) == limit {
			break
		}
	}
	return out
}
