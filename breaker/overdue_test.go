package breaker_test

import (
	"context"
	"errors"
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

// TestOverdueProbeReopensAtOnce: a probe that hangs past ProbeFailAfter
// counts as a failure when the next call comes, so that the breaker probes
// again after OpenFor instead of after the hung call's own timeout; the
// hung call's failure, when it ends, changes nothing.
func TestOverdueProbeReopensAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, overdueConfig)
		tripOpen(t, b)
		pastOpen(time.Second)
		var wg sync.WaitGroup
		release := hang(t, b, &wg)

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
				b := mustNew(t, cfg)
				tripOpen(t, b)
				pastOpen(time.Second)
				var wg sync.WaitGroup
				release := hang(t, b, &wg)
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

// TestOverdueProbesAreBounded: at most MaxOverdueProbes hung probes are
// awaited; while that many are, the breaker lets no new probe through, so a
// dependency that hangs holds a bounded number of calls. One that ends
// (here with a failure) makes room, and so does an overdue probe that has
// not reported after ProbeTimeout.
func TestOverdueProbesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, overdueConfig)
		tripOpen(t, b)
		var wg sync.WaitGroup
		var releases []chan error
		for range breaker.MaxOverdueProbes {
			pastOpen(time.Second)
			releases = append(releases, hang(t, b, &wg))
			time.Sleep(200 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			mustReject(t, b)
			wantState(t, b, breaker.StateOpen)
		}
		pastOpen(time.Second)
		wantState(t, b, breaker.StateHalfOpen)
		mustReject(t, b) // four hung probes awaited: no fifth

		releases[0] <- errBoom // one ends, with a failure
		synctest.Wait()
		wantState(t, b, breaker.StateHalfOpen)
		releases = append(releases[1:], hang(t, b, &wg)) // room for a probe again

		// The oldest awaited probes started about 3.5 s ago: after
		// ProbeTimeout (10 s) they are forgotten.
		time.Sleep(200 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		mustReject(t, b)
		pastOpen(time.Second)
		mustReject(t, b)            // still four awaited
		time.Sleep(8 * time.Second) // sleep-ok: fake time inside a synctest bubble
		if err := b.Do(context.Background(), succeed); err != nil {
			t.Fatalf("after ProbeTimeout: got %v, want a probe to run", err)
		}
		wantState(t, b, breaker.StateClosed)
		for _, r := range releases {
			r <- nil
		}
		wg.Wait()
		wantState(t, b, breaker.StateClosed)
	})
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
