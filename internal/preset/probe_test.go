package preset_test

import (
	"context"
	"errors"
	"math"
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

// TestStreamProbeSlot: a stream probe that never reports holds the
// half-open slot for OpenFor when the probe rule is off (as the breaker's
// own default), and the rule frees it after ProbeFailAfter when it is on;
// only then is a stream probe awaited as long as an attempt.
func TestStreamProbeSlot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failAfter time.Duration
		freedBy   time.Duration // the next probe is admitted after this
	}{
		{"rule on", 0, preset.DefaultBreakerProbeFailAfter + preset.DefaultBreakerOpenFor*11/10},
		{"rule off", math.MaxInt64, preset.DefaultBreakerOpenFor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := preset.New("adapter")
				c.SetBreaker(breaker.Config{ConsecutiveFailures: 1, ProbeFailAfter: tc.failAfter})
				p, _ := c.PerKey()
				p.Streams = true
				br, _, _, err := p.Policies("k")
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				done, _ := br.Allow(ctx)
				done(errors.New("boom"))
				time.Sleep(preset.DefaultBreakerOpenFor * 11 / 10) // sleep-ok: fake time inside a synctest bubble
				if _, err := br.Allow(ctx); err != nil {           // a silent probe stream, never reported
					t.Fatalf("probe: %v", err)
				}
				start := time.Now()
				for {
					time.Sleep(10 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
					if d, err := br.Allow(ctx); err == nil {
						d(nil)
						break
					}
					if time.Since(start) > time.Minute {
						t.Fatal("no probe admitted after a minute")
					}
				}
				if got := time.Since(start); got > tc.freedBy+20*time.Millisecond {
					t.Errorf("next probe admitted after %v, want within %v", got, tc.freedBy)
				}
			})
		})
	}
}
