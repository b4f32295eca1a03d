package resilienthttp

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience/internal/endctx"
)

// The contexts the transport makes. A request under timeouts would cost a
// dozen allocations with context.WithDeadline (a timer, two closures, a done
// channel, and a map in which net/http registers its own child context, per
// context); these types do the same work with fewer, measured by
// BenchmarkStandardTransport:
//
//   - an attemptCtx is the context of one attempt's request. It lives in an
//     exchange, one allocation with the body handed to the caller and the
//     request, its timer comes from a pool (package endctx), and net/http's
//     child registers with its AfterFunc method rather than in a map;
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
		ex.ctx.End(context.Canceled)
	}
}

// attemptCtx is the context of an attempt's request: the caller's context
// (its values, its cancellation) with a deadline of the transport's own, and
// ended by the transport when the exchange is over. It ends at the first of:
// its deadline, the end of the caller's context, and End. The work is done
// by the endctx.Ctx it embeds (a pooled timer; net/http's child context
// registers with its AfterFunc method, without a map or a goroutine).
type attemptCtx struct {
	endctx.Ctx
	deadline time.Time
	hasDL    bool         // deadline is set (ours or the caller's)
	kind     deadlineKind // whose deadline it is; deadlineNone if the caller's
}

var _ context.Context = (*attemptCtx)(nil)

// init starts the context at now: deadline, of the given kind, bounds it
// unless the parent's deadline comes first.
func (a *attemptCtx) init(parent context.Context, deadline time.Time, kind deadlineKind, now time.Time) {
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
	var at time.Time // when our alarm ends it; zero: none
	if own {
		at = deadline
	}
	a.Init(parent, at, now)
}

// Deadline returns the deadline that bounds the attempt.
func (a *attemptCtx) Deadline() (time.Time, bool) { return a.deadline, a.hasDL }

// expired reports whether the context's own deadline has passed: an error of
// the attempt then is a timeout of ours (kind says whose).
func (a *attemptCtx) expired() bool {
	return a.kind != deadlineNone && a.Passed()
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
