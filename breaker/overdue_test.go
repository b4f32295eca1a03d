package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/breaker"
)

// overdueConfig: a probe fails after 200 ms without an answer, although its
// call may go on for up to 10 s.
var overdueConfig = breaker.Config{
	ConsecutiveFailures: 1,
	OpenFor:             time.Second,
	ProbeTimeout:        10 * time.Second,
	ProbeFailAfter:      200 * time.Millisecond,
}

// hang starts a call through b that blocks until release gets its result,
// and waits until it is blocked; wg.Wait waits for it to return.
func hang(t *testing.T, b *breaker.Breaker, wg *sync.WaitGroup) (release chan error) {
	t.Helper()
	release = make(chan error, 1)
	admitted := make(chan error, 1)
	wg.Go(func() {
		err := b.Do(context.Background(), func(context.Context) error {
			admitted <- nil
			return <-release
		})
		if errors.Is(err, breaker.ErrOpen) {
			admitted <- err
		}
	})
	synctest.Wait()
	select {
	case err := <-admitted:
		if err != nil {
			t.Fatalf("the hanging call was rejected: %v", err)
		}
	default:
		t.Fatal("the hanging call neither ran nor was rejected")
	}
	return release
}

// hungProbe makes a breaker with cfg (whose OpenFor is 1 s), trips it,
// waits out the open period and starts a probe that hangs until release
// gets its result.
func hungProbe(t *testing.T, cfg breaker.Config, wg *sync.WaitGroup) (b *breaker.Breaker, release chan error) {
	t.Helper()
	b = mustNew(t, cfg)
	tripOpen(t, b)
	pastOpen(time.Second)
	return b, hang(t, b, wg)
}

// TestOverdueProbeReopensAtOnce: a probe that hangs past ProbeFailAfter
// counts as a failure when the next call comes, so that the breaker probes
// again after OpenFor instead of after the hung call's own timeout; the
// hung call's failure, when it ends, changes nothing.
func TestOverdueProbeReopensAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		b, release := hungProbe(t, overdueConfig, &wg)

		time.Sleep(199 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		mustReject(t, b)
		wantState(t, b, breaker.StateHalfOpen) // the probe still has time
		time.Sleep(time.Millisecond)           // sleep-ok: fake time inside a synctest bubble
		mustReject(t, b)
		wantState(t, b, breaker.StateOpen) // overdue: a failure

		pastOpen(time.Second) // not the 10 s the hung call may take
		if err := b.Do(context.Background(), succeed); err != nil {
			t.Fatalf("second probe: got %v, want it to run", err)
		}
		wantState(t, b, breaker.StateClosed)
		release <- errBoom
		wg.Wait()
		wantState(t, b, breaker.StateClosed)
		wantCounts(t, b, breaker.Counts{})
	})
}

// TestOverdueProbeLateSuccessCloses: an overdue probe that succeeds after
// all closes the breaker, open or half-open: the dependency answered. A
// slow but healthy dependency is not shut out by a short ProbeFailAfter.
func TestOverdueProbeLateSuccessCloses(t *testing.T) {
	for _, state := range []breaker.State{breaker.StateOpen, breaker.StateHalfOpen} {
		t.Run(state.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var changes []string
				cfg := overdueConfig
				cfg.OnStateChange = func(_ string, from, to breaker.State) { changes = append(changes, from.String()+">"+to.String()) }
				var wg sync.WaitGroup
				b, release := hungProbe(t, cfg, &wg)
				time.Sleep(300 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				mustReject(t, b)
				wantState(t, b, breaker.StateOpen)
				if state == breaker.StateHalfOpen {
					pastOpen(time.Second)
					wantState(t, b, breaker.StateHalfOpen)
				}
				release <- nil
				wg.Wait()
				wantState(t, b, breaker.StateClosed)
				// From open, the late success moves to half-open first.
				want := "closed>open open>half-open half-open>open open>half-open half-open>closed"
				if got := strings.Join(changes, " "); got != want {
					t.Errorf("state changes %q, want %q", got, want)
				}
			})
		})
	}
}

