package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

var errUnavailable = errors.New("unavailable")

// script is an op that fails as told and records when each attempt started.
type script struct {
	fail  func(attempt int) error // the error of attempt n (1-based); nil succeeds
	start time.Time
	at    []time.Duration
}

func newScript(fail func(attempt int) error) *script {
	return &script{fail: fail, start: time.Now()}
}

// failing fails the first n attempts with err, then succeeds.
func failing(n int, err error) *script {
	return newScript(func(attempt int) error {
		if attempt <= n {
			return err
		}
		return nil
	})
}

func always(err error) *script { return failing(math.MaxInt, err) }

func (s *script) op(context.Context) error {
	s.at = append(s.at, time.Since(s.start))
	return s.fail(len(s.at))
}

func (s *script) calls() int { return len(s.at) }

// gaps returns the time between consecutive attempts.
func (s *script) gaps() []time.Duration {
	var g []time.Duration
	for i := 1; i < len(s.at); i++ {
		g = append(g, s.at[i]-s.at[i-1])
	}
	return g
}

func mustNew(t *testing.T, cfg retry.Config) *retry.Retry {
	t.Helper()
	r, err := retry.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return r
}

// hintError carries a server's requested delay.
type hintError struct {
	d  time.Duration
	ok bool
}

func (e hintError) Error() string                     { return fmt.Sprintf("unavailable, retry after %v", e.d) }
func (e hintError) RetryAfter() (time.Duration, bool) { return e.d, e.ok }

var _ resilience.RetryAfterHint = hintError{}

// permanentFlag has a Permanent method, like an error from another package.
type permanentFlag bool

func (p permanentFlag) Error() string   { return fmt.Sprintf("permanent %v", bool(p)) }
func (p permanentFlag) Permanent() bool { return bool(p) }

func asError(t *testing.T, err error) *retry.Error {
	t.Helper()
	var re *retry.Error
	if !errors.As(err, &re) {
		t.Fatalf("got %v (%T), want a *retry.Error", err, err)
	}
	return re
}

func TestFirstAttemptSucceeds(t *testing.T) {
	r := mustNew(t, retry.Config{})
	s := failing(0, nil)
	if err := r.Do(context.Background(), s.op); err != nil || s.calls() != 1 {
		t.Errorf("got (%v, %d calls), want (nil, 1 call)", err, s.calls())
	}
}

func TestRetriesUntilSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{MaxAttempts: 3})
		s := failing(2, errUnavailable)
		if err := r.Do(context.Background(), s.op); err != nil || s.calls() != 3 {
			t.Errorf("got (%v, %d calls), want (nil, 3 calls)", err, s.calls())
		}
	})
}

func TestExhaustedErrorUnwrapsToLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{Name: "inventory", MaxAttempts: 4})
		errs := []error{errors.New("e1"), errors.New("e2"), errors.New("e3"), errors.New("e4")}
		s := newScript(func(n int) error { return errs[n-1] })
		err := r.Do(context.Background(), s.op)
		re := asError(t, err)
		if re.Attempts != 4 || re.Reason != retry.ReasonExhausted || re.Name != "inventory" || s.calls() != 4 {
			t.Errorf("got %+v after %d calls, want 4 attempts, ReasonExhausted, name inventory", re, s.calls())
		}
		if !errors.Is(err, errs[3]) || re.Err != errs[3] {
			t.Errorf("err %v does not unwrap to the last attempt's error", err)
		}
		if errors.Is(err, errs[0]) {
			t.Errorf("err %v matches the first attempt's error; want only the last", err)
		}
		if errors.Is(err, resilience.ErrRejected) || errors.Is(err, retry.ErrBudgetExhausted) {
			t.Errorf("exhausted attempts must not look like a rejection")
		}
		for _, want := range []string{"retry: inventory:", "4 attempts", "e4"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error text %q does not contain %q", err.Error(), want)
			}
		}
	})
}

