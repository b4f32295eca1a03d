package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"pgregory.net/rapid"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
)

// TestAgreesWithGobreaker drives a Breaker and a gobreaker v2
// CircuitBreaker configured alike with the same random sequence of
// outcomes and clock jumps, and checks after every step that they admit the
// same calls, are in the same state and hold the same counts. It is what
// "the state machine follows gobreaker" means: generations, a bucketed
// rolling window aligned on the state change, half-open admitting
// MaxRequests probes and closing when all succeeded, excluded (neutral)
// outcomes freeing a probe slot.
//
// The sequence is of calls that complete at once, one at a time, so that
// gobreaker's known traps (hooks under its lock, probes that never report)
// do not come into play, and the clock moves in steps that cannot fall
// within the breaker's ±10 % jitter of the open period.
func TestAgreesWithGobreaker(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, func(rt *rapid.T) {
			const openFor = 10 * time.Second
			const window = 10 * time.Second // buckets of 1 s in both
			probes := rapid.Uint32Range(1, 3).Draw(rt, "probes")
			cfg := breaker.Config{HalfOpenProbes: probes, OpenFor: openFor, Window: window}
			st := gobreaker.Settings{
				MaxRequests: probes,
				Timeout:     openFor,
				IsExcluded:  resilience.IsNeutral,
			}
			// gobreaker's ConsecutiveFailures is approximate over a
			// rolling window, so the rules are compared apart: the
			// consecutive rule with no window, the ratio rule with one.
			windowed := rapid.Bool().Draw(rt, "windowed")
			if windowed {
				ratio := rapid.SampledFrom([]float64{0.25, 0.5, 1}).Draw(rt, "ratio")
				minCalls := rapid.Uint32Range(1, 6).Draw(rt, "minCalls")
				cfg.FailureRatio, cfg.MinCalls = ratio, minCalls
				st.Interval, st.BucketPeriod = window, window/10
				st.ReadyToTrip = func(c gobreaker.Counts) bool {
					calls := c.TotalSuccesses + c.TotalFailures
					return calls >= minCalls && float64(c.TotalFailures) >= ratio*float64(calls)
				}
			} else {
				n := rapid.Uint32Range(1, 5).Draw(rt, "consecutive")
				cfg.ConsecutiveFailures = n
				cfg.Window = 1 << 62 // gobreaker with no Interval never clears its counts
				st.ReadyToTrip = func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= n }
			}
			b, err := breaker.New(cfg)
			if err != nil {
				rt.Fatal(err)
			}
			cb := gobreaker.NewCircuitBreaker[struct{}](st)
			ctx := context.Background()

			steps := rapid.IntRange(1, 200).Draw(rt, "steps")
			for i := range steps {
				if b.State() == breaker.StateOpen {
					// Only jumps well past the jittered open period.
					if rapid.Bool().Draw(rt, "wait out open") {
						time.Sleep(openFor * 12 / 10) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
					}
				} else if rapid.IntRange(0, 3).Draw(rt, "tick?") == 0 {
					time.Sleep(time.Duration(rapid.IntRange(0, 30).Draw(rt, "tenths")) * 100 * time.Millisecond) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
				}

				var opErr error
				switch rapid.IntRange(0, 2).Draw(rt, "outcome") {
				case 1:
					opErr = errBoom
				case 2:
					opErr = resilience.MarkNeutral(errBoom)
				}
				errA := b.Do(ctx, func(context.Context) error { return opErr })
				_, errB := cb.Execute(func() (struct{}, error) { return struct{}{}, opErr })
				rejectedA := errors.Is(errA, breaker.ErrOpen)
				rejectedB := errors.Is(errB, gobreaker.ErrOpenState) || errors.Is(errB, gobreaker.ErrTooManyRequests)
				if rejectedA != rejectedB {
					rt.Fatalf("step %d: breaker rejected=%v (%v), gobreaker rejected=%v (%v)", i, rejectedA, errA, rejectedB, errB)
				}

				sa, sb := b.State(), cb.State()
				if int(sa) != int(sb) {
					rt.Fatalf("step %d: breaker %v, gobreaker %v", i, sa, sb)
				}
				ca, cc := b.Counts(), cb.Counts()
				if ca.Successes != cc.TotalSuccesses || ca.Failures != cc.TotalFailures ||
					ca.Neutral != cc.TotalExclusions || ca.Requests != cc.Requests {
					rt.Fatalf("step %d in %v: breaker counts %+v, gobreaker %+v", i, sa, ca, cc)
				}
				if !windowed && ca.ConsecutiveFailures != cc.ConsecutiveFailures {
					rt.Fatalf("step %d: breaker consecutive failures %d, gobreaker %d", i, ca.ConsecutiveFailures, cc.ConsecutiveFailures)
				}
			}
		})
	})
}
