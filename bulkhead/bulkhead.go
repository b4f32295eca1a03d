// Package bulkhead provides a policy that caps how many calls run at once
// against one dependency, so that a dependency which slows down cannot take
// every goroutine, connection and request slot of its caller with it.
//
// A [Bulkhead] admits up to MaxConcurrent calls at a time. Further callers
// wait in a bounded first-in, first-out queue (MaxQueue, MaxWait) or, when the
// queue is full or disabled, are rejected at once with [ErrFull], which
// matches [resilience.ErrRejected]. Give each dependency its own bulkhead and
// put it inside the circuit breaker:
//
//	overall timeout → retry → breaker → bulkhead → per-attempt timeout → call
package bulkhead

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/notbuilt"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// ErrFull is the error a [Bulkhead] returns, or wraps, when it refuses a
// call: every slot was taken and the queue was full or disabled, or the call
// waited in the queue for MaxWait without getting a slot. It matches
// [resilience.ErrRejected] under [errors.Is].
var ErrFull = resilience.NewRejection("bulkhead: full")

// DefaultMaxConcurrent is the number of calls a [Bulkhead] lets run at once
// when Config.MaxConcurrent is zero.
const DefaultMaxConcurrent = 25

// maxLimit is the largest MaxConcurrent and MaxQueue: each count has 32 bits
// of the bulkhead's state word.
const maxLimit = math.MaxInt32

// Config configures a [Bulkhead]. The zero value is valid: a bulkhead named
// "bulkhead" that runs up to [DefaultMaxConcurrent] calls at once and rejects
// the rest at once.
type Config struct {
	// Name identifies the bulkhead in errors and telemetry. Empty means
	// "bulkhead".
	Name string

	// MaxConcurrent is the most calls that may run at once. Zero means
	// DefaultMaxConcurrent; it must not be negative.
	MaxConcurrent int

	// MaxQueue is the most callers that may wait for a slot when all are
	// taken. Zero means none: a call that finds every slot taken is rejected
	// at once. It must not be negative.
	MaxQueue int

	// MaxWait is the longest a caller waits in the queue before it is
	// rejected with ErrFull. Zero means no limit of the bulkhead's own: the
	// caller waits until a slot frees or its context ends. It must not be
	// negative, and setting it while MaxQueue is zero (no queue to wait in)
	// is an error.
	MaxWait time.Duration

	// Telemetry configures the policy's metrics, span events and logs. The
	// zero value reports to the global OpenTelemetry providers; see package
	// telemetry and its INSTRUMENTS.md.
	Telemetry telemetry.Settings
}

// Bulkhead is a [resilience.Policy] that limits how many calls run at once.
//
// A call that finds a free slot runs at once, in the caller's goroutine. A
// call that finds every slot taken joins the queue if it has room, and is
// rejected with [ErrFull] if not. Waiters are admitted strictly in the order
// they joined the queue: a slot that frees while callers wait is handed to
// the one that has waited longest, and a new caller never overtakes them.
// A waiter gives up when MaxWait passes ([ErrFull]) or its context ends (the
// context's error); either way it leaves the capacity exactly as it was.
//
// The slot is released when op returns, also when op panics (the panic then
// continues up the caller's stack) or calls [runtime.Goexit].
//
// A Bulkhead is safe for concurrent use. Its zero value is not usable: its
// Do returns an error saying it was not built with [New], without running
// op (not [ErrFull]: it is not overloaded), and its other methods report an
// empty bulkhead with no slots. A nil *Bulkhead behaves the same.
type Bulkhead struct {
	// state holds the number of calls in flight in its low 32 bits and the
	// number of queued callers in its high 32 bits, so that the uncontended
	// path is one compare-and-swap to enter and one to leave, with no lock.
	//
	// Invariant: when the queue is not empty, every slot is taken. A caller
	// only queues when it finds no free slot, and a release with callers
	// queued hands its slot straight to the first of them.
	//
	// This is not golang.org/x/sync/semaphore.Weighted because that has no
	// bound on its waiters and cannot report how many wait or how many
	// permits are held; counting those beside it would add atomics to every
	// call of a path that is already a lock and an unlock more than this one
	// (bench_test.go compares the two).
	state atomic.Uint64

	maxConcurrent uint64
	maxQueue      uint64
	maxWait       time.Duration
	name          string
	key           string            // Config.Telemetry.Key, sanitized, for Status
	rec           *observe.Recorder // nil when telemetry is disabled

	// mu guards the queue and every change of the queued count in state.
	mu         sync.Mutex
	head, tail *waiter
}