func TestMaxAttempts(t *testing.T) {
	for _, tc := range []struct{ cfg, want int }{
		{0, retry.DefaultMaxAttempts},
		{1, 1},
		{2, 2},
		{retry.MaxAttemptsCap, retry.MaxAttemptsCap},
		{retry.MaxAttemptsCap + 1, retry.MaxAttemptsCap},
		{1000, retry.MaxAttemptsCap},
		{math.MaxInt, retry.MaxAttemptsCap},
	} {
		r := mustNew(t, retry.Config{MaxAttempts: tc.cfg, InitialDelay: retry.NoDelay})
		s := newScript(func(n int) error {
			if n > 100 { // a broken cap must fail the test, not hang it
				return retry.Permanent(errUnavailable)
			}
			return errUnavailable
		})
		err := r.Do(context.Background(), s.op)
		if s.calls() != tc.want || r.MaxAttempts() != tc.want {
			t.Errorf("MaxAttempts %d: got %d calls (MaxAttempts() %d), want %d", tc.cfg, s.calls(), r.MaxAttempts(), tc.want)
		}
		if tc.want == 1 {
			if err != errUnavailable {
				t.Errorf("MaxAttempts 1: got %v, want op's error unchanged", err)
			}
		} else if re := asError(t, err); re.Attempts != tc.want {
			t.Errorf("MaxAttempts %d: Error.Attempts %d, want %d", tc.cfg, re.Attempts, tc.want)
		}
	}
}

// errInner is what an inner retry returns after giving up.
func errInner(t *testing.T) error {
	inner := mustNew(t, retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay})
	return inner.Do(context.Background(), always(errUnavailable).op)
}

func TestNeverRetried(t *testing.T) {
	errOpen := resilience.NewRejection("breaker: open")
	retryAll := func(error) bool { return true }
	for _, tc := range []struct {
		name        string
		op          func(ctx context.Context, cancel context.CancelFunc) error
		shouldRetry func(error) bool
		want        func(error) bool // what the returned error must match
	}{
		{"caller canceled during the attempt", func(ctx context.Context, cancel context.CancelFunc) error {
			cancel()
			return ctx.Err()
		}, retryAll, func(err error) bool { return err == context.Canceled }},
		{"caller canceled, op returns another error", func(_ context.Context, cancel context.CancelFunc) error {
			cancel()
			return errUnavailable
		}, retryAll, func(err error) bool { return err == errUnavailable }},
		{"rejection", func(context.Context, context.CancelFunc) error { return errOpen },
			retryAll, func(err error) bool { return err == errOpen }},
		{"wrapped rejection", func(context.Context, context.CancelFunc) error {
			return fmt.Errorf("calling inventory: %w", errOpen)
		}, retryAll, func(err error) bool { return errors.Is(err, errOpen) }},
		{"budget exhausted below", func(context.Context, context.CancelFunc) error { return retry.ErrBudgetExhausted },
			nil, func(err error) bool { return err == retry.ErrBudgetExhausted }},
		{"Permanent", func(context.Context, context.CancelFunc) error { return retry.Permanent(errUnavailable) },
			retryAll, func(err error) bool { return errors.Is(err, errUnavailable) && retry.IsPermanent(err) }},
		{"Permanent() true method", func(context.Context, context.CancelFunc) error {
			return fmt.Errorf("wrapped: %w", permanentFlag(true))
		}, retryAll, func(err error) bool { return errors.Is(err, permanentFlag(true)) }},
		{"neutral client error by default", func(context.Context, context.CancelFunc) error {
			return resilience.MarkNeutral(errUnavailable)
		}, nil, func(err error) bool { return errors.Is(err, errUnavailable) }},
		{"ShouldRetry says no", func(context.Context, context.CancelFunc) error { return errUnavailable },
			func(error) bool { return false }, func(err error) bool { return err == errUnavailable }},
		{"an inner retry's give-up by default", func(context.Context, context.CancelFunc) error { return errInner(t) },
			nil, func(err error) bool { return errors.Is(err, errUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := mustNew(t, retry.Config{Name: "outer", MaxAttempts: 5, ShouldRetry: tc.shouldRetry})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				calls := 0
				start := time.Now()
				err := r.Do(ctx, func(ctx context.Context) error {
					calls++
					return tc.op(ctx, cancel)
				})
				if calls != 1 {
					t.Errorf("got %d calls, want 1", calls)
				}
				if !tc.want(err) {
					t.Errorf("got %v (%T), not the error expected", err, err)
				}
				var re *retry.Error
				if errors.As(err, &re) && re.Name == "outer" {
					t.Errorf("got %v: want the error returned as it was, not a *retry.Error of this policy", err)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("returned after %v, want at once", d)
				}
			})
		})
	}
}

func TestCallerDeadlineDuringAttemptIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		calls := 0
		err := r.Do(ctx, func(ctx context.Context) error {
			calls++
			<-ctx.Done()
			return ctx.Err()
		})
		if calls != 1 || err != context.DeadlineExceeded {
			t.Errorf("got (%v, %d calls), want (context.DeadlineExceeded, 1 call)", err, calls)
		}
	})
}

func TestRetryableByDefaultAndByShouldRetry(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		shouldRetry func(error) bool
		wantCalls   int
	}{
		{"plain error", errUnavailable, nil, 3},
		{"Permanent() false", permanentFlag(false), nil, 3},
		{"attempt deadline, caller alive", context.DeadlineExceeded, nil, 3},
		{"neutral when ShouldRetry says yes", resilience.MarkNeutral(errUnavailable), func(error) bool { return true }, 3},
		{"ShouldRetry picks", errUnavailable, func(err error) bool { return errors.Is(err, errUnavailable) }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, retry.Config{InitialDelay: retry.NoDelay, ShouldRetry: tc.shouldRetry})
			s := always(tc.err)
			err := r.Do(context.Background(), s.op)
			if s.calls() != tc.wantCalls || !errors.Is(err, tc.err) {
				t.Errorf("got (%v, %d calls), want %d calls and an error matching %v", err, s.calls(), tc.wantCalls, tc.err)
			}
		})
	}
}

func TestPerAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		perAttempt, err := timeout.New(timeout.Config{Duration: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r := mustNew(t, retry.Config{MaxAttempts: 3, Jitter: retry.NoJitter})
		p := resilience.Chain(r, perAttempt)
		calls := 0
		start := time.Now()
		err = p.Do(context.Background(), func(ctx context.Context) error {
			calls++
			<-ctx.Done() // a dependency that hangs
			return ctx.Err()
		})
		if calls != 3 {
			t.Errorf("got %d calls, want 3: a per-attempt timeout is retryable", calls)
		}
		if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want an error matching timeout.ErrTimeout", err)
		}
		// 3 × 50ms attempts + 100ms + 200ms backoff.
		if got, want := time.Since(start), 450*time.Millisecond; got != want {
			t.Errorf("took %v, want %v", got, want)
		}
	})
}

func TestNestedRetriesDoNotMultiply(t *testing.T) {
	inner := mustNew(t, retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
	outer := mustNew(t, retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
	s := always(errUnavailable)
	err := resilience.Chain(outer, inner).Do(context.Background(), s.op)
	if s.calls() != 3 {
		t.Errorf("got %d calls, want 3 (not 3 × 3)", s.calls())
	}
	if !errors.Is(err, errUnavailable) {
		t.Errorf("got %v, want it to match the last error", err)
	}
}

func TestPermanent(t *testing.T) {
	if retry.Permanent(nil) != nil {
		t.Errorf("Permanent(nil) != nil")
	}
	p := retry.Permanent(errUnavailable)
	if !errors.Is(p, errUnavailable) || p.Error() != errUnavailable.Error() {
		t.Errorf("Permanent(e) = %v: want it to match e and read like e", p)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errUnavailable, false},
		{p, true},
		{fmt.Errorf("a: %w", p), true},
		{errors.Join(errUnavailable, p), true},
		{errors.Join(errUnavailable, fmt.Errorf("b: %w", permanentFlag(true))), true},
		{permanentFlag(false), false},
		// The first error with a Permanent method decides, as with errors.As.
		{fmt.Errorf("%w %w", permanentFlag(false), p), false},
		{errors.Join(errUnavailable, errors.New("x")), false},
	} {
		if got := retry.IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{
			MaxAttempts: 7, InitialDelay: 100 * time.Millisecond, Multiplier: 2,
			MaxDelay: time.Second, Jitter: retry.NoJitter,
		})
		s := always(errUnavailable)
		_ = r.Do(context.Background(), s.op)
		ms := time.Millisecond
		want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
		if got := s.gaps(); !slices.Equal(got, want) {
			t.Errorf("delays %v, want %v", got, want)
		}
	})
}

