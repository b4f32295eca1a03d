package resilientgrpc

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestAttemptCtxDeadline: an attemptCtx ends at its deadline with
// DeadlineExceeded, and so does the context gRPC derives from it; it reports
// the deadline only when the parent has one (package endctx tests the rest).
func TestAttemptCtxDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		a := newAttemptCtx(context.Background(), now.Add(time.Second), now)
		if _, ok := a.Deadline(); ok {
			t.Error("Deadline reported for a parent without one")
		}
		child, cancel := context.WithCancel(a)
		defer cancel()
		if a.timedOut() {
			t.Error("timedOut() = true before the deadline")
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

		withDL, cancelDL := context.WithTimeout(context.Background(), time.Hour)
		defer cancelDL()
		now = time.Now()
		b := newAttemptCtx(withDL, now.Add(time.Second), now)
		defer b.End(context.Canceled)
		if d, ok := b.Deadline(); !ok || !d.Equal(now.Add(time.Second)) {
			t.Errorf("Deadline() = %v, %v under a parent with a deadline, want %v, true", d, ok, now.Add(time.Second))
		}
	})
}
