package retry_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/retry"
)

func mustBudget(t *testing.T, cfg retry.BudgetConfig) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(cfg)
	if err != nil {
		t.Fatalf("NewBudget(%+v): %v", cfg, err)
	}
	return b
}

// tiny is a floor so small that it never yields a token in these tests.
const tiny = 1e-9

// Under a total outage, with MaxAttempts 3, the attempts that reach the
// dependency stay within (1 + Ratio) × calls + MinPerSecond × (seconds + 1),
// instead of 3 × calls.
func TestBudgetBoundsAttemptsUnderTotalFailure(t *testing.T) {
	for _, tc := range []struct {
		ratio, floor float64
	}{
		{0.1, 1},
		{0.2, 5},
		{0.05, tiny},
	} {
		synctest.Test(t, func(t *testing.T) {
			budget := mustBudget(t, retry.BudgetConfig{Ratio: tc.ratio, MinPerSecond: tc.floor})
			// Two policies (two methods of one dependency, say) share the budget.
			var policies [2]*retry.Retry
			for i := range policies {
				policies[i] = mustNew(t, retry.Config{MaxAttempts: 3, InitialDelay: 10 * time.Millisecond, Budget: budget})
			}
			var calls, attempts, budgetErrs atomic.Int64
			op := func(context.Context) error {
				attempts.Add(1)
				return errUnavailable
			}
			start := time.Now()
			const runFor = 20 * time.Second
			var wg sync.WaitGroup
			for w := range 20 {
				wg.Go(func() {
					p := policies[w%2]
					for i := 0; i < 10_000 && time.Since(start) < runFor; i++ {
						calls.Add(1)
						if err := p.Do(context.Background(), op); errors.Is(err, retry.ErrBudgetExhausted) {
							budgetErrs.Add(1)
						}
						time.Sleep(50 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
					}
				})
			}
			wg.Wait()
			seconds := time.Since(start).Seconds()
			c, a := float64(calls.Load()), float64(attempts.Load())
			// The floor starts with one second's worth of tokens.
			limit := (1+tc.ratio)*c + tc.floor*(seconds+1)
			t.Logf("ratio %v floor %v: %v calls, %v attempts in %.1fs; limit %.1f, without a budget %v", tc.ratio, tc.floor, c, a, seconds, limit, 3*c)
			if a > limit {
				t.Errorf("ratio %v floor %v: %v attempts for %v calls in %.1fs, want at most %.1f", tc.ratio, tc.floor, a, c, seconds, limit)
			}
			if a <= c || budgetErrs.Load() == 0 {
				t.Errorf("ratio %v floor %v: %v attempts, %v calls, %d budget errors: want some retries and some refused", tc.ratio, tc.floor, a, c, budgetErrs.Load())
			}
			st := budget.State()
			if got := float64(st.Allowed); got != a-c {
				t.Errorf("State().Allowed %v, want the %v retries made", got, a-c)
			}
			if st.Rejected != uint64(budgetErrs.Load()) {
				t.Errorf("State().Rejected %d, want %d", st.Rejected, budgetErrs.Load())
			}
		})
	}
}

func TestBudgetExhaustedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 0.1, MinPerSecond: tiny})
		r := mustNew(t, retry.Config{Name: "api", Budget: budget})
		s := always(errUnavailable)
		start := time.Now()
		err := r.Do(context.Background(), s.op)
		if s.calls() != 1 || time.Since(start) != 0 {
			t.Errorf("got %d calls after %v, want 1 call and no wait", s.calls(), time.Since(start))
		}
		for _, target := range []error{retry.ErrBudgetExhausted, errUnavailable, resilience.ErrRejected} {
			if !errors.Is(err, target) {
				t.Errorf("got %v, want it to match %v", err, target)
			}
		}
		if re := asError(t, err); re.Reason != retry.ReasonBudget || re.Attempts != 1 {
			t.Errorf("got %+v, want ReasonBudget after 1 attempt", re)
		}
		if !resilience.IsNeutral(err) {
			t.Errorf("a budget refusal must be neutral for a breaker")
		}
		if !strings.Contains(err.Error(), "budget") {
			t.Errorf("error text %q does not mention the budget", err)
		}
	})
}

func TestBudgetIsEarnedByCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 0.5, MinPerSecond: tiny})
		r := mustNew(t, retry.Config{MaxAttempts: 10, InitialDelay: retry.NoDelay, Budget: budget})
		for range 4 {
			_ = r.Do(context.Background(), failing(0, nil).op) // 4 × 0.5 = 2 tokens
		}
		if got := budget.State().Available; math.Abs(got-2) > 1e-6 {
			t.Errorf("Available %v after 4 calls at ratio 0.5, want 2", got)
		}
		s := always(errUnavailable) // deposits 0.5 more: 2 retries in all
		err := r.Do(context.Background(), s.op)
		if s.calls() != 3 || !errors.Is(err, retry.ErrBudgetExhausted) {
			t.Errorf("got (%v, %d calls), want ErrBudgetExhausted after 3 calls", err, s.calls())
		}
		if got := budget.State().Available; math.Abs(got-0.5) > 1e-6 {
			t.Errorf("Available %v, want 0.5 left", got)
		}
	})
}

func TestBudgetFloorLetsQuietClientRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1})
		r := mustNew(t, retry.Config{MaxAttempts: 10, InitialDelay: retry.NoDelay, Budget: budget})
		for _, step := range []struct {
			wait      time.Duration
			wantCalls int
		}{
			{0, 2},           // the floor starts with one second's worth: one retry
			{0, 1},           // spent
			{time.Second, 2}, // one token a second
			{0, 1},           // spent
			{500 * time.Millisecond, 1},
			{500 * time.Millisecond, 2},
			{time.Minute, 2}, // a quiet minute banks one retry, not sixty
		} {
			time.Sleep(step.wait) // sleep-ok: fake time inside a synctest bubble
			s := always(errUnavailable)
			_ = r.Do(context.Background(), s.op)
			if s.calls() != step.wantCalls {
				t.Errorf("after %v: %d calls, want %d", step.wait, s.calls(), step.wantCalls)
			}
		}
	})
}

func TestBudgetDepositsExpireAfterPeriod(t *testing.T) {
	for _, tc := range []struct {
		wait      time.Duration
		wantCalls int
	}{
		{5 * time.Second, 7},  // 5 earlier deposits + its own: 6 retries
		{11 * time.Second, 2}, // only its own deposit is left
	} {
		synctest.Test(t, func(t *testing.T) {
			budget := mustBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: tiny, Period: 10 * time.Second})
			r := mustNew(t, retry.Config{MaxAttempts: 10, InitialDelay: retry.NoDelay, Budget: budget})
			for range 5 {
				_ = r.Do(context.Background(), failing(0, nil).op)
			}
			time.Sleep(tc.wait) // sleep-ok: fake time inside a synctest bubble
			s := always(errUnavailable)
			_ = r.Do(context.Background(), s.op)
			if s.calls() != tc.wantCalls {
				t.Errorf("after %v: %d calls, want %d", tc.wait, s.calls(), tc.wantCalls)
			}
		})
	}
}

func TestBudgetSlotsRecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A steady trickle of calls for several periods: what is available
		// never exceeds Ratio × the calls of the last Period.
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: tiny, Period: time.Second})
		r := mustNew(t, retry.Config{Budget: budget})
		for i := range 500 {
			_ = r.Do(context.Background(), failing(0, nil).op)
			time.Sleep(10 * time.Millisecond) // 100 calls per Period // sleep-ok: fake time inside a synctest bubble
			if got := budget.State().Available; got > 100+1e-6 {
				t.Fatalf("call %d: %v available, want at most 100", i, got)
			}
		}
		if got := budget.State().Available; got < 90 {
			t.Errorf("%v available in steady state, want about 100", got)
		}
	})
}

func TestNilBudgetAllowsEveryRetry(t *testing.T) {
	var b *retry.Budget
	if st := b.State(); !math.IsInf(st.Available, 1) {
		t.Errorf("nil budget State %+v, want Available +Inf", st)
	}
	r := mustNew(t, retry.Config{MaxAttempts: 10, InitialDelay: retry.NoDelay, Budget: b})
	s := always(errUnavailable)
	_ = r.Do(context.Background(), s.op)
	if s.calls() != 10 {
		t.Errorf("got %d calls, want 10", s.calls())
	}
	if st := new(retry.Budget).State(); st != (retry.BudgetState{}) {
		t.Errorf("zero Budget State %+v, want zero", st)
	}
}

func TestBudgetState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBudget(t, retry.BudgetConfig{})
		st := b.State()
		want := retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 1, Period: 10 * time.Second}
		if st.Config != want || st.Available != 1 || st.Allowed != 0 || st.Rejected != 0 {
			t.Errorf("new budget State %+v, want config %+v and one second of the floor available", st, want)
		}
		time.Sleep(3 * time.Second) // sleep-ok: fake time inside a synctest bubble
		if got := b.State().Available; got != 1 {
			t.Errorf("Available %v after 3 quiet seconds, want 1 (the floor's burst)", got)
		}
	})
}

func TestNewBudgetRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  retry.BudgetConfig
		want []string
	}{
		{retry.BudgetConfig{Ratio: -0.1}, []string{"Ratio", "-0.1"}},
		{retry.BudgetConfig{Ratio: 1.5}, []string{"Ratio", "1.5"}},
		{retry.BudgetConfig{Ratio: math.NaN()}, []string{"Ratio", "NaN"}},
		{retry.BudgetConfig{MinPerSecond: -1}, []string{"MinPerSecond", "-1"}},
		{retry.BudgetConfig{MinPerSecond: math.Inf(1)}, []string{"MinPerSecond", "+Inf"}},
		{retry.BudgetConfig{MinPerSecond: math.NaN()}, []string{"MinPerSecond", "NaN"}},
		{retry.BudgetConfig{Period: -time.Second}, []string{"Period", "-1s"}},
	} {
		b, err := retry.NewBudget(tc.cfg)
		if err == nil || b != nil {
			t.Errorf("NewBudget(%+v): got (%v, %v), want an error", tc.cfg, b, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewBudget(%+v): error %q does not contain %q", tc.cfg, err, w)
			}
		}
	}
	// Extreme but valid values are accepted.
	for _, cfg := range []retry.BudgetConfig{{Ratio: 1, MinPerSecond: 1e300, Period: 1}, {Ratio: 1e-12, MinPerSecond: 1e-300}} {
		if _, err := retry.NewBudget(cfg); err != nil {
			t.Errorf("NewBudget(%+v): %v", cfg, err)
		}
	}
}

// TestBudgetRefundsRetryCancelledDuringWait: a retry that the budget
// allowed but that never ran, because the caller gave up during the backoff
// wait, gives its token back.
func TestBudgetRefundsRetryCancelledDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: tiny})
		r := mustNew(t, retry.Config{MaxAttempts: 2, InitialDelay: time.Second, MaxDelay: time.Second, Jitter: retry.NoJitter, Budget: budget})
		_ = r.Do(context.Background(), func(context.Context) error { return nil }) // earns a token
		before := budget.State()

		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(100 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			cancel()
		}()
		s := always(errUnavailable)
		if err := r.Do(ctx, s.op); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want the caller's cancellation", err)
		}
		after := budget.State()
		// The cancelled call deposited a token of its own; the retry's
		// token came back.
		if got, want := after.Available, before.Available+1; math.Abs(got-want) > 1e-6 {
			t.Errorf("Available %v after the cancelled wait, want %v", got, want)
		}
		if after.Allowed != before.Allowed {
			t.Errorf("Allowed %d, want %d: the retry never ran", after.Allowed, before.Allowed)
		}
	})
}

// TestBudgetFloorHoldsWholeTokens: the floor's bucket holds
// max(1, ⌈MinPerSecond⌉) tokens, as documented: with 1.01 a second, two
// retries at one instant after a quiet spell.
func TestBudgetFloorHoldsWholeTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBudget(t, retry.BudgetConfig{Ratio: 1e-7, MinPerSecond: 1.01}) // deposits round to nothing
		time.Sleep(time.Minute)                                                 // sleep-ok: fake time inside a synctest bubble
		r := mustNew(t, retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay, Budget: b})
		retried := 0
		for range 5 {
			s := always(errUnavailable)
			_ = r.Do(context.Background(), s.op)
			retried += int(s.calls()) - 1
		}
		if retried != 2 {
			t.Errorf("a floor of 1.01/s allowed %d retries at one instant after a quiet minute, want 2", retried)
		}
	})
}

// TestBudgetExhaustedCountsWholeTokens: a retry spends a whole token,
// earned or from the floor; two fractions that add up to more than one do
// not make a retry, and the status says the budget is exhausted.
func TestBudgetExhaustedCountsWholeTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBudget(t, retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 1})
		r := mustNew(t, retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay, Budget: b})
		_ = r.Do(context.Background(), always(errUnavailable).op) // its retry takes the floor's token
		for range 6 {
			_ = r.Do(context.Background(), failing(0, nil).op)
		}
		time.Sleep(900 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		st := r.Status().Retry.Budget
		err := r.Do(context.Background(), always(errUnavailable).op) // earned 0.8, floor 0.9
		if !errors.Is(err, retry.ErrBudgetExhausted) {
			t.Fatalf("got %v, want the retry refused (0.8 earned and 0.9 in the floor)", err)
		}
		if !st.Exhausted || !b.State().Exhausted {
			t.Errorf("status %+v said not exhausted (%.2f available), yet the retry was refused", st, st.Available)
		}
	})
}
