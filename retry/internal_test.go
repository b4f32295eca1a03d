package retry

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Not parallel: it replaces the package's newTimer.
func TestBackoffTimerStoppedOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var timers []*time.Timer
		newTimer = func(d time.Duration) *time.Timer {
			tm := time.NewTimer(d)
			timers = append(timers, tm)
			return tm
		}
		defer func() { newTimer = time.NewTimer }()

		r, err := New(Config{InitialDelay: time.Hour, Jitter: NoJitter})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		err = r.Do(ctx, func(context.Context) error { return errors.New("unavailable") })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if len(timers) != 1 {
			t.Fatalf("%d timers made, want 1", len(timers))
		}
		if timers[0].Stop() {
			t.Errorf("the backoff timer was still running after Do returned; want it stopped")
		}
	})
}

// Whatever the settings, a backoff delay is in [0, MaxDelay]: float
// overflow inside backoff/v4 never becomes a negative ("retry now") delay.
func TestNextDelayStaysInRange(t *testing.T) {
	for _, cfg := range []Config{
		{InitialDelay: math.MaxInt64, MaxDelay: math.MaxInt64},
		{InitialDelay: math.MaxInt64, MaxDelay: math.MaxInt64, Multiplier: math.MaxFloat64},
		{InitialDelay: math.MaxInt64 / 3, MaxDelay: math.MaxInt64, Jitter: 1},
		{InitialDelay: 1, MaxDelay: math.MaxInt64, Multiplier: 1e10, Jitter: 0.7},
		{InitialDelay: 1, MaxDelay: 1},
		{},
	} {
		r, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		// Fresh schedules: the first, jittered draws are the ones that can
		// overflow, each with a probability of about one half.
		for range 100 {
			var s backoff.ExponentialBackOff
			for i := range 5 {
				d := r.nextDelay(&s)
				if d < 0 || d > r.maxDelay {
					t.Fatalf("%+v: delay %d is %v, outside [0, %v]", cfg, i, d, r.maxDelay)
				}
			}
		}
	}
}

// If backoff/v4's float arithmetic overflows anyway (here forced by a schedule
// that New would not build), the delay becomes MaxDelay, not negative.
func TestNextDelayOverflowBecomesMaxDelay(t *testing.T) {
	r, err := New(Config{MaxDelay: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	r.schedule.InitialInterval = math.MaxInt64
	r.schedule.MaxInterval = math.MaxInt64
	for range 100 {
		var s backoff.ExponentialBackOff
		if d := r.nextDelay(&s); d < 0 {
			t.Fatalf("delay %v, want it in [0, MaxDelay]", d)
		}
	}
}
