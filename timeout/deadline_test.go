package timeout_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/timeout"
)

// TestErrTimeoutMatchesDeadlineExceeded: ErrTimeout, and so the error of a
// Timeout whose deadline fired, match context.DeadlineExceeded even when op
// returned an error of its own rather than the context's.
func TestErrTimeoutMatchesDeadlineExceeded(t *testing.T) {
	if !errors.Is(timeout.ErrTimeout, context.DeadlineExceeded) {
		t.Errorf("errors.Is(ErrTimeout, context.DeadlineExceeded) = false, want true")
	}
	synctest.Test(t, func(t *testing.T) {
		to, err := timeout.New(timeout.Config{Duration: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		opErr := errors.New("read: i/o timeout")
		err = to.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return opErr
		})
		if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, opErr) {
			t.Fatalf("got %v, want an error matching ErrTimeout and op's error", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false, want true", err)
		}
	})
}
