package endctx

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// asContext gives c the Deadline method that the types embedding a Ctx add.
type asContext struct{ *Ctx }

func (a asContext) Deadline() (time.Time, bool) { return a.at, !a.at.IsZero() }

func started(parent context.Context, at, now time.Time) *Ctx {
	c := new(Ctx)
	c.Init(parent, at, now)
	return c
}

// TestAlarmEndsIt: a Ctx ends at its alarm time with DeadlineExceeded, and
// so does a context derived from it, through the AfterFunc registration
// (no goroutine watches it).
func TestAlarmEndsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		c := started(context.Background(), now.Add(time.Second), now)
		child, cancel := context.WithCancel(asContext{c})
		defer cancel()
		c.mu.Lock()
		registered := len(c.funcs)
		c.mu.Unlock()
		if registered != 1 {
			t.Fatalf("%d functions registered by context.WithCancel, want 1 (AfterFunc)", registered)
		}
		if c.Passed() {
			t.Error("Passed() = true before the time")
		}
		<-child.Done()
		if got := time.Since(now); got != time.Second {
			t.Errorf("ended after %v, want 1s", got)
		}
		if c.Err() != context.DeadlineExceeded || child.Err() != context.DeadlineExceeded {
			t.Errorf("Err %v, child's %v; want DeadlineExceeded for both", c.Err(), child.Err())
		}
		if !c.Passed() {
			t.Error("Passed() = false after the time")
		}
		c.End(context.Canceled) // after the alarm: changes nothing
		if c.Err() != context.DeadlineExceeded {
			t.Errorf("Err %v after a late End, want DeadlineExceeded", c.Err())
		}
	})
}

// TestEnd: ending before the alarm time stops the alarm and cancels the
// derived contexts. A child canceled earlier stays registered (AfterFunc's
// stop does nothing) and is called again, which does nothing to it. A Ctx
// without an alarm time ends only by End or its parent.
func TestEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		c := started(context.Background(), now.Add(time.Second), now)
		c1, cancel1 := context.WithCancel(asContext{c})
		c2, cancel2 := context.WithCancel(asContext{c})
		defer cancel2()
		cancel1()
		c.mu.Lock()
		registered := len(c.funcs)
		c.mu.Unlock()
		if registered != 2 {
			t.Errorf("%d functions registered after one child's cancel, want 2", registered)
		}
		c.End(context.Canceled)
		if c.alarm != nil {
			t.Error("the alarm is still held after End")
		}
		if c2.Err() != context.Canceled || c1.Err() != context.Canceled || c.Err() != context.Canceled {
			t.Errorf("Err %v, children's %v and %v; want Canceled", c.Err(), c1.Err(), c2.Err())
		}
		time.Sleep(2 * time.Second) // sleep-ok: fake time inside a synctest bubble; the stopped alarm must not fire
		if c.Err() != context.Canceled {
			t.Errorf("Err %v after the time, want Canceled still", c.Err())
		}
		// Registering on an ended context calls f at once.
		called := make(chan struct{})
		stop := c.AfterFunc(func() { close(called) })
		<-called
		if stop() {
			t.Error("stop() = true for a function already called")
		}

		none := started(context.Background(), time.Time{}, now)
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		if none.Err() != nil || none.Passed() {
			t.Errorf("without an alarm time: Err %v, Passed %v after an hour; want nil, false", none.Err(), none.Passed())
		}
		none.End(errors.New("done"))
		if none.Err() == nil || none.Err().Error() != "done" {
			t.Errorf("Err %v after End, want End's error", none.Err())
		}
	})
}

// TestParent: the parent's end ends the Ctx with the parent's error; a
// parent already ended, or an alarm time already passed, gives a context
// that has ended; values come from the parent.
func TestParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		parent, cancel := context.WithCancel(context.Background())
		c := started(parent, now.Add(time.Second), now)
		if c.Parent() != parent {
			t.Error("Parent() is not the parent")
		}
		cancel()
		<-c.Done()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err %v after the parent's cancel, want Canceled", c.Err())
		}
		c.End(context.Canceled)

		ended := started(parent, now.Add(time.Second), now)
		<-ended.Done()
		if ended.Err() != context.Canceled {
			t.Errorf("on an ended parent: Err %v, want Canceled", ended.Err())
		}
		past := started(context.Background(), now, now)
		<-past.Done()
		if past.Err() != context.DeadlineExceeded {
			t.Errorf("past time: Err %v, want DeadlineExceeded", past.Err())
		}
		type key struct{}
		vctx := context.WithValue(context.Background(), key{}, "v")
		v := started(vctx, now.Add(time.Second), now)
		defer v.End(context.Canceled)
		if got := v.Value(key{}); got != "v" {
			t.Errorf("Value = %v, want the parent's %q", got, "v")
		}
	})
}

// TestPooledAlarm: outside a synctest bubble an alarm that was left in time
// serves the next Ctx, and still fires for it.
func TestPooledAlarm(t *testing.T) {
	now := time.Now()
	a := started(context.Background(), now.Add(time.Hour), now)
	a.End(context.Canceled)
	now = time.Now()
	b := started(context.Background(), now.Add(time.Millisecond), now)
	defer b.End(context.Canceled)
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the alarm did not fire")
	}
	if b.Err() != context.DeadlineExceeded {
		t.Errorf("Err %v, want DeadlineExceeded", b.Err())
	}
}

// TestAlarmLeftArmed: an alarm left armed for an earlier time takes a later
// target without re-arming, fires at the earlier time, re-arms itself, and
// ends the target at its own time, not before.
func TestAlarmLeftArmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		first := &Ctx{parent: context.Background(), at: start.Add(time.Second), done: make(chan struct{})}
		second := &Ctx{parent: context.Background(), at: start.Add(3 * time.Second), done: make(chan struct{})}
		al := &alarm{bubble: true}
		al.t = time.AfterFunc(time.Hour, al.fire)
		al.t.Stop()
		al.arm(first, time.Second)
		al.leave() // first ended in time: the alarm stays armed for 1s
		second.alarm = al
		al.arm(second, 3*time.Second)
		al.mu.Lock()
		when := al.when
		al.mu.Unlock()
		if !when.Equal(first.at) {
			t.Errorf("armed for %v after the start, want the earlier 1s", when.Sub(start))
		}
		time.Sleep(2 * time.Second) // sleep-ok: fake time inside a synctest bubble; the alarm fired at 1s, for nothing
		synctest.Wait()
		if second.Err() != nil || first.Err() != nil {
			t.Fatalf("Err %v and %v at 2s, want nil for both", first.Err(), second.Err())
		}
		<-second.Done()
		if got := time.Since(start); got != 3*time.Second || second.Err() != context.DeadlineExceeded {
			t.Errorf("second ended after %v with %v, want 3s and DeadlineExceeded", got, second.Err())
		}
	})
}