// backoff/v4's MaxElapsedTime (15 minutes by default) would end a long
// schedule with backoff.Stop; attempts and deadlines bound a call instead.
func TestLongScheduleIsNotCutByElapsedTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{
			MaxAttempts: 5, InitialDelay: 10 * time.Minute, Multiplier: 1,
			MaxDelay: time.Hour, Jitter: retry.NoJitter,
		})
		s := always(errUnavailable)
		_ = r.Do(context.Background(), s.op)
		want := []time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
		if got := s.gaps(); !slices.Equal(got, want) {
			t.Errorf("delays %v, want %v", got, want)
		}
	})
}

func TestDefaultSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{Jitter: retry.NoJitter})
		s := always(errUnavailable)
		_ = r.Do(context.Background(), s.op)
		want := []time.Duration{retry.DefaultInitialDelay, 2 * retry.DefaultInitialDelay}
		if got := s.gaps(); !slices.Equal(got, want) {
			t.Errorf("delays %v, want %v", got, want)
		}
	})
}

func TestJitterSpreadsDelaysWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      retry.Config
		min, max time.Duration
	}{
		{"default full jitter", retry.Config{MaxAttempts: 2}, 0, 2 * retry.DefaultInitialDelay},
		{"jitter 0.5", retry.Config{MaxAttempts: 2, Jitter: 0.5}, 50 * time.Millisecond, 150 * time.Millisecond},
		{"at the cap", retry.Config{MaxAttempts: 10, InitialDelay: time.Second, MaxDelay: time.Second, Multiplier: 10}, 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := mustNew(t, tc.cfg)
				seen := map[time.Duration]bool{}
				atMax := 0
				for range 100 {
					s := always(errUnavailable)
					_ = r.Do(context.Background(), s.op)
					for _, g := range s.gaps() {
						// backoff/v4 may draw one nanosecond above the range.
						if g < tc.min || g > tc.max+time.Nanosecond {
							t.Fatalf("delay %v outside [%v, %v]", g, tc.min, tc.max)
						}
						seen[g] = true
						if g >= tc.max {
							atMax++
						}
					}
				}
				if len(seen) < 50 {
					t.Errorf("only %d distinct delays in 100 calls: not randomized", len(seen))
				}
				// Clamping jittered delays to the cap would synchronize the
				// clients it is meant to spread: many would wait exactly max.
				if atMax > 5 {
					t.Errorf("%d delays at %v or above: clients pile up at the cap", atMax, tc.max)
				}
			})
		})
	}
}

func TestBackoffStateIsPerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, retry.Config{MaxAttempts: 4, Jitter: retry.NoJitter})
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 30 * time.Millisecond) // overlapping calls // sleep-ok: fake time inside a synctest bubble
				s := always(errUnavailable)
				_ = r.Do(context.Background(), s.op)
				if got := s.gaps(); !slices.Equal(got, want) {
					t.Errorf("call %d: delays %v, want %v as if alone", i, got, want)
				}
			})
		}
		wg.Wait()
	})
}