const (
	inFlightMask = 1<<32 - 1
	queuedOne    = 1 << 32
	dequeue      = ^uint64(queuedOne - 1) // adding it subtracts queuedOne
)

var (
	_ resilience.Policy        = (*Bulkhead)(nil)
	_ resilience.Retainer      = (*Bulkhead)(nil)
	_ telemetry.StatusReporter = (*Bulkhead)(nil)
)

// A waiter is one caller in the queue. Waiters are not pooled: a pooled
// channel made inside one testing/synctest bubble would panic when used from
// another, and a queued call is about to block anyway.
type waiter struct {
	ready      chan struct{} // closed when the waiter is handed a slot
	prev, next *waiter
	queued     bool // in the list; guarded by Bulkhead.mu
}

// errNotBuilt is returned by Do on a Bulkhead not built with New.
var errNotBuilt error = notbuilt.New("bulkhead: Bulkhead not built with New")

// New returns a Bulkhead for cfg, or an error naming the bad field.
func New(cfg Config) (*Bulkhead, error) {
	switch {
	case cfg.MaxConcurrent < 0:
		return nil, fmt.Errorf("bulkhead: MaxConcurrent %d must not be negative (0 means %d)", cfg.MaxConcurrent, DefaultMaxConcurrent)
	case cfg.MaxConcurrent > maxLimit:
		return nil, fmt.Errorf("bulkhead: MaxConcurrent %d exceeds the limit %d", cfg.MaxConcurrent, maxLimit)
	case cfg.MaxQueue < 0:
		return nil, fmt.Errorf("bulkhead: MaxQueue %d must not be negative", cfg.MaxQueue)
	case cfg.MaxQueue > maxLimit:
		return nil, fmt.Errorf("bulkhead: MaxQueue %d exceeds the limit %d", cfg.MaxQueue, maxLimit)
	case cfg.MaxWait < 0:
		return nil, fmt.Errorf("bulkhead: MaxWait %v must not be negative", cfg.MaxWait)
	case cfg.MaxWait > 0 && cfg.MaxQueue == 0:
		return nil, fmt.Errorf("bulkhead: MaxWait %v has no effect with MaxQueue 0 (no caller ever waits): set MaxQueue or leave MaxWait zero", cfg.MaxWait)
	}
	b := &Bulkhead{
		maxConcurrent: uint64(cfg.MaxConcurrent),
		maxQueue:      uint64(cfg.MaxQueue),
		maxWait:       cfg.MaxWait,
		name:          cfg.Name,
	}
	if b.maxConcurrent == 0 {
		b.maxConcurrent = DefaultMaxConcurrent
	}
	if b.name == "" {
		b.name = "bulkhead"
	}
	b.rec = observe.NewRecorder(observe.KindBulkhead, b.name, cfg.Telemetry)
	b.key = observe.StoredKey(cfg.Telemetry.Key)
	// In flight and queued are read at collection: no per-call gauge updates.
	b.rec.ObserveLoad(
		func() int64 { return int64(b.InFlight()) },
		func() int64 { return int64(b.Queued()) },
	)
	return b, nil
}

// built reports whether b was built with New. It reads a field that New
// always sets (to at least 1): no atomic.
func (b *Bulkhead) built() bool { return b != nil && b.maxConcurrent != 0 }

// Name returns the bulkhead's name.
func (b *Bulkhead) Name() string {
	if b == nil {
		return ""
	}
	return b.name
}

// MaxConcurrent returns the most calls that may run at once.
func (b *Bulkhead) MaxConcurrent() int {
	if b == nil {
		return 0
	}
	return int(b.maxConcurrent)
}

// MaxQueue returns the most callers that may wait for a slot.
func (b *Bulkhead) MaxQueue() int {
	if b == nil {
		return 0
	}
	return int(b.maxQueue)
}

// MaxWait returns the longest a caller waits in the queue; zero means until
// its context ends.
func (b *Bulkhead) MaxWait() time.Duration {
	if b == nil {
		return 0
	}
	return b.maxWait
}

// InFlight returns the number of calls holding a slot now.
func (b *Bulkhead) InFlight() int {
	if b == nil {
		return 0
	}
	return int(b.state.Load() & inFlightMask)
}

