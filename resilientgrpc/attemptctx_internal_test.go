package resilientgrpc

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestAttemptCtxDeadline: an attemptCtx ends at its deadline with
// DeadlineExceeded, and so does the context gRPC derives from it, through
// the AfterFunc registration (no goroutine watches it).
func TestAttemptCtxDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		a := newAttemptCtx(context.Background(), now.Add(time.Second), now)
		child, cancel := context.WithCancel(a)
		defer cancel()
		a.mu.Lock()
		registered := len(a.funcs)
		a.mu.Unlock()
		if registered != 1 {
			t.Fatalf("%d functions registered by context.WithCancel, want 1 (AfterFunc)", registered)
		}
		<-child.Done()
		if got := time.Since(now); got != time.Second {
			t.Errorf("ended after %v, want 1s", got)
		}
		if a.Err() != context.DeadlineExceeded || child.Err() != context.DeadlineExceeded {
			t.Errorf("Err %v, child's %v; want DeadlineExceeded for both", a.Err(), child.Err())
		}
		if !a.timedOut() {
			t.Error("timedOut() = false after the deadline")
		}
		a.end(context.Canceled) // after the alarm: changes nothing
		if a.Err() != context.DeadlineExceeded {
			t.Errorf("Err %v after a late end, want DeadlineExceeded", a.Err())
		}
	})
}

// TestAttemptCtxEnd: ending the attempt before its deadline stops the
// alarm and cancels the derived contexts. A child canceled earlier stays
// registered (AfterFunc's stop does nothing) and is called again, which
// does nothing to it.
func TestAttemptCtxEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		a := newAttemptCtx(context.Background(), now.Add(time.Second), now)
		c1, cancel1 := context.WithCancel(a)
		c2, cancel2 := context.WithCancel(a)
		defer cancel2()
		cancel1()
		a.mu.Lock()
		registered := len(a.funcs)
		a.mu.Unlock()
		if registered != 2 {
			t.Errorf("%d functions registered after one child's cancel, want 2", registered)
		}
		a.end(context.Canceled)
		if a.alarm != nil {
			t.Error("the alarm is still held after end")
		}
		if c2.Err() != context.Canceled || c1.Err() != context.Canceled || a.Err() != context.Canceled {
			t.Errorf("Err %v, children's %v and %v; want Canceled", a.Err(), c1.Err(), c2.Err())
		}
		if a.timedOut() {
			t.Error("timedOut() = true before the deadline")
		}
		time.Sleep(2 * time.Second) // the stopped alarm must not fire
		if a.Err() != context.Canceled {
			t.Errorf("Err %v after the deadline, want Canceled still", a.Err())
		}
		// Registering on an ended context calls f at once.
		called := make(chan struct{})
		stop := a.AfterFunc(func() { close(called) })
		<-called
		if stop() {
			t.Error("stop() = true for a function already called")
		}
	})
}

// TestAttemptCtxParent: the parent's end ends the attemptCtx with the
// parent's error; a parent already ended, or a deadline already passed,
// gives a context that has ended; the deadline is reported only when the
// parent has one.
func TestAttemptCtxParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		parent, cancel := context.WithCancel(context.Background())
		a := newAttemptCtx(parent, now.Add(time.Second), now)
		if _, ok := a.Deadline(); ok {
			t.Error("Deadline reported for a parent without one")
		}
		cancel()
		<-a.Done()
		if !errors.Is(a.Err(), context.Canceled) {
			t.Errorf("Err %v after the parent's cancel, want Canceled", a.Err())
		}
		a.end(context.Canceled)

		ended := newAttemptCtx(parent, now.Add(time.Second), now)
		<-ended.Done()
		if ended.Err() != context.Canceled {
			t.Errorf("on an ended parent: Err %v, want Canceled", ended.Err())
		}
		past := newAttemptCtx(context.Background(), now, now)
		<-past.Done()
		if past.Err() != context.DeadlineExceeded {
			t.Errorf("past deadline: Err %v, want DeadlineExceeded", past.Err())
		}

		withDL, cancelDL := context.WithTimeout(context.Background(), time.Hour)
		defer cancelDL()
		b := newAttemptCtx(withDL, now.Add(time.Second), now)
		defer b.end(context.Canceled)
		if d, ok := b.Deadline(); !ok || !d.Equal(now.Add(time.Second)) {
			t.Errorf("Deadline() = %v, %v under a parent with a deadline, want %v, true", d, ok, now.Add(time.Second))
		}
		type key struct{}
		vctx := context.WithValue(context.Background(), key{}, "v")
		v := newAttemptCtx(vctx, now.Add(time.Second), now)
		defer v.end(context.Canceled)
		if got := v.Value(key{}); got != "v" {
			t.Errorf("Value = %v, want the parent's %q", got, "v")
		}
	})
}

// TestAttemptCtxPooledAlarm: outside a synctest bubble an alarm that was
// stopped in time serves the next attempt, and still fires for it.
func TestAttemptCtxPooledAlarm(t *testing.T) {
	now := time.Now()
	a := newAttemptCtx(context.Background(), now.Add(time.Hour), now)
	a.end(context.Canceled)
	now = time.Now()
	b := newAttemptCtx(context.Background(), now.Add(time.Millisecond), now)
	defer b.end(context.Canceled)
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the alarm did not fire")
	}
	if b.Err() != context.DeadlineExceeded {
		t.Errorf("Err %v, want DeadlineExceeded", b.Err())
	}
}

// TestAlarmLeftArmed: an alarm left armed for an earlier deadline takes a
// later target without re-arming, fires at the earlier deadline, re-arms
// itself, and ends the target at its own deadline, not before.
func TestAlarmLeftArmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		first := &attemptCtx{parent: context.Background(), deadline: start.Add(time.Second), done: make(chan struct{})}
		second := &attemptCtx{parent: context.Background(), deadline: start.Add(3 * time.Second), done: make(chan struct{})}
		al := &alarm{bubble: true}
		al.t = time.AfterFunc(time.Hour, al.fire)
		al.t.Stop()
		al.arm(first, time.Second)
		al.leave() // first returned in time: the alarm stays armed for 1s
		second.alarm = al
		al.arm(second, 3*time.Second)
		al.mu.Lock()
		when := al.when
		al.mu.Unlock()
		if !when.Equal(first.deadline) {
			t.Errorf("armed for %v after the start, want the earlier 1s", when.Sub(start))
		}
		time.Sleep(2 * time.Second) // the alarm fired at 1s, for nothing
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
