package resilienthttp

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The contexts the transport makes. A request under timeouts would cost a
// dozen allocations with context.WithDeadline (a timer, two closures, a done
// channel, and a map in which net/http registers its own child context, per
// context); these types do the same work with fewer, measured by
// BenchmarkStandardTransport:
//
//   - an attemptCtx is the context of one attempt's request. It lives in an
//     exchange, one allocation with the body handed to the caller, its timer
//     comes from a pool, and net/http's child registers with its AfterFunc
//     method rather than in a map;
//   - an overallCtx is the context the policy gets under an overall
//     timeout. It has the deadline but makes its timer only when someone
//     waits on Done (a retry's backoff wait, a bulkhead's queue): the
//     attempts carry the overall deadline themselves.

// deadlineKind says whose deadline ends an attemptCtx.
type deadlineKind uint8

const (
	deadlineNone    deadlineKind = iota // none of ours: the caller's, if any
	deadlineAttempt                     // the per-attempt timeout
	deadlineOverall                     // the overall timeout
	deadlinePolicy                      // the deadline of the policy's attempt context
)

// An exchange is what an attempt that needs a context of its own allocates,
// in one piece: the context, and the body handed to the caller, which ends
// the context when it is closed. The first exchange of a request under an
// overall timeout also holds the request's overallCtx.
type exchange struct {
	ctx     attemptCtx
	body    responseBody
	overall overallCtx
	req     http.Request // the attempt's request, a copy of the caller's
}

// release ends the exchange's context. It is safe on a nil exchange.
func (ex *exchange) release() {
	if ex != nil {
		ex.ctx.end(context.Canceled)
	}
}

// attemptCtx is the context of an attempt's request: the caller's context
// (its values, its cancellation) with a deadline of the transport's own, and
// ended by the transport when the exchange is over. It ends at the first of:
// its deadline, the end of the caller's context, and end.
//
// It implements the AfterFunc method that package context looks for, so
// that a context derived from it (net/http derives one per request)
// registers there, without a map or a goroutine. Unlike context.AfterFunc,
// the functions registered are called in the goroutine that ends the
// context: package context only ever registers the cancellation of a child,
// which is quick and does not block.
type attemptCtx struct {
	parent   context.Context
	deadline time.Time
	hasDL    bool         // deadline is set (ours or the caller's)
	kind     deadlineKind // whose deadline it is; deadlineNone if the caller's
	done     chan struct{}

	mu       sync.Mutex
	err      error
	funcs    []func() // registered by AfterFunc, called when the context ends
	fbuf     [2]func()
	alarm    *alarm      // fires at our deadline
	unparent func() bool // stops the watch on the parent
}

var _ context.Context = (*attemptCtx)(nil)

// init starts the context at now: deadline, of the given kind, bounds it
// unless the parent's deadline comes first.
func (a *attemptCtx) init(parent context.Context, deadline time.Time, kind deadlineKind, now time.Time) {
	a.parent = parent
	a.done = make(chan struct{})
	a.funcs = a.fbuf[:0]
	own := kind != deadlineNone
	if pd, ok := parent.Deadline(); ok && (!own || !pd.After(deadline)) {
		// The caller's deadline comes first: it ends the parent, and
		// with it this context; a timeout then is the caller's.
		deadline, kind, own = pd, deadlineNone, false
		a.hasDL = true
	}
	if own {
		a.hasDL = true
	}
	a.deadline, a.kind = deadline, kind

	// Until init returns, no other goroutine sees a.
	if parent.Done() != nil {
		if err := parent.Err(); err != nil {
			a.err = err
			close(a.done)
			return
		}
	}
	var d time.Duration
	if own {
		if d = deadline.Sub(now); d <= 0 {
			a.err = context.DeadlineExceeded
			close(a.done)
			return
		}
	}
	// From here on, the parent's end and the alarm may end a at once: the
	// lock makes them wait until the fields they release are set.
	a.mu.Lock()
	defer a.mu.Unlock()
	if parent.Done() != nil {
		a.unparent = context.AfterFunc(parent, a.parentEnded)
	}
	if own {
		a.alarm = startAlarm(a, d, now)
	}
}

