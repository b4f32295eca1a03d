package resilientgrpc

import (
	"context"
	"sync"
	"time"
)

// attemptCtx is the context of one attempt of a unary call under the
// standard preset's timeouts: the caller's context (its values, its
// cancellation, its deadline if it has one) ended at the preset's own
// deadline by a pooled timer, and by the interceptor when the attempt
// returns.
//
// It exists for what gRPC does with a deadline. A context whose Deadline
// reports one costs gRPC, per call, the grpc-timeout header (formatted by
// the client, a new HPACK table entry on both sides, parsed by the server)
// and, on the server, a context.WithTimeout with its timer: together
// several times what the preset's policies cost. So when the caller's
// context has no deadline, an attemptCtx reports none either: the client
// alone enforces the preset's timeouts, and the server learns of one that
// fires from the stream's cancellation (RST_STREAM), not from a deadline.
// When the caller's context has a deadline, gRPC sends one anyway, and an
// attemptCtx reports its own (the earlier one) so that the server knows it.
//
// It implements the AfterFunc method that package context looks for, so
// that the context gRPC derives from it for the stream registers there,
// without a goroutine. Unlike context.AfterFunc, the functions registered
// are called in the goroutine that ends the context: package context only
// registers the cancellation of a child, which is quick and does not block.
type attemptCtx struct {
	parent   context.Context
	deadline time.Time // ours: the alarm ends the context then
	report   bool      // Deadline reports deadline: the parent has one
	done     chan struct{}

	mu       sync.Mutex
	err      error
	funcs    []func() // registered by AfterFunc, called when the context ends
	fbuf     [1]func()
	alarm    *alarm      // fires at the deadline
	unparent func() bool // stops the watch on the parent
}

var _ context.Context = (*attemptCtx)(nil)

// newAttemptCtx returns a context that ends at deadline, which must be
// earlier than the parent's, if it has one; now is the current time. Its
// end method must be called when the attempt returns.
func newAttemptCtx(parent context.Context, deadline time.Time, now time.Time) *attemptCtx {
	a := &attemptCtx{parent: parent, deadline: deadline, done: make(chan struct{})}
	a.funcs = a.fbuf[:0]
	_, a.report = parent.Deadline()
	// Until newAttemptCtx returns, no other goroutine sees a.
	pdone := parent.Done()
	if pdone != nil {
		if err := parent.Err(); err != nil {
			a.err = err
			close(a.done)
			return a
		}
	}
	d := deadline.Sub(now)
	if d <= 0 {
		a.err = context.DeadlineExceeded
		close(a.done)
		return a
	}
	// From here on, the parent's end and the alarm may end a at once: the
	// lock makes them wait until the fields they release are set.
	a.mu.Lock()
	defer a.mu.Unlock()
	if pdone != nil {
		a.unparent = context.AfterFunc(parent, a.parentEnded)
	}
	a.alarm = startAlarm(a, d, now)
	return a
}

func (a *attemptCtx) parentEnded() { a.end(a.parent.Err()) }

// Deadline reports the attempt's deadline if the parent has a deadline of
// its own, and no deadline otherwise (see the type's documentation).
func (a *attemptCtx) Deadline() (time.Time, bool) {
	if !a.report {
		return time.Time{}, false
	}
	return a.deadline, true
}

// Done returns a channel that is closed when the context ends.
func (a *attemptCtx) Done() <-chan struct{} { return a.done }

// Err returns nil until the context ends, then why: DeadlineExceeded at
// the deadline, the parent's error when the parent ended first, and
// Canceled when the attempt returned first.
func (a *attemptCtx) Err() error {
	a.mu.Lock()
	err := a.err
	a.mu.Unlock()
	return err
}

// Value returns the parent's value: gRPC and the interceptors inside this
// one see the values of the caller's context.
func (a *attemptCtx) Value(key any) any { return a.parent.Value(key) }

