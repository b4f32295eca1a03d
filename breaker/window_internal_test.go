package breaker

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/telemetry"
)

// TestWindowCountsPast32Bits: a long window at a high rate holds more than
// 2^32 outcomes (a day at 50,000 calls a second). The counts must not wrap:
// wrapped, a few failures looked like most of the window and opened the
// breaker.
func TestWindowCountsPast32Bits(t *testing.T) {
	b, err := New(Config{FailureRatio: 0.5, MinCalls: 20, Window: 24 * time.Hour,
		Telemetry: telemetry.Settings{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	// Stands in for 2^32 - 10 successes in the last day.
	b.mu.Lock()
	b.win.buckets[b.win.head].successes = math.MaxUint32 - 9
	b.win.total.successes = math.MaxUint32 - 9
	b.mu.Unlock()
	ctx := context.Background()
	for range 20 {
		_ = b.Do(ctx, func(context.Context) error { return nil })
	}
	for range 20 {
		_ = b.Do(ctx, func(context.Context) error { return errors.New("boom") })
	}
	if s := b.State(); s != StateClosed {
		t.Errorf("after 2^32+10 successes and 20 failures the breaker is %v, want closed", s)
	}
	if c := b.Counts(); c.Successes != math.MaxUint32 || c.Requests != math.MaxUint32 || c.Failures != 20 {
		t.Errorf("Counts %+v, want successes and requests saturated at MaxUint32 and 20 failures", c)
	}
}
