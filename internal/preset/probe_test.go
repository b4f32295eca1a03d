package preset_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/internal/preset"
)

// TestPresetBreakerRecoversFromAHang: with the preset's defaults, a key
// whose dependency hung a probe just before it healed gets its traffic back
// within DefaultBreakerProbeFailAfter plus the longest open period (under
// 1 s), not after the hung probe's attempt timeout (10 s); and WithBreaker
// can turn the rule off by setting ProbeFailAfter to the attempt timeout.
func TestPresetBreakerRecoversFromAHang(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failAfter   time.Duration // WithBreaker's ProbeFailAfter; 0: the default
		wantWithin1 bool
	}{
		{"default", 0, true},
		{"off", preset.DefaultAttemptTimeout, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := preset.New("adapter")
				c.SetBreaker(breaker.Config{ProbeFailAfter: tc.failAfter})
				p, _ := c.PerKey()
				br, _, chain, err := p.Policies("k")
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				boom := errors.New("boom")
				for range preset.DefaultBreakerConsecutiveFailures {
					_ = chain.Do(ctx, func(context.Context) error { return boom })
				}
				if got := br.State(); got != breaker.StateOpen {
					t.Fatalf("after %d failures: state %v, want open", preset.DefaultBreakerConsecutiveFailures, got)
				}
				time.Sleep(preset.DefaultBreakerOpenFor * 11 / 10) // sleep-ok: fake time inside a synctest bubble

				// A probe hangs; the dependency heals just after.
				release := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					_ = chain.Do(ctx, func(ctx context.Context) error { <-release; return boom })
				})
				synctest.Wait()
				healed := time.Now()
				var recovered time.Duration
				for time.Since(healed) < 2*preset.DefaultAttemptTimeout {
					if chain.Do(ctx, func(context.Context) error { return nil }) == nil {
						recovered = time.Since(healed)
						break
					}
					time.Sleep(10 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				}
				if got := recovered > 0 && recovered < time.Second; got != tc.wantWithin1 {
					t.Errorf("a call succeeded %v after the heal; want within 1 s: %v", recovered, tc.wantWithin1)
				}
				close(release)
				wg.Wait()
			})
		})
	}
}