func (a *attemptCtx) parentEnded() { a.end(a.parent.Err()) }

// Deadline returns the deadline that bounds the attempt.
func (a *attemptCtx) Deadline() (time.Time, bool) { return a.deadline, a.hasDL }

// Done returns a channel that is closed when the context ends.
func (a *attemptCtx) Done() <-chan struct{} { return a.done }

// Err returns nil until the context ends, then why: context.DeadlineExceeded
// for our deadline, the parent's error for the parent's end, and
// context.Canceled when the transport ended it.
func (a *attemptCtx) Err() error {
	a.mu.Lock()
	err := a.err
	a.mu.Unlock()
	return err
}

// Value returns the parent's value: the wrapped transport sees the values of
// the caller's context. (For package context's own key, that makes
// context.Cause report the parent's cause, or Err when it has none.)
func (a *attemptCtx) Value(key any) any { return a.parent.Value(key) }

// AfterFunc arranges for f to be called when the context ends, and returns
// a function that cancels that, as package context expects of a parent.
//
// The function returned does nothing: f stays registered until the context
// ends, and is called then. Package context, the only caller of this method,
// registers the cancellation of a child, which does nothing on a child
// already canceled, and ignores what stop returns. Not removing saves an
// allocation per request; a context lives as long as one attempt and its
// body, and has about one child (net/http's).
func (a *attemptCtx) AfterFunc(f func()) func() bool {
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		// Package context may hold a lock of its own while it registers:
		// do not call back into it from here.
		go f()
		return stopNothing
	}
	a.funcs = append(a.funcs, f)
	a.mu.Unlock()
	return stopNothing
}

func stopNothing() bool { return false }

// expired reports whether the context's own deadline has passed: an error of
// the attempt then is a timeout of ours (kind says whose).
func (a *attemptCtx) expired() bool {
	return a.kind != deadlineNone && time.Until(a.deadline) <= 0
}

// end ends the context with err, if it has not ended yet, and releases what
// it holds: the timer, the watch on the parent.
func (a *attemptCtx) end(err error) {
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return
	}
	funcs, al, unparent := a.endLocked(err)
	a.mu.Unlock()
	a.released(funcs, al, unparent)
}

// endLocked marks the context ended, with a.mu held, and returns what must
// be done without it.
func (a *attemptCtx) endLocked(err error) ([]func(), *alarm, func() bool) {
	a.err = err
	close(a.done)
	funcs, al, unparent := a.funcs, a.alarm, a.unparent
	// No registration is added or removed once err is set: funcs can be
	// read without the lock.
	a.alarm, a.unparent = nil, nil
	return funcs, al, unparent
}

// released finishes end, without a.mu.
func (a *attemptCtx) released(funcs []func(), al *alarm, unparent func() bool) {
	if al != nil {
		al.stop()
	}
	if unparent != nil {
		unparent()
	}
	for _, f := range funcs {
		f()
	}
}

// An alarm is a timer that ends an attemptCtx at its deadline. Alarms are
// pooled: a timer and its function cost two allocations, and a request whose
// attempt ends in time stops its alarm, which can then serve another.
type alarm struct {
	t      *time.Timer
	target atomic.Pointer[attemptCtx]
	bubble bool // made inside a testing/synctest bubble: never pooled
}

var alarms sync.Pool // of *alarm, stopped, without target

// startAlarm starts an alarm that ends a in d; now is the current time.
func startAlarm(a *attemptCtx, d time.Duration, now time.Time) *alarm {
	// A timer made inside a testing/synctest bubble runs on the bubble's
	// clock and must not be used outside it, nor a real timer inside one:
	// such timers are made afresh. Time in a bubble has no monotonic
	// reading, which is how it is recognized.
	bubble := now == now.Round(0)
	if !bubble {
		if al, _ := alarms.Get().(*alarm); al != nil {
			al.target.Store(a)
			al.t.Reset(d)
			return al
		}
	}
	al := &alarm{bubble: bubble}
	al.target.Store(a)
	al.t = time.AfterFunc(d, al.fire)
	return al
}

