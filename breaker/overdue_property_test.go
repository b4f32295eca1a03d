package breaker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/cascadeguard/resilience/breaker"
)

// TestProbeFailAfterProperties drives breakers configured with
// ProbeFailAfter (the presets' configuration, which the model of
// TestStateMachineProperties does not cover) with random calls that
// succeed, fail, or hang for a random time before they do, random clock
// steps and forced-open spells, then a black hole of random length (calls
// held until their timeout, then failed), in a synctest bubble, and then
// heals the dependency: from then on, every new call succeeds at once while the
// calls already running end as drawn. It checks:
//
//   - after every step: state changes are reported in order, and Retain is
//     true exactly when the breaker is not closed;
//   - after the heal, with a call every 10 ms: one gets through within the
//     longest open period plus ProbeFailAfter (and one call interval),
//     whatever the calls running at the heal do, and the breaker closes
//     within that plus the healed calls' latency and one call interval per
//     probe it needs, also when healed calls are slower than
//     ProbeFailAfter;
//   - every call returns (the bubble ends), and no call runs while the
//     breaker is forced open.
func TestProbeFailAfterProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, func(rt *rapid.T) {
			openFor := rapid.SampledFrom([]time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second}).Draw(rt, "openFor")
			failAfter := rapid.SampledFrom([]time.Duration{50 * time.Millisecond, 250 * time.Millisecond}).Draw(rt, "failAfter")
			var (
				hookMu   sync.Mutex
				last     = breaker.StateClosed
				hookErr  string
				closedAt time.Time // the last change to closed
			)
			cfg := breaker.Config{
				ConsecutiveFailures: uint32(rapid.IntRange(1, 3).Draw(rt, "consecutive")),
				HalfOpenProbes:      uint32(rapid.IntRange(1, 3).Draw(rt, "probes")),
				OpenFor:             openFor,
				ProbeTimeout:        rapid.SampledFrom([]time.Duration{0, 2 * time.Second, 10 * time.Second}).Draw(rt, "probeTimeout"),
				ProbeFailAfter:      failAfter,
				OnStateChange: func(_ string, from, to breaker.State) {
					hookMu.Lock()
					defer hookMu.Unlock()
					if from != last || from == to {
						hookErr = fmt.Sprintf("change %v→%v after a change to %v", from, to, last)
					}
					last = to
					if to == breaker.StateClosed {
						closedAt = time.Now()
					}
				},
			}
			b, err := breaker.New(cfg)
			if err != nil {
				rt.Fatal(err)
			}
			// After the heal, new calls succeed after healLatency: at once,
			// or slowly, longer than ProbeFailAfter (but within the time the
			// breaker awaits a probe, ProbeTimeout).
			probeTimeout := cfg.ProbeTimeout
			if probeTimeout == 0 {
				probeTimeout = openFor
			}
			latencies := []time.Duration{0}
			if 2*failAfter < probeTimeout {
				latencies = append(latencies, 2*failAfter)
			}
			healLatency := rapid.SampledFrom(latencies).Draw(rt, "heal latency")
			var (
				healed      atomic.Bool
				forced      atomic.Bool
				ranForced   atomic.Bool
				wg          sync.WaitGroup
				mu          sync.Mutex
				firstHealed time.Time
			)
			call := func(hang time.Duration, fail bool) {
				wg.Go(func() {
					_ = b.Do(context.Background(), func(context.Context) error {
						if forced.Load() {
							ranForced.Store(true)
						}
						if healed.Load() {
							mu.Lock()
							if firstHealed.IsZero() {
								firstHealed = time.Now()
							}
							mu.Unlock()
							time.Sleep(healLatency) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
							return nil
						}
						time.Sleep(hang) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
						if fail {
							return errBoom
						}
						return nil
					})
				})
			}
			// A failure is reported once every call has returned: calls
			// still sleeping when the bubble's main goroutine exits would
			// hide it behind synctest's deadlock report.
			var failure string
			fail := func(format string, args ...any) {
				if failure == "" {
					failure = fmt.Sprintf(format, args...)
				}
			}
			defer func() {
				wg.Wait()
				if failure != "" {
					rt.Fatal(failure)
				}
			}()
			check := func() {
				synctest.Wait() // every call is asleep or done: the state holds still
				hookMu.Lock()
				msg := hookErr
				hookMu.Unlock()
				if msg != "" {
					fail("%s", msg)
				}
				s := b.State()
				// Half-open: retained only while a probe is awaited.
				if got := b.Retain(); s != breaker.StateHalfOpen && got != (s != breaker.StateClosed) {
					fail("Retain() %v in %v", got, s)
				}
				if ranForced.Load() {
					fail("a call ran while the breaker was forced open")
				}
			}

			steps := rapid.IntRange(1, 80).Draw(rt, "steps")
			for range steps {
				switch rapid.IntRange(0, 9).Draw(rt, "action") {
				case 0, 1, 2:
					call(0, rapid.Bool().Draw(rt, "fail"))
				case 3, 4, 5:
					hang := time.Duration(rapid.IntRange(1, 120).Draw(rt, "hang tenths")) * 100 * time.Millisecond
					call(hang, rapid.IntRange(0, 3).Draw(rt, "outcome") > 0)
				case 6:
					synctest.Wait() // the calls started so far have been admitted or not
					if err := b.SetMode(breaker.ModeForcedOpen); err != nil {
						fail("%v", err)
					}
					forced.Store(true)
					time.Sleep(time.Duration(rapid.IntRange(0, 10).Draw(rt, "forced tenths")) * 100 * time.Millisecond) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
					forced.Store(false)
					if err := b.SetMode(breaker.ModeNormal); err != nil {
						fail("%v", err)
					}
				default:
					time.Sleep(time.Duration(rapid.IntRange(0, 30).Draw(rt, "sleep tenths")) * 100 * time.Millisecond) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
				}
				check()
			}

			// A black hole of random length before the heal: a call every
			// interval, each held until its timeout and then failed.
			hole := time.Duration(rapid.IntRange(0, 150).Draw(rt, "hole tenths")) * 100 * time.Millisecond
			every := rapid.SampledFrom([]time.Duration{10 * time.Millisecond, 100 * time.Millisecond}).Draw(rt, "hole interval")
			timeout := rapid.SampledFrom([]time.Duration{time.Second, 10 * time.Second}).Draw(rt, "hole timeout")
			for start := time.Now(); time.Since(start) < hole; {
				call(timeout, true)
				time.Sleep(every) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
			}
			check()

			heal := time.Now()
			healed.Store(true)
			closedAtHeal := b.State() == breaker.StateClosed
			bound := openFor + openFor/10 + failAfter + 10*time.Millisecond
			closeBound := bound + healLatency + time.Duration(cfg.HalfOpenProbes+1)*10*time.Millisecond
			for time.Since(heal) <= closeBound+time.Second {
				call(0, false)
				time.Sleep(10 * time.Millisecond) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
				check()
			}
			mu.Lock()
			got := firstHealed
			mu.Unlock()
			if got.IsZero() || got.Sub(heal) > bound {
				fail("first call through after the heal at %v, want within %v (zero: none)", got.Sub(heal), bound)
			}
			hookMu.Lock()
			closed := closedAt
			hookMu.Unlock()
			switch {
			case closedAtHeal:
			case closed.Before(heal):
				fail("not closed %v after the heal, want within %v (calls taking %v)", time.Since(heal), closeBound, healLatency)
			case closed.Sub(heal) > closeBound:
				fail("closed %v after the heal, want within %v (calls taking %v)", closed.Sub(heal), closeBound, healLatency)
			}
			wg.Wait()
			check()
		})
	})
}
