// Package endctx provides the context that the adapters give one attempt of
// a call under their built-in timeouts: the caller's context (its values,
// its cancellation) that also ends at a time of the adapter's, by a pooled
// timer, and when the adapter ends it. resilienthttp and resilientgrpc embed
// a Ctx and add the Deadline method their protocol wants.
//
// A Ctx is cheaper than context.WithDeadline: no timer allocated per
// attempt (the alarms are pooled, and left armed between attempts), and
// the contexts derived from it (net/http and gRPC derive one per request)
// register with its AfterFunc method, without a children map or a goroutine.
package endctx

import (
	"context"
	"sync"
	"time"
)

// A Ctx is a context without a Deadline method: the type that embeds it
// says what deadline it reports. It ends at the first of: the end of its
// parent, its alarm time (if any), and End. Its zero value is not usable:
// call Init first, once. A Ctx must not be copied after Init, and is safe
// for concurrent use once Init has returned.
type Ctx struct {
	parent context.Context
	at     time.Time // when the alarm ends the context; zero: no alarm
	done   chan struct{}

	mu       sync.Mutex
	err      error
	funcs    []func() // registered by AfterFunc, called when the context ends
	fbuf     [2]func()
	alarm    *alarm      // ends the context at at
	unparent func() bool // stops the watch on the parent
}

// Init starts c under parent: it ends when parent ends, at at unless at is
// zero, or when End is called. now is the current time (time.Now), from
// which the alarm's delay is computed.
func (c *Ctx) Init(parent context.Context, at, now time.Time) {
	c.parent, c.at = parent, at
	c.done = make(chan struct{})
	c.funcs = c.fbuf[:0]
	// Until Init returns, no other goroutine sees c.
	pdone := parent.Done()
	if pdone != nil {
		if err := parent.Err(); err != nil {
			c.err = err
			close(c.done)
			return
		}
	}
	var d time.Duration
	if !at.IsZero() {
		if d = at.Sub(now); d <= 0 {
			c.err = context.DeadlineExceeded
			close(c.done)
			return
		}
	}
	// From here on, the parent's end and the alarm may end c at once: the
	// lock makes them wait until the fields they release are set.
	c.mu.Lock()
	defer c.mu.Unlock()
	if pdone != nil {
		c.unparent = context.AfterFunc(parent, c.parentEnded)
	}
	if !at.IsZero() {
		c.alarm = startAlarm(c, d, now)
	}
}

func (c *Ctx) parentEnded() { c.End(c.parent.Err()) }

// Parent returns the context c was started under.
func (c *Ctx) Parent() context.Context { return c.parent }

// Done returns a channel that is closed when the context ends.
func (c *Ctx) Done() <-chan struct{} { return c.done }

// Err returns nil until the context ends, then why: the parent's error when
// the parent ended first, context.DeadlineExceeded when the alarm did, and
// End's argument otherwise.
func (c *Ctx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	return err
}

// Value returns the parent's value: the wrapped transport or invoker sees the
// values of the caller's context. (For package context's own key, that makes
// context.Cause report the parent's cause, or Err when it has none.)
func (c *Ctx) Value(key any) any { return c.parent.Value(key) }

// Passed reports whether c's alarm time has passed (false without one). An
// attempt can fail with the deadline's error before the alarm has run.
func (c *Ctx) Passed() bool { return !c.at.IsZero() && time.Until(c.at) <= 0 }

// AfterFunc arranges for f to be called when the context ends, and returns
// a function that cancels that, as package context expects of a parent.
// Unlike context.AfterFunc, f is called in the goroutine that ends the
// context: package context only registers the cancellation of a child,
// which is quick and does not block.
//
// The function returned does nothing: f stays registered until the context
// ends, and is called then. Package context, the only caller of this method,
// ignores what stop returns, and cancelling a child that is canceled already
// does nothing. Not removing saves an allocation per attempt; a Ctx lives as
// long as one attempt and has about one child.
func (c *Ctx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		// Package context may hold a lock of its own while it registers:
		// do not call back into it from here.
		go f()
		return stopNothing
	}
	c.funcs = append(c.funcs, f)
	c.mu.Unlock()
	return stopNothing
}

func stopNothing() bool { return false }

// End ends the context with err, if it has not ended yet, and releases what
// it holds: the alarm, the watch on the parent, and the functions
// registered, which it calls.
func (c *Ctx) End(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	// Once err is set, funcs changes no more: it is read without the lock.
	funcs, al, unparent := c.funcs, c.alarm, c.unparent
	c.alarm, c.unparent = nil, nil
	c.mu.Unlock()
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

// An alarm is a timer that ends a Ctx at its time. Arming a timer and
// stopping it cost a clock read and two trips through the runtime's timer
// heap for every attempt, so alarms are pooled and left armed: an attempt
// that takes an alarm armed for its time or earlier only becomes its
// target, and one that ends in time only leaves it. An alarm that fires
// before its target's time (armed for an earlier attempt) re-arms itself
// for the rest; one that fires without a target stays unarmed until an
// attempt takes it. The adapters' attempts end a fixed timeout after their
// start, so in a steady flow of calls each alarm fires about once per
// timeout, whatever the number of calls.
type alarm struct {
	t      *time.Timer
	bubble bool // made inside a testing/synctest bubble: never pooled

	mu     sync.Mutex
	target *Ctx
	when   time.Time // when the timer fires; zero: it is not armed
}

var alarms sync.Pool // of *alarm, without target

// startAlarm returns an alarm that ends c at c.at, which is d after now, the
// current time.
func startAlarm(c *Ctx, d time.Duration, now time.Time) *alarm {
	// A timer made inside a testing/synctest bubble runs on the bubble's
	// clock and must not be used outside it, nor a pooled real timer
	// inside one: such timers are made afresh. Time read in a bubble has
	// no monotonic reading, which is how it is recognized.
	bubble := now == now.Round(0)
	if !bubble {
		if al, _ := alarms.Get().(*alarm); al != nil {
			al.arm(c, d)
			return al
		}
	}
	al := &alarm{bubble: bubble, target: c, when: c.at}
	al.mu.Lock()
	defer al.mu.Unlock()
	al.t = time.AfterFunc(d, al.fire)
	return al
}

// arm makes c the alarm's target, and arms the timer for c.at, d from now,
// unless it fires at that time or earlier already.
func (al *alarm) arm(c *Ctx, d time.Duration) {
	al.mu.Lock()
	al.target = c
	if al.when.IsZero() || al.when.After(c.at) {
		al.t.Reset(d)
		al.when = c.at
	}
	al.mu.Unlock()
}

func (al *alarm) fire() {
	al.mu.Lock()
	al.when = time.Time{}
	c := al.target
	if c == nil {
		al.mu.Unlock()
		return
	}
	if d := time.Until(c.at); d > 0 {
		// Armed for an earlier attempt's time.
		al.t.Reset(d)
		al.when = c.at
		al.mu.Unlock()
		return
	}
	al.mu.Unlock()
	c.End(context.DeadlineExceeded)
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