// TestRecoveryAfterAHangOfAnyLength: with the presets' settings (open
// 0.5 s, probes failed after 0.25 s, awaited for 10 s), a dependency that
// swallows calls (each hangs until its 10 s timeout) for any length of time
// gets a call through within an open period plus ProbeFailAfter of healing,
// however many hung probes it holds by then.
func TestRecoveryAfterAHangOfAnyLength(t *testing.T) {
	for _, hole := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second, 13 * time.Second} {
		t.Run(hole.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: 500 * time.Millisecond,
					ProbeTimeout: 10 * time.Second, ProbeFailAfter: 250 * time.Millisecond})
				start := time.Now()
				heal := start.Add(hole)
				var mu sync.Mutex
				var firstOK time.Time
				var wg sync.WaitGroup
				for time.Since(start) < hole+2*time.Second {
					wg.Go(func() {
						_ = b.Do(context.Background(), func(context.Context) error {
							if time.Now().Before(heal) {
								time.Sleep(10 * time.Second) // sleep-ok: fake time inside a synctest bubble; swallowed until the call's timeout
								return errBoom
							}
							mu.Lock()
							if firstOK.IsZero() {
								firstOK = time.Now()
							}
							mu.Unlock()
							return nil
						})
					})
					time.Sleep(10 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				}
				wg.Wait()
				if firstOK.IsZero() {
					t.Fatal("no call got through after the heal")
				}
				if got := firstOK.Sub(heal); got > 550*time.Millisecond+250*time.Millisecond+20*time.Millisecond {
					t.Errorf("first call through %v after the heal, want within 0.82 s", got)
				}
			})
		})
	}
}

// TestSiblingProbesStayAwaited: with two probes in flight, the one past
// ProbeFailAfter reopens the breaker, and both stay awaited: the late
// success of each counts, so the breaker closes after both.
func TestSiblingProbesStayAwaited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := overdueConfig
		cfg.HalfOpenProbes = 2
		var wg sync.WaitGroup
		b, first := hungProbe(t, cfg, &wg)
		time.Sleep(150 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		second := hang(t, b, &wg)
		time.Sleep(60 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		mustReject(t, b)                  // the first is overdue now
		wantState(t, b, breaker.StateOpen)
		second <- nil // was not late yet: still counts
		synctest.Wait()
		wantState(t, b, breaker.StateHalfOpen)
		first <- nil
		wg.Wait()
		wantState(t, b, breaker.StateClosed)
	})
}

// TestSlowHealthyDependencyClosesBreakerOfSeveralProbes: calls that all
// succeed, each after longer than ProbeFailAfter, close a breaker that needs
// two or three probes (the probes reopen it, and their late successes close
// it), about as fast as a breaker that needs one.
func TestSlowHealthyDependencyClosesBreakerOfSeveralProbes(t *testing.T) {
	for _, probes := range []uint32{1, 2, 3} {
		t.Run(fmt.Sprint(probes), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, HalfOpenProbes: probes, OpenFor: 500 * time.Millisecond,
					ProbeTimeout: 10 * time.Second, ProbeFailAfter: 100 * time.Millisecond})
				tripOpen(t, b)
				start := time.Now()
				var wg sync.WaitGroup
				for time.Since(start) < 3*time.Second && b.State() != breaker.StateClosed {
					wg.Go(func() {
						_ = b.Do(context.Background(), func(context.Context) error {
							time.Sleep(300 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble; slow but healthy
							return nil
						})
					})
					time.Sleep(20 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				}
				wg.Wait()
				if got := time.Since(start); b.State() != breaker.StateClosed || got > 1200*time.Millisecond {
					t.Errorf("state %v after %v, want closed within 1.2 s", b.State(), got)
				}
			})
		})
	}
}

// TestReopenCountsFromTheProbesFailure: under sparse traffic, the open period
// that an overdue probe starts counts from when it went overdue, not from
// the next call, which is then admitted as a probe if that period is over.
func TestReopenCountsFromTheProbesFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		b, release := hungProbe(t, overdueConfig, &wg)
		time.Sleep(3 * time.Second) // sleep-ok: fake time inside a synctest bubble; no call meanwhile
		if err := b.Do(context.Background(), succeed); err != nil {
			t.Fatalf("first call 3 s after the probe went overdue: got %v, want it admitted as a probe", err)
		}
		wantState(t, b, breaker.StateClosed)
		release <- errBoom
		wg.Wait()
	})
}