func TestRetryAfterHint(t *testing.T) {
	const backoffDelay = 100 * time.Millisecond
	for _, tc := range []struct {
		name      string
		err       error
		noDelay   bool
		wantCalls int
		wantGap   time.Duration // between attempts 1 and 2
	}{
		{"hint above backoff", hintError{2 * time.Second, true}, false, 2, 2 * time.Second},
		{"hint below backoff", hintError{10 * time.Millisecond, true}, false, 2, backoffDelay},
		{"zero hint", hintError{0, true}, false, 2, backoffDelay},
		{"no usable hint", hintError{5 * time.Second, false}, false, 2, backoffDelay},
		{"negative hint ignored", hintError{-5 * time.Second, true}, false, 2, backoffDelay},
		{"most negative hint ignored", hintError{math.MinInt64, true}, false, 2, backoffDelay},
		{"hint at MaxRetryAfter", hintError{retry.DefaultMaxRetryAfter, true}, false, 2, retry.DefaultMaxRetryAfter},
		{"wrapped hint", fmt.Errorf("GET /: %w", hintError{3 * time.Second, true}), false, 2, 3 * time.Second},
		{"hint with NoDelay", hintError{time.Second, true}, true, 2, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := retry.Config{MaxAttempts: 2, Jitter: retry.NoJitter, InitialDelay: backoffDelay}
				if tc.noDelay {
					cfg.InitialDelay = retry.NoDelay
				}
				r := mustNew(t, cfg)
				s := failing(1, tc.err)
				if err := r.Do(context.Background(), s.op); err != nil {
					t.Errorf("got %v, want success on the second attempt", err)
				}
				if s.calls() != tc.wantCalls || s.gaps()[0] != tc.wantGap {
					t.Errorf("got %d calls, delays %v; want %d calls, first delay %v", s.calls(), s.gaps(), tc.wantCalls, tc.wantGap)
				}
			})
		})
	}
}

func TestRetryAfterAboveMaxStops(t *testing.T) {
	for _, hint := range []time.Duration{31 * time.Second, time.Hour, math.MaxInt64} {
		t.Run(hint.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := mustNew(t, retry.Config{MaxAttempts: 5, MaxRetryAfter: 30 * time.Second})
				herr := hintError{hint, true}
				s := always(herr)
				start := time.Now()
				err := r.Do(context.Background(), s.op)
				if s.calls() != 1 || time.Since(start) != 0 {
					t.Errorf("got %d calls after %v, want 1 call and an immediate return", s.calls(), time.Since(start))
				}
				if re := asError(t, err); re.Reason != retry.ReasonRetryAfter || re.Attempts != 1 {
					t.Errorf("got %+v, want ReasonRetryAfter after 1 attempt", re)
				}
				if !errors.Is(err, herr) {
					t.Errorf("got %v, want it to match the server's error", err)
				}
				if d, ok := resilience.RetryAfter(err); !ok || d != hint {
					t.Errorf("RetryAfter(err) = %v, %v: the hint must stay visible to the caller", d, ok)
				}
			})
		})
	}
}

// A huge delay, honoured because the limits allow it, must wait, never wrap
// around into "retry now".
func TestHugeDelaysNeverRetryNow(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  retry.Config
		err  error
	}{
		{"huge hint allowed", retry.Config{MaxRetryAfter: math.MaxInt64}, hintError{math.MaxInt64, true}},
		{"huge backoff", retry.Config{InitialDelay: math.MaxInt64, MaxDelay: math.MaxInt64, Multiplier: 1e300}, errUnavailable},
		{"huge backoff without jitter", retry.Config{InitialDelay: math.MaxInt64 / 2, MaxDelay: math.MaxInt64, Jitter: retry.NoJitter}, errUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := mustNew(t, tc.cfg)
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Hour, cancel)
				s := always(tc.err)
				start := time.Now()
				err := r.Do(ctx, s.op)
				if s.calls() != 1 || time.Since(start) != time.Hour {
					t.Errorf("got %d calls, returned after %v; want 1 call, waiting until the cancel at 1h", s.calls(), time.Since(start))
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("got %v, want context.Canceled", err)
				}
			})
		})
	}
}