// AfterFunc arranges for f to be called when the context ends, and returns
// a function that cancels that, as package context expects of a parent.
//
// The function returned does nothing: f stays registered until the context
// ends, and is called then. Package context, the only caller of this method,
// registers the cancellation of a child, which does nothing on a child
// already canceled, and ignores what stop returns. Not removing saves an
// allocation per attempt; a context lives as long as one attempt and has
// about one child (gRPC's).
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

// timedOut reports whether the deadline ended the context, or has passed:
// gRPC may report DeadlineExceeded of its own before the alarm runs.
func (a *attemptCtx) timedOut() bool {
	return a.Err() == context.DeadlineExceeded || time.Until(a.deadline) <= 0
}

// end ends the context with err, if it has not ended yet, and releases what
// it holds: the alarm, the watch on the parent, and the functions
// registered, which it calls.
func (a *attemptCtx) end(err error) {
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return
	}
	a.err = err
	close(a.done)
	// Once err is set, funcs changes no more: it is read without the lock.
	funcs, al, unparent := a.funcs, a.alarm, a.unparent
	a.alarm, a.unparent = nil, nil
	a.mu.Unlock()
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

// An alarm is a timer that ends an attemptCtx at its deadline. Arming a
// timer and stopping it cost a clock read and two trips through the
// runtime's timer heap for every attempt, so alarms are pooled and left
// armed: an attempt that takes an alarm armed for its deadline or earlier
// only becomes its target, and one that returns in time only leaves it. An
// alarm that fires before its target's deadline (armed for an earlier
// attempt) re-arms itself for the rest; one that fires without a target
// stays unarmed until an attempt takes it. The preset's attempts have
// deadlines a fixed timeout after their start, so in a steady flow of calls
// each alarm fires about once per timeout, whatever the number of calls.
type alarm struct {
	t      *time.Timer
	bubble bool // made inside a testing/synctest bubble: never pooled

	mu     sync.Mutex
	target *attemptCtx
	when   time.Time // when the timer fires; zero: it is not armed
}

var alarms sync.Pool // of *alarm, without target

// startAlarm returns an alarm that ends a at a.deadline, which is d after
// now, the current time.
func startAlarm(a *attemptCtx, d time.Duration, now time.Time) *alarm {
	// A timer made inside a testing/synctest bubble runs on the bubble's
	// clock and must not be used outside it, nor a pooled real timer
	// inside one: such timers are made afresh. Time read in a bubble has
	// no monotonic reading, which is how it is recognized.
	bubble := now == now.Round(0)
	if !bubble {
		if al, _ := alarms.Get().(*alarm); al != nil {
			al.arm(a, d)
			return al
		}
	}
	al := &alarm{bubble: bubble, target: a, when: a.deadline}
	al.mu.Lock()
	defer al.mu.Unlock()
	al.t = time.AfterFunc(d, al.fire)
	return al
}

// arm makes a the alarm's target, and arms the timer for a.deadline, d from
// now, unless it fires at that deadline or earlier already.
func (al *alarm) arm(a *attemptCtx, d time.Duration) {
	al.mu.Lock()
	al.target = a
	if al.when.IsZero() || al.when.After(a.deadline) {
		al.t.Reset(d)
		al.when = a.deadline
	}
	al.mu.Unlock()
}

func (al *alarm) fire() {
	al.mu.Lock()
	al.when = time.Time{}
	a := al.target
	if a == nil {
		al.mu.Unlock()
		return
	}
	if d := time.Until(a.deadline); d > 0 {
		// Armed for an earlier attempt's deadline.
		al.t.Reset(d)
		al.when = a.deadline
		al.mu.Unlock()
		return
	}
	al.mu.Unlock()
	a.end(context.DeadlineExceeded)
}

// stop leaves the alarm, still armed, to the next attempt; an alarm made in
// a synctest bubble is stopped instead.
func (al *alarm) stop() {
	if al.bubble {
		al.t.Stop()
		return
	}
	al.leave()
	alarms.Put(al)
}

// leave leaves the alarm without a target.
func (al *alarm) leave() {
	al.mu.Lock()
	al.target = nil
	al.mu.Unlock()
}
