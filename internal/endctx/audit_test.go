package endctx

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestEndReleasesTheAlarm: End releases the alarm it holds: inside a
// synctest bubble its timer is stopped, and outside one it is left without
// a target (so that it no longer holds the ended Ctx and can serve the next
// attempt).
func TestEndReleasesTheAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		c := started(context.Background(), now.Add(time.Second), now)
		al := c.alarm
		if al == nil {
			t.Fatal("no alarm after Init with an alarm time")
		}
		c.End(context.Canceled)
		if al.t.Stop() {
			t.Error("the alarm's timer was still armed after End, want it stopped")
		}
	})

	now := time.Now()
	c := started(context.Background(), now.Add(time.Hour), now)
	al := c.alarm
	if al == nil || al.bubble {
		t.Fatalf("alarm %+v outside a bubble, want a poolable one", al)
	}
	c.End(context.Canceled)
	al.mu.Lock()
	target := al.target
	al.mu.Unlock()
	if target != nil {
		t.Error("the alarm still targets the ended Ctx after End, want no target")
	}
}

// TestAlarmTimeReachedAtInit: an alarm time equal to now gives a Ctx that
// has ended when Init returns, as context.WithDeadline(now) does, not one
// that ends a moment later.
func TestAlarmTimeReachedAtInit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		c := started(context.Background(), now, now)
		if err := c.Err(); err != context.DeadlineExceeded {
			t.Errorf("Err right after Init at now = %v, want DeadlineExceeded", err)
		}
		if c.alarm != nil {
			t.Error("Init armed an alarm for a time already reached")
		}
		c.End(context.Canceled)
	})
}
