package breaker_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/telemetry"
)

// TestUnbuiltBreakerReturnsErrors: a zero Breaker and a nil *Breaker (what
// New returns with its error) refuse calls with an error that says they
// were not built with New, without running op and without panicking, and
// their read methods report an empty breaker. SetMode must not make a zero
// Breaker usable either.
func TestUnbuiltBreakerReturnsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    *breaker.Breaker
	}{
		{"zero", &breaker.Breaker{}},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			for i := range 2 { // again after SetMode
				ran := false
				err := b.Do(context.Background(), func(context.Context) error { ran = true; return nil })
				if err == nil || ran || !strings.Contains(err.Error(), "breaker: Breaker not built with New") {
					t.Errorf("Do #%d: got err %v, op ran %v; want a not-built-with-New error and op not run", i, err, ran)
				}
				if errors.Is(err, breaker.ErrOpen) {
					t.Errorf("Do #%d: got %v, matching ErrOpen; want no rejection by an open breaker", i, err)
				}
				done, err := b.Allow(context.Background())
				if done != nil || err == nil || !strings.Contains(err.Error(), "not built with New") {
					t.Errorf("Allow #%d: got (done %v, %v), want (nil, a not-built-with-New error)", i, done != nil, err)
				}
				if err := b.SetMode(breaker.ModeDisabled); err == nil || !strings.Contains(err.Error(), "not built with New") {
					t.Errorf("SetMode #%d: got %v, want a not-built-with-New error", i, err)
				}
			}
			if got := b.State(); got != breaker.StateClosed {
				t.Errorf("State: got %v, want %v", got, breaker.StateClosed)
			}
			if got := b.Mode(); got != breaker.ModeNormal {
				t.Errorf("Mode: got %v, want %v", got, breaker.ModeNormal)
			}
			if got := b.Counts(); got != (breaker.Counts{}) {
				t.Errorf("Counts: got %+v, want zero", got)
			}
			if b.Retain() {
				t.Errorf("Retain: got true, want false")
			}
			if got := b.Name(); got != "" {
				t.Errorf("Name: got %q, want empty", got)
			}
			st := b.Status()
			if st.Kind != "breaker" || st.Name != "" || st.Breaker == nil || *st.Breaker != (telemetry.BreakerStatus{}) {
				t.Errorf("Status: got %+v (breaker %+v), want kind breaker and an empty breaker status", st, st.Breaker)
			}
		})
	}
}

// TestNewFailureGivesUnbuiltBreaker: the nil *Breaker that New returns for a
// bad Config is what TestUnbuiltBreakerReturnsErrors covers.
func TestNewFailureGivesUnbuiltBreaker(t *testing.T) {
	b, err := breaker.New(breaker.Config{FailureRatio: 2})
	if err == nil || b != nil {
		t.Fatalf("New: got (%v, %v), want (nil, an error)", b, err)
	}
	if err := b.Do(context.Background(), succeed); err == nil {
		t.Errorf("Do on New's nil result: got nil, want an error")
	}
}

// TestNoProbeFailAfter: NoProbeFailAfter is the longest Duration and turns
// the probe rule off: a hung probe keeps the breaker half-open until its
// slot expires after ProbeTimeout, where a shorter ProbeFailAfter reopens
// it.
func TestNoProbeFailAfter(t *testing.T) {
	if got := breaker.NoProbeFailAfter; got != math.MaxInt64 {
		t.Fatalf("NoProbeFailAfter: got %d, want math.MaxInt64", int64(got))
	}
	for _, tc := range []struct {
		name           string
		probeTimeout   time.Duration
		probeFailAfter time.Duration
		want           breaker.State // 2.5 s after the probe started
	}{
		{"rule on", 10 * time.Second, 2 * time.Second, breaker.StateOpen},
		{"NoProbeFailAfter", 10 * time.Second, breaker.NoProbeFailAfter, breaker.StateHalfOpen},
		{"NoProbeFailAfter with the longest ProbeTimeout", breaker.NoProbeFailAfter, breaker.NoProbeFailAfter, breaker.StateHalfOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var wg sync.WaitGroup
				b, release := hungProbe(t, breaker.Config{
					ConsecutiveFailures: 1,
					OpenFor:             time.Second,
					ProbeTimeout:        tc.probeTimeout,
					ProbeFailAfter:      tc.probeFailAfter,
				}, &wg)
				defer func() {
					release <- nil
					wg.Wait()
				}()
				// With the rule on, the breaker reopened at 2 s for about
				// 1 s.
				time.Sleep(2500 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				mustReject(t, b)                    // the probe slot is taken, or the breaker is open again
				if got := b.State(); got != tc.want {
					t.Errorf("state 2.5 s into a hung probe: got %v, want %v", got, tc.want)
				}
			})
		})
	}
}