// Queued returns the number of callers waiting for a slot now.
func (b *Bulkhead) Queued() int {
	if b == nil {
		return 0
	}
	return int(b.state.Load() >> 32)
}

// Status returns a snapshot of the bulkhead's occupancy and limits, for a
// status page ([telemetry.StatusHandler]). A Bulkhead not built with [New]
// reports an empty bulkhead status.
func (b *Bulkhead) Status() telemetry.Status {
	if !b.built() {
		return telemetry.Status{Kind: string(observe.KindBulkhead), Bulkhead: &telemetry.BulkheadStatus{}}
	}
	return telemetry.Status{Kind: string(observe.KindBulkhead), Name: b.name, Key: b.key,
		Bulkhead: &telemetry.BulkheadStatus{
			InFlight:      b.InFlight(),
			Queued:        b.Queued(),
			MaxConcurrent: b.MaxConcurrent(),
			MaxQueue:      b.MaxQueue(),
		}}
}

// Retain reports whether a call holds a slot or waits for one. Per-key
// caches (package keyed) keep such a bulkhead, so that a new one for the same
// key cannot let more than MaxConcurrent calls run at once.
func (b *Bulkhead) Retain() bool { return b != nil && b.state.Load() != 0 }

// Do runs op if a slot is free or frees while the caller waits in the queue,
// and releases the slot when op returns. It returns op's error, or without
// running op:
//   - the context's error if ctx has already ended, or ends while the caller
//     waits in the queue;
//   - [ErrFull] if every slot is taken and the queue is full or disabled;
//   - an error that matches [ErrFull] if MaxWait passes in the queue;
//   - an error saying so if b was not built with [New] (a zero or nil
//     Bulkhead).
//
// Each call that reaches the bulkhead is recorded once in
// resilience.calls: by op's outcome when op ran, as rejected when the
// bulkhead refused it, as neutral when the caller gave up in the queue. A
// call whose op panics is not recorded.
func (b *Bulkhead) Do(ctx context.Context, op func(context.Context) error) error {
	if !b.built() {
		return errNotBuilt
	}
	if err := ctx.Err(); err != nil {
		return err // never reached the bulkhead: not recorded
	}
	s := b.rec.Start(ctx)
	if b.tryAcquire() {
		b.admitted(ctx, 0)
	} else if err := b.wait(ctx); err != nil {
		return err // rejected or abandoned: wait's hooks recorded it
	}
	defer b.release()
	err := op(ctx)
	b.rec.Done(ctx, s, observe.Classify(ctx, err))
	return err
}