func TestDeadlineAware(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		err      error
		// the attempts expected and when the call returns
		wantCalls int
		wantAt    time.Duration
	}{
		// attempts at 0 and 100ms; the next would start at 300ms.
		{"next start after deadline", 250 * time.Millisecond, errUnavailable, 2, 100 * time.Millisecond},
		{"next start exactly at deadline", 300 * time.Millisecond, errUnavailable, 2, 100 * time.Millisecond},
		{"next start just before deadline", 301 * time.Millisecond, errUnavailable, 3, 300 * time.Millisecond},
		{"hint past deadline", 5 * time.Second, hintError{10 * time.Second, true}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := mustNew(t, retry.Config{MaxAttempts: 3, Jitter: retry.NoJitter})
				ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
				defer cancel()
				s := always(tc.err)
				start := time.Now()
				err := r.Do(ctx, s.op)
				if s.calls() != tc.wantCalls || time.Since(start) != tc.wantAt {
					t.Errorf("got %d calls, returned at %v; want %d calls, return at %v", s.calls(), time.Since(start), tc.wantCalls, tc.wantAt)
				}
				re := asError(t, err)
				wantReason := retry.ReasonDeadline
				if tc.wantCalls == 3 {
					wantReason = retry.ReasonExhausted
				}
				if re.Reason != wantReason || !errors.Is(err, tc.err) {
					t.Errorf("got %v (reason %v), want reason %v and the last error", err, re.Reason, wantReason)
				}
				if wantReason == retry.ReasonDeadline && errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("got %v: the deadline has not passed, so the error must not claim it did", err)
				}
			})
		})
	}
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	for _, cause := range []struct {
		name string
		end  func() (context.Context, func())
		want error
	}{
		{"cancel", func() (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			return ctx, cancel
		}, context.Canceled},
		// A deadline the retry cannot know about: the parent is cancelled
		// through an AfterFunc, as an HTTP server does when a client leaves.
		{"parent ends", func() (context.Context, func()) {
			parent, cancelParent := context.WithCancel(context.Background())
			ctx, cancel := context.WithCancel(parent)
			time.AfterFunc(time.Second, cancelParent)
			return ctx, func() { cancel(); cancelParent() }
		}, context.Canceled},
	} {
		t.Run(cause.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := mustNew(t, retry.Config{InitialDelay: 10 * time.Second, Jitter: retry.NoJitter})
				ctx, cancel := cause.end()
				defer cancel()
				s := always(errUnavailable)
				start := time.Now()
				err := r.Do(ctx, s.op)
				if got := time.Since(start); got != time.Second || s.calls() != 1 {
					t.Errorf("returned after %v with %d calls, want 1s and 1 call", got, s.calls())
				}
				if !errors.Is(err, cause.want) || !errors.Is(err, errUnavailable) {
					t.Errorf("got %v, want it to match %v and the last error", err, cause.want)
				}
				if re := asError(t, err); re.Reason != retry.ReasonCanceled || re.Attempts != 1 {
					t.Errorf("got %+v, want ReasonCanceled after 1 attempt", re)
				}
			})
		})
	}
}

func TestNilAndZeroRetryRunOnce(t *testing.T) {
	for _, r := range []*retry.Retry{nil, new(retry.Retry)} {
		s := always(errUnavailable)
		if err := r.Do(context.Background(), s.op); err != errUnavailable || s.calls() != 1 {
			t.Errorf("%#v: got (%v, %d calls), want (op's error, 1 call)", r, err, s.calls())
		}
	}
}

