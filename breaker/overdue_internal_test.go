package breaker

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestOverdueListIsBounded: however many probes hang, the breaker
// remembers at most maxOverdue of them.
func TestOverdueListIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := New(Config{ConsecutiveFailures: 1, OpenFor: 10 * time.Millisecond,
			ProbeTimeout: time.Hour, ProbeFailAfter: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_ = b.Do(ctx, func(context.Context) error { return context.DeadlineExceeded })
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 * maxOverdue {
			time.Sleep(12 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble; past the open period
			wg.Go(func() {
				_ = b.Do(ctx, func(context.Context) error { <-release; return nil })
			})
			synctest.Wait()
			time.Sleep(6 * time.Millisecond)                          // sleep-ok: fake time inside a synctest bubble; past ProbeFailAfter
			_ = b.Do(ctx, func(context.Context) error { return nil }) // reopens
		}
		b.mu.Lock()
		n := len(b.overdue)
		b.mu.Unlock()
		if n != maxOverdue {
			t.Errorf("%d overdue probes remembered after %d, want %d", n, 4*maxOverdue, maxOverdue)
		}
		close(release)
		wg.Wait()
	})
}