// tryAcquire takes a free slot if there is one and nobody is queued.
func (b *Bulkhead) tryAcquire() bool {
	for {
		s := b.state.Load()
		if s>>32 != 0 || s&inFlightMask >= b.maxConcurrent {
			return false
		}
		if b.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// wait queues the caller until it is handed a slot (nil) or gives up (an
// error). Every slot was taken when tryAcquire looked.
func (b *Bulkhead) wait(ctx context.Context) error {
	if b.maxQueue == 0 {
		// tryAcquire only fails here when every slot is taken: nobody is
		// ever queued.
		b.rejected(ctx, rejectFull, 0)
		return ErrFull
	}

	b.mu.Lock()
	for {
		s := b.state.Load()
		queued := s >> 32
		if queued == 0 && s&inFlightMask < b.maxConcurrent {
			// A slot freed since tryAcquire looked.
			if b.state.CompareAndSwap(s, s+1) {
				b.mu.Unlock()
				b.admitted(ctx, 0)
				return nil
			}
			continue
		}
		if queued >= b.maxQueue {
			b.mu.Unlock()
			b.rejected(ctx, rejectFull, 0)
			return ErrFull
		}
		// The swap fails if a release without the lock freed a slot
		// meanwhile; the next round then takes that slot instead of
		// queueing behind nobody.
		if b.state.CompareAndSwap(s, s+queuedOne) {
			break
		}
	}
	w := &waiter{ready: make(chan struct{})}
	b.push(w)
	b.mu.Unlock()

	start := time.Now()
	var timer *time.Timer
	var timeout <-chan time.Time
	if b.maxWait > 0 {
		// No timer when the caller's own deadline comes first: its context
		// ends the wait, with its own error.
		if d, ok := ctx.Deadline(); !ok || d.Sub(start) > b.maxWait {
			timer = time.NewTimer(b.maxWait)
			timeout = timer.C
		}
	}

	select {
	case <-w.ready:
	case <-ctx.Done():
	case <-timeout:
	}
	if timer != nil {
		timer.Stop()
	}

	select {
	case <-w.ready:
	default:
		b.mu.Lock()
		if w.queued {
			b.remove(w)
			b.state.Add(dequeue)
			b.mu.Unlock()
			if err := ctx.Err(); err != nil {
				b.abandoned(ctx, time.Since(start))
				return err
			}
			b.rejected(ctx, rejectQueueTimeout, time.Since(start))
			return &waitError{name: b.name, maxWait: b.maxWait}
		}
		// A release handed us the slot after we stopped waiting; ready
		// is closed already.
		b.mu.Unlock()
	}

	// The caller holds a slot. If its context ended meanwhile, op would
	// start for nobody: pass the slot on.
	if err := ctx.Err(); err != nil {
		b.release()
		b.abandoned(ctx, time.Since(start))
		return err
	}
	b.admitted(ctx, time.Since(start))
	return nil
}

// release gives up a slot: to the first queued caller if there is one, else
// back to the bulkhead.
func (b *Bulkhead) release() {
	b.released()
	for {
		s := b.state.Load()
		if s>>32 != 0 {
			break
		}
		if b.state.CompareAndSwap(s, s-1) {
			return
		}
	}
	b.mu.Lock()
	for {
		s := b.state.Load()
		if s>>32 == 0 {
			// The queue emptied (its waiters gave up) before we took the
			// lock.
			if b.state.CompareAndSwap(s, s-1) {
				break
			}
			continue
		}
		// Hand the slot over: in flight stays the same, queued drops by
		// one. The queued count only changes under mu, so the queue is not
		// empty.
		w := b.head
		b.remove(w)
		b.state.Add(dequeue)
		close(w.ready)
		break
	}
	b.mu.Unlock()
}

// push appends w to the queue. b.mu must be held.
func (b *Bulkhead) push(w *waiter) {
	w.queued = true
	w.prev = b.tail
	if b.tail == nil {
		b.head = w
	} else {
		b.tail.next = w
	}
	b.tail = w
}

// remove takes w, which is queued, out of the queue. b.mu must be held.
func (b *Bulkhead) remove(w *waiter) {
	if w.prev == nil {
		b.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		b.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
}

// waitError is the error of a caller that waited MaxWait in the queue.
type waitError struct {
	name    string
	maxWait time.Duration
}

func (e *waitError) Error() string {
	return fmt.Sprintf("bulkhead: full: %s: no slot within MaxWait %v", e.name, e.maxWait)
}

func (e *waitError) Unwrap() error { return ErrFull }

// Why a bulkhead rejected a call, for telemetry.
type rejectReason int

const (
	rejectFull         rejectReason = iota // every slot taken, queue full or disabled
	rejectQueueTimeout                     // waited MaxWait in the queue
)

// The methods below are the bulkhead's observable events, the one place
// where its telemetry is recorded (calls by outcome, wait time, the
// resilience.bulkhead.rejected span event; the in-flight and queued gauges
// are read at collection). ctx is always the caller's context. admitted and
// released run on the success path: they record nothing there.

// admitted records that a call got a slot after waiting wait in the queue
// (zero when it found a slot free).
func (b *Bulkhead) admitted(ctx context.Context, wait time.Duration) {
	if wait > 0 {
		b.rec.Waited(ctx, wait, observe.Success)
	}
}

// rejected records that a call was refused with ErrFull after waiting wait
// in the queue (zero when it was refused at once). why is not an attribute
// yet: the wait histogram already tells a queue timeout from a full queue.
func (b *Bulkhead) rejected(ctx context.Context, why rejectReason, wait time.Duration) {
	if wait > 0 {
		b.rec.Waited(ctx, wait, observe.Rejected)
	}
	b.rec.Reject(ctx)
}

// abandoned records that a caller's context ended while it waited in the
// queue (or as it was handed a slot): a neutral outcome, not a rejection.
func (b *Bulkhead) abandoned(ctx context.Context, wait time.Duration) {
	b.rec.Waited(ctx, wait, observe.Neutral)
	b.rec.Record(ctx, observe.Neutral, wait)
}

// released records that a call gave its slot up. It records nothing: the
// in-flight gauge reads the state at collection.
func (b *Bulkhead) released() {}
