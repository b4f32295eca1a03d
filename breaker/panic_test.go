package breaker_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/telemetry"
)

// A probe whose Config.IsFailure panics counts as a failure, as a panic in
// op does: its slot is not held until ProbeTimeout.
func TestPanickingIsFailureFreesTheProbe(t *testing.T) {
	for _, twoStep := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			b, err := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, ProbeTimeout: time.Hour,
				IsFailure: func(err error) bool {
					if err.Error() == "weird" {
						panic("classifier bug")
					}
					return true
				},
				Telemetry: telemetry.Settings{Disabled: true}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_ = b.Do(ctx, func(context.Context) error { return errors.New("boom") }) // opens
			time.Sleep(2 * time.Second)                                              // sleep-ok: fake time inside a synctest bubble
			func() {
				defer func() { _ = recover() }()
				if twoStep {
					done, err := b.Allow(ctx)
					if err != nil {
						t.Fatal(err)
					}
					done(errors.New("weird"))
					return
				}
				_ = b.Do(ctx, func(context.Context) error { return errors.New("weird") })
			}()
			if got := b.State(); got != breaker.StateOpen {
				t.Errorf("Allow %v: after a probe whose classifier panicked the breaker is %v, want open again", twoStep, got)
			}
			time.Sleep(2 * time.Second) // sleep-ok: fake time inside a synctest bubble
			if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
				t.Errorf("Allow %v: the next probe after the open period: %v, want admitted", twoStep, err)
			}
		})
	}
}

// A hook that panics while a call is admitted as a probe gives the slot
// back: the call never ran.
func TestPanickingHookAtAdmissionFreesTheProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		panicked := false
		b, err := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, ProbeTimeout: time.Hour,
			OnStateChange: func(_ string, _, to breaker.State) {
				if to == breaker.StateHalfOpen && !panicked {
					panicked = true
					panic("hook bug")
				}
			},
			Telemetry: telemetry.Settings{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_ = b.Do(ctx, func(context.Context) error { return errors.New("boom") })
		time.Sleep(2 * time.Second) // sleep-ok: fake time inside a synctest bubble
		ran := false
		func() {
			defer func() { _ = recover() }()
			_ = b.Do(ctx, func(context.Context) error { ran = true; return nil })
		}()
		if ran || !panicked {
			t.Fatalf("ran %v, hook panicked %v: want the hook's panic before the call", ran, panicked)
		}
		if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
			t.Errorf("the next call: %v, want it admitted as the probe", err)
		}
		if got := b.State(); got != breaker.StateClosed {
			t.Errorf("state %v after a successful probe, want closed", got)
		}
	})
}
