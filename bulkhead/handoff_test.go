package bulkhead_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/bulkhead"
)

// TestMaxWaitWithLongerCallerDeadline: a caller whose deadline is further
// away than MaxWait is still rejected at MaxWait, not left in the queue
// until its own deadline.
func TestMaxWaitWithLongerCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: 50 * time.Millisecond})
		h := hold(b)
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ran := false
		start := time.Now()
		err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("returned after %v, want MaxWait 50ms", got)
		}
		if !errors.Is(err, bulkhead.ErrFull) {
			t.Errorf("got %v, want an error matching ErrFull", err)
		}
		if ran {
			t.Errorf("op ran on a call that timed out in the queue")
		}
		if err := h.end(); err != nil {
			t.Errorf("holder: %v", err)
		}
		checkCounts(t, b, 0, 0)
	})
}

// errBeforeDone is a context whose Err reports cancellation as soon as
// cancelled is set, while its Done channel never closes: a waiter can be
// handed a slot and find its context ended, deterministically.
type errBeforeDone struct {
	context.Context
	cancelled atomic.Bool
}

func (c *errBeforeDone) Err() error {
	if c.cancelled.Load() {
		return context.Canceled
	}
	return nil
}

// TestSlotHandedToEndedWaiterIsReleased: a waiter handed a slot whose
// context has ended by then returns its context's error without running op
// and gives the slot back, so that the bulkhead does not lose capacity.
func TestSlotHandedToEndedWaiterIsReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		ctx := &errBeforeDone{Context: context.Background()}
		release := make(chan struct{})
		holderDone := make(chan error, 1)
		go func() {
			holderDone <- b.Do(context.Background(), func(context.Context) error {
				<-release
				ctx.cancelled.Store(true) // the waiter's context ends before the slot is handed over
				return nil
			})
		}()
		synctest.Wait()

		waiterDone := make(chan error, 1)
		ran := false
		go func() {
			waiterDone <- b.Do(ctx, func(context.Context) error { ran = true; return nil })
		}()
		synctest.Wait()
		checkCounts(t, b, 1, 1)

		close(release)
		if err := <-holderDone; err != nil {
			t.Errorf("holder: %v", err)
		}
		if err := <-waiterDone; err != context.Canceled {
			t.Errorf("waiter: got %v, want context.Canceled", err)
		}
		if ran {
			t.Errorf("op ran for a caller whose context had ended")
		}
		checkCounts(t, b, 0, 0) // the slot came back
	})
}