// TestOverdueProbesForgottenBySetModeAndProbeTimeout: a probe that went
// overdue before an operator forced the breaker does not decide its state
// after; nor does one that reports after ProbeTimeout.
func TestOverdueProbesForgottenBySetModeAndProbeTimeout(t *testing.T) {
	for _, name := range []string{"forced open", "probe timeout"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var wg sync.WaitGroup
				b, release := hungProbe(t, overdueConfig, &wg)
				time.Sleep(300 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				mustReject(t, b)
				if name == "forced open" {
					if err := b.SetMode(breaker.ModeForcedOpen); err != nil {
						t.Fatal(err)
					}
					if err := b.SetMode(breaker.ModeNormal); err != nil {
						t.Fatal(err)
					}
					wantState(t, b, breaker.StateHalfOpen)
				} else {
					time.Sleep(overdueConfig.ProbeTimeout) // sleep-ok: fake time inside a synctest bubble
					wantState(t, b, breaker.StateHalfOpen)
				}
				release <- nil
				wg.Wait()
				wantState(t, b, breaker.StateHalfOpen)
			})
		})
	}
}

// TestProbeFailAfterNotShorterThanProbeTimeoutIsOff: the slot expires
// first, as without the rule.
func TestProbeFailAfterNotShorterThanProbeTimeoutIsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, ProbeTimeout: time.Second, ProbeFailAfter: time.Second})
		tripOpen(t, b)
		pastOpen(time.Second)
		var wg sync.WaitGroup
		release := hang(t, b, &wg)
		time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		// The slot expired: the next call is a probe, in half-open.
		if err := b.Do(context.Background(), succeed); err != nil {
			t.Fatalf("got %v, want the call to run as a probe", err)
		}
		wantState(t, b, breaker.StateClosed)
		release <- nil
		wg.Wait()
	})
}

// TestRetainAwaitsOverdueProbePastTheOpenPeriod: a breaker open past its
// period (half-open to whoever looks) that awaits an overdue probe is
// retained, whether or not State was called.
func TestRetainAwaitsOverdueProbePastTheOpenPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, ProbeTimeout: time.Minute, ProbeFailAfter: 200 * time.Millisecond})
		_ = b.Do(context.Background(), fail)
		time.Sleep(1200 * time.Millisecond)        // sleep-ok: fake time inside a synctest bubble
		done, err := b.Allow(context.Background()) // the probe hangs
		if err != nil {
			t.Fatal(err)
		}
		defer done(nil)
		time.Sleep(300 * time.Millisecond)      // sleep-ok: fake time; the probe is overdue
		_ = b.Do(context.Background(), succeed) // sees it overdue: open again
		time.Sleep(1200 * time.Millisecond)     // sleep-ok: fake time; past the open period
		if !b.Retain() {
			t.Errorf("open past its period, awaiting an overdue probe: Retain false, want true")
		}
	})
}

// TestFreshProbeFailureForgetsOverdueProbes: once a newer probe has
// failed, a probe that went overdue before it no longer closes the breaker
// when it succeeds late: the failure is newer news.
func TestFreshProbeFailureForgetsOverdueProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, ProbeTimeout: time.Minute, ProbeFailAfter: 200 * time.Millisecond})
		_ = b.Do(context.Background(), fail)
		time.Sleep(1200 * time.Millisecond)        // sleep-ok: fake time inside a synctest bubble
		late, err := b.Allow(context.Background()) // probe 1 hangs
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)      // sleep-ok: fake time; probe 1 overdue
		_ = b.Do(context.Background(), succeed) // sees it overdue: open again, rejected
		wantState(t, b, breaker.StateOpen)
		time.Sleep(1200 * time.Millisecond)  // sleep-ok: fake time; next open period over
		_ = b.Do(context.Background(), fail) // probe 2 fails: open again
		wantState(t, b, breaker.StateOpen)
		late(nil) // probe 1 succeeds late
		wantState(t, b, breaker.StateOpen)
	})
}