func TestHappyPathAllocatesNothing(t *testing.T) {
	budget, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []retry.Config{{}, {Budget: budget}} {
		r := mustNew(t, cfg)
		ctx := context.Background()
		op := func(context.Context) error { return nil }
		if n := testing.AllocsPerRun(100, func() { _ = r.Do(ctx, op) }); n != 0 {
			t.Errorf("budget %v: %v allocs per successful call, want 0", cfg.Budget != nil, n)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  retry.Config
		want []string // substrings of the error: the field and the value
	}{
		{retry.Config{MaxAttempts: -1}, []string{"MaxAttempts", "-1"}},
		{retry.Config{InitialDelay: -time.Second}, []string{"InitialDelay", "-1s"}},
		{retry.Config{MaxDelay: -time.Second}, []string{"MaxDelay", "-1s"}},
		{retry.Config{InitialDelay: 2 * time.Second, MaxDelay: time.Second}, []string{"InitialDelay 2s", "MaxDelay 1s"}},
		{retry.Config{Multiplier: 0.5}, []string{"Multiplier", "0.5"}},
		{retry.Config{Multiplier: -2}, []string{"Multiplier", "-2"}},
		{retry.Config{Multiplier: math.NaN()}, []string{"Multiplier", "NaN"}},
		{retry.Config{Multiplier: math.Inf(1)}, []string{"Multiplier", "+Inf"}},
		{retry.Config{Jitter: 1.5}, []string{"Jitter", "1.5"}},
		{retry.Config{Jitter: -0.5}, []string{"Jitter", "-0.5"}},
		{retry.Config{Jitter: math.NaN()}, []string{"Jitter", "NaN"}},
		{retry.Config{MaxRetryAfter: -time.Second}, []string{"MaxRetryAfter", "-1s"}},
		{retry.Config{Budget: &retry.Budget{}}, []string{"Budget", "NewBudget"}},
	} {
		r, err := retry.New(tc.cfg)
		if err == nil || r != nil {
			t.Errorf("New(%+v): got (%v, %v), want an error", tc.cfg, r, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("New(%+v): error %q does not contain %q", tc.cfg, err, w)
			}
		}
	}
}

func TestNewDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cfg  retry.Config
			want []time.Duration
		}{
			// A default InitialDelay yields to an explicit smaller MaxDelay.
			{"MaxDelay below default InitialDelay", retry.Config{MaxDelay: 50 * time.Millisecond}, []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}},
			// A zero MaxDelay grows to a larger InitialDelay.
			{"InitialDelay above default MaxDelay", retry.Config{InitialDelay: time.Minute}, []time.Duration{time.Minute, time.Minute}},
			{"NoDelay", retry.Config{InitialDelay: retry.NoDelay}, []time.Duration{0, 0}},
		} {
			cfg := tc.cfg
			cfg.Jitter = retry.NoJitter
			r := mustNew(t, cfg)
			s := always(errUnavailable)
			_ = r.Do(context.Background(), s.op)
			if got := s.gaps(); !slices.Equal(got, tc.want) {
				t.Errorf("%s: delays %v, want %v", tc.name, got, tc.want)
			}
		}
		r := mustNew(t, retry.Config{})
		if r.Name() != "retry" || r.MaxAttempts() != 3 || r.Budget() != nil {
			t.Errorf("defaults: name %q, MaxAttempts %d, budget %v", r.Name(), r.MaxAttempts(), r.Budget())
		}
	})
}

func TestReasonString(t *testing.T) {
	for r, want := range map[retry.Reason]string{
		retry.ReasonExhausted:  "exhausted",
		retry.ReasonBudget:     "budget",
		retry.ReasonDeadline:   "deadline",
		retry.ReasonRetryAfter: "retry_after",
		retry.ReasonCanceled:   "canceled",
		retry.Reason(0):        "Reason(0)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

func TestNilRetryAccessors(t *testing.T) {
	var r *retry.Retry
	if r.Name() != "" || r.MaxAttempts() != 1 || r.Budget() != nil {
		t.Errorf("nil *Retry: Name %q, MaxAttempts %d, Budget %v; want \"\", 1 (it runs op once), nil", r.Name(), r.MaxAttempts(), r.Budget())
	}
}