func (al *alarm) fire() {
	if a := al.target.Load(); a != nil {
		a.end(context.DeadlineExceeded)
	}
}

// stop stops the alarm, and pools it if it did not fire: a timer whose
// function has started may still be running it, and is left to the
// collector.
func (al *alarm) stop() {
	if al.t.Stop() && !al.bubble {
		al.target.Store(nil)
		alarms.Put(al)
	}
}

// overallCtx is the context the policy gets under an overall timeout: the
// caller's context (or the one that carries the key) with the overall
// deadline. Deadline, Err and Value need no timer, and the attempts carry the
// deadline in their own contexts, so the timer that closes Done is made only
// when Done is first called: by a wait (a retry's backoff, a bulkhead's
// queue) or by a context derived from this one. RoundTrip ends it when it
// returns.
type overallCtx struct {
	parent   context.Context
	deadline time.Time

	mu    sync.Mutex
	made  atomic.Pointer[madeCtx] // the context Done made, if any
	ended atomic.Uint32           // set by end when nothing was made: why (endedBy…)
}

// Why an overallCtx whose Done was never called ended.
const (
	endedNot      = iota
	endedCanceled // RoundTrip returned
	endedDeadline // RoundTrip returned after the deadline
	endedParent   // the parent had ended: its Err says why
)

// madeCtx is the real context behind an overallCtx whose Done was called.
type madeCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

var _ context.Context = (*overallCtx)(nil)

func (o *overallCtx) init(parent context.Context, deadline time.Time) {
	o.parent, o.deadline = parent, deadline
}

// Deadline returns the overall deadline.
func (o *overallCtx) Deadline() (time.Time, bool) { return o.deadline, true }

// Done returns a channel that is closed at the overall deadline, when the
// parent ends, or when RoundTrip returns.
func (o *overallCtx) Done() <-chan struct{} {
	if m := o.made.Load(); m != nil {
		return m.ctx.Done()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if m := o.made.Load(); m != nil {
		return m.ctx.Done()
	}
	if o.ended.Load() != endedNot {
		return closedChan
	}
	ctx, cancel := context.WithDeadline(o.parent, o.deadline)
	o.made.Store(&madeCtx{ctx: ctx, cancel: cancel})
	return ctx.Done()
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Err returns nil while the context runs, then why it ended.
func (o *overallCtx) Err() error {
	if m := o.made.Load(); m != nil {
		return m.ctx.Err()
	}
	switch o.ended.Load() {
	case endedCanceled:
		return context.Canceled
	case endedDeadline:
		return context.DeadlineExceeded
	}
	// Not ended, or ended by the parent.
	if err := o.parent.Err(); err != nil {
		return err
	}
	if o.expired() {
		return context.DeadlineExceeded
	}
	return nil
}

// Value returns the parent's value (or, once Done made a context, that
// context's, so that package context finds the made context's cancellation
// for the contexts derived from this one).
func (o *overallCtx) Value(key any) any {
	if m := o.made.Load(); m != nil {
		return m.ctx.Value(key)
	}
	return o.parent.Value(key)
}

// expired reports whether the overall deadline has passed. (Until reads
// only the monotonic clock, which is cheaper than Now.)
func (o *overallCtx) expired() bool { return time.Until(o.deadline) <= 0 }

// end ends the context when RoundTrip returns; ok reports that the call
// succeeded, which then ended the context (context.Canceled) whatever the
// clock says.
func (o *overallCtx) end(ok bool) {
	o.mu.Lock()
	m := o.made.Load()
	if m == nil && o.ended.Load() == endedNot {
		why := uint32(endedCanceled)
		if o.parent.Err() != nil {
			why = endedParent
		} else if !ok && o.expired() {
			why = endedDeadline
		}
		o.ended.Store(why)
	}
	o.mu.Unlock()
	if m != nil {
		m.cancel()
	}
}
