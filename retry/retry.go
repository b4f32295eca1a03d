// Package retry provides a policy that runs a failed call again, in a way
// that helps a failing dependency recover instead of burying it.
//
// Retries are where resilience libraries do the most harm: a dependency that
// is already failing receives every request several times. A [Retry]
// therefore retries conservatively:
//
//   - at most [MaxAttemptsCap] attempts per call, whatever the configuration;
//   - exponential backoff with jitter (github.com/cenkalti/backoff/v4's
//     schedule), so that clients that failed together do not retry together;
//   - never the caller's own cancellation, never a rejection by another policy
//     (an open circuit breaker or a full bulkhead means "stop", see
//     [resilience.ErrRejected]), never an error marked [Permanent], and by
//     default never a client error ([resilience.IsNeutral]) nor an error that
//     an inner Retry already gave up on (nested retries multiply load);
//   - a server's requested delay ([resilience.RetryAfterHint]) is honoured up
//     to [Config.MaxRetryAfter] and never shortened by the backoff;
//   - no sleep that would end past the caller's deadline;
//   - an optional [Budget], one per dependency (it may serve several
//     policies that call it), caps retries at a ratio
//     of the calls made, so a total outage costs the dependency little more
//     than the calls themselves.
//
// Place the retry outside the circuit breaker, so that each attempt counts
// against the breaker and an open breaker stops the retries at once:
//
//	overall timeout → retry → breaker → bulkhead → per-attempt timeout → call
package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// Defaults for the zero fields of a [Config], and the hard cap on attempts.
const (
	DefaultMaxAttempts   = 3
	DefaultInitialDelay  = 100 * time.Millisecond
	DefaultMaxDelay      = 5 * time.Second
	DefaultMultiplier    = 2.0
	DefaultJitter        = 1.0
	DefaultMaxRetryAfter = 30 * time.Second

	// MaxAttemptsCap bounds the attempts of one call whatever
	// Config.MaxAttempts says: a larger value is lowered to it.
	MaxAttemptsCap = 10
)

// NoDelay, as [Config.InitialDelay], makes retries start at once: the backoff
// schedule is all zeros (a server's requested delay is still honoured).
const NoDelay time.Duration = -1

// NoJitter, as [Config.Jitter], turns randomization off: every call then
// follows the same schedule InitialDelay, InitialDelay×Multiplier, …
const NoJitter float64 = -1

// Config configures a [Retry]. The zero value is a sensible default: 3
// attempts, delays from about 100ms doubling up to at most 5s with full
// jitter, server hints honoured up to 30s, no budget. A Config holds no state
// and may be copied (the Budget pointer is shared, as intended).
type Config struct {
	// Name identifies the policy in errors and telemetry. Empty means "retry".
	Name string

	// MaxAttempts is the number of attempts per call, the first included.
	// Zero means DefaultMaxAttempts (3); 1 turns retries off (op's error is
	// returned unchanged); values above MaxAttemptsCap (10) are lowered to
	// it. Negative is an error.
	MaxAttempts int

	// InitialDelay is the backoff interval before the first retry; each later
	// interval is the previous one times Multiplier. With jitter the actual
	// delay is drawn around the interval (see Jitter). Zero means
	// DefaultInitialDelay (100ms); NoDelay means no backoff at all. Other
	// negative values are an error.
	InitialDelay time.Duration

	// MaxDelay bounds every backoff delay, jitter included: the interval
	// (InitialDelay included) is kept at or below MaxDelay/(1+Jitter), so
	// that jittered delays spread evenly below MaxDelay instead of piling up
	// at the cap, where clients would retry in lockstep again. It does not
	// bound a server's requested delay (see MaxRetryAfter). Zero means
	// DefaultMaxDelay (5s), or InitialDelay if that is larger. Negative, or
	// smaller than a positive InitialDelay, is an error.
	MaxDelay time.Duration

	// Multiplier is the growth factor of the interval between retries. Zero
	// means DefaultMultiplier (2). Less than 1, or not finite, is an error.
	Multiplier float64

	// Jitter is backoff/v4's RandomizationFactor: each delay is drawn
	// uniformly from [d×(1−Jitter), d×(1+Jitter)] around the interval d.
	// Zero means DefaultJitter, 1: "full jitter", delays drawn from [0, 2d],
	// so clients that failed at the same moment retry spread over the whole
	// window. NoJitter turns randomization off. Other values outside [0, 1]
	// are an error.
	Jitter float64

	// MaxRetryAfter is the longest delay requested by a server (an error
	// implementing resilience.RetryAfterHint, such as an HTTP Retry-After or
	// gRPC pushback) that is honoured. The next delay is the larger of the
	// backoff delay and the hint. A hint above MaxRetryAfter is not clamped:
	// the call stops retrying at once and fails with an *Error whose Reason
	// is ReasonRetryAfter, because retrying sooner than the server asked
	// would only add to its load. Negative hints are ignored. Zero means
	// DefaultMaxRetryAfter (30s); negative is an error.
	MaxRetryAfter time.Duration

	// ShouldRetry, if not nil, decides whether an error may be retried,
	// replacing the default classification (retry every error except
	// neutral ones, see resilience.IsNeutral, and those an inner Retry gave
	// up on). It is never asked about errors that are never retried: the
	// caller's context being done, rejections (resilience.ErrRejected) and
	// permanent errors. It must be safe for concurrent use.
	ShouldRetry func(error) bool

	// Budget, if not nil, limits retries to a fraction of calls. Give each
	// dependency its own: a budget shared by the policies of several hosts
	// lets a busy healthy host's calls pay for retries to a failing one.
	Budget *Budget

	// Telemetry configures the policy's metrics, span events and logs. The
	// zero value reports to the global OpenTelemetry providers; see package
	// telemetry and its INSTRUMENTS.md.
	Telemetry telemetry.Settings
}

// Retry is a [resilience.Policy] that runs a failed call again, with
// backoff, up to a number of attempts. Each call has its own backoff state,
// so a Retry is safe for concurrent use. A call whose first attempt succeeds
// allocates nothing.
//
// Do sleeps in the caller's goroutine and starts none of its own.
//
// Build a Retry with [New]. The zero value, and a nil *Retry, run op once
// and return its error unchanged.
type Retry struct {
	name          string
	maxAttempts   int
	noDelay       bool
	schedule      backoff.ExponentialBackOff // a template, copied for each call
	maxDelay      time.Duration
	maxRetryAfter time.Duration
	shouldRetry   func(error) bool
	budget        *Budget
	key           string            // Config.Telemetry.Key, sanitized, for Status
	rec           *observe.Recorder // nil when telemetry is disabled, and in the zero Retry
}

var (
	_ resilience.Policy        = (*Retry)(nil)
	_ telemetry.StatusReporter = (*Retry)(nil)
)

// New returns a Retry for cfg, or an error naming the bad field and value.
func New(cfg Config) (*Retry, error) {
	r := &Retry{
		name:          cfg.Name,
		maxAttempts:   cfg.MaxAttempts,
		maxDelay:      cfg.MaxDelay,
		maxRetryAfter: cfg.MaxRetryAfter,
		shouldRetry:   cfg.ShouldRetry,
		budget:        cfg.Budget,
	}
	if r.name == "" {
		r.name = "retry"
	}
	if r.budget != nil && !r.budget.valid() {
		return nil, fmt.Errorf("retry: Budget %p was not made by NewBudget", r.budget)
	}

	switch {
	case r.maxAttempts < 0:
		return nil, fmt.Errorf("retry: MaxAttempts %d must not be negative", cfg.MaxAttempts)
	case r.maxAttempts == 0:
		r.maxAttempts = DefaultMaxAttempts
	case r.maxAttempts > MaxAttemptsCap:
		r.maxAttempts = MaxAttemptsCap
	}

	initial := cfg.InitialDelay
	switch {
	case initial == NoDelay:
		r.noDelay = true
	case initial < 0:
		return nil, fmt.Errorf("retry: InitialDelay %v must not be negative (use NoDelay for none)", initial)
	case initial == 0:
		initial = DefaultInitialDelay
	}

	switch {
	case r.maxDelay < 0:
		return nil, fmt.Errorf("retry: MaxDelay %v must not be negative", r.maxDelay)
	case r.maxDelay == 0:
		r.maxDelay = max(DefaultMaxDelay, initial)
	case !r.noDelay && cfg.InitialDelay > r.maxDelay:
		return nil, fmt.Errorf("retry: InitialDelay %v exceeds MaxDelay %v", cfg.InitialDelay, r.maxDelay)
	case initial > r.maxDelay:
		initial = r.maxDelay // a default InitialDelay yields to an explicit, smaller MaxDelay
	}

	mult := cfg.Multiplier
	switch {
	case mult == 0:
		mult = DefaultMultiplier
	case !(mult >= 1) || math.IsInf(mult, 1): // !(>=) also catches NaN
		return nil, fmt.Errorf("retry: Multiplier %v must be a finite number of at least 1", mult)
	}

	jitter := cfg.Jitter
	switch {
	case jitter == 0:
		jitter = DefaultJitter
	case jitter == NoJitter:
		jitter = 0
	case !(jitter >= 0 && jitter <= 1):
		return nil, fmt.Errorf("retry: Jitter %v is outside [0, 1] (use NoJitter for none)", jitter)
	}

	switch {
	case r.maxRetryAfter < 0:
		return nil, fmt.Errorf("retry: MaxRetryAfter %v must not be negative", r.maxRetryAfter)
	case r.maxRetryAfter == 0:
		r.maxRetryAfter = DefaultMaxRetryAfter
	}

	// The interval stops at MaxDelay/(1+jitter) so that a jittered delay at
	// the cap is still spread evenly up to MaxDelay rather than clamped to it.
	maxInterval := r.maxDelay
	if f := float64(r.maxDelay) / (1 + jitter); f < float64(r.maxDelay) {
		// Compared in floats first: converting a float of 2⁶³ back to a
		// Duration would overflow into a negative value.
		maxInterval = max(time.Duration(f), 1)
	}
	r.schedule = backoff.ExponentialBackOff{
		InitialInterval:     min(initial, maxInterval),
		RandomizationFactor: jitter,
		Multiplier:          mult,
		MaxInterval:         maxInterval,
		MaxElapsedTime:      0, // never backoff.Stop: attempts and deadlines bound a call
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	r.rec = observe.NewRecorder(observe.KindRetry, r.name, cfg.Telemetry)
	r.key = observe.StoredKey(cfg.Telemetry.Key)
	return r, nil
}

// Name returns the policy's name ("" for a nil *Retry).
func (r *Retry) Name() string {
	if r == nil {
		return ""
	}
	return r.name
}

// MaxAttempts returns the number of attempts per call in effect, after
// defaults and the cap were applied: 1 for a nil *Retry, which runs op
// once.
func (r *Retry) MaxAttempts() int {
	if r == nil {
		return 1
	}
	return r.maxAttempts
}

// Budget returns the budget the policy draws from, or nil.
func (r *Retry) Budget() *Budget {
	if r == nil {
		return nil
	}
	return r.budget
}

// Status returns a snapshot of the policy's limits and of its budget's
// state, for a status page ([telemetry.StatusHandler]). A shared budget is
// reported by every policy that draws from it. A nil *Retry reports an
// empty retry status.
func (r *Retry) Status() telemetry.Status {
	if r == nil {
		return telemetry.Status{Kind: string(observe.KindRetry), Retry: &telemetry.RetryStatus{}}
	}
	b := r.budget
	st := &telemetry.RetryStatus{MaxAttempts: r.maxAttempts}
	if b != nil && b.valid() {
		bs := b.State()
		st.Budget = &telemetry.BudgetStatus{
			Available:    bs.Available,
			Ratio:        bs.Config.Ratio,
			MinPerSecond: bs.Config.MinPerSecond,
			Allowed:      bs.Allowed,
			Rejected:     bs.Rejected,
			Exhausted:    bs.Exhausted,
		}
	}
	return telemetry.Status{Kind: string(observe.KindRetry), Name: r.name, Key: r.key, Retry: st}
}

// Do runs op, and runs it again after a backoff delay while it fails with a
// retryable error, up to MaxAttempts attempts. Every attempt gets ctx
// unchanged; bound each attempt with a per-attempt timeout policy inside the
// retry.
//
// Do returns nil as soon as an attempt succeeds. Otherwise:
//   - when the error is not to be retried (the caller's context is done,
//     a rejection, a permanent error, or the classification says no), or
//     when MaxAttempts is 1, Do returns that error unchanged;
//   - when Do gives up on an error it would otherwise have retried
//     (attempts exhausted, budget exhausted, the deadline too close, a
//     server hint above MaxRetryAfter, the caller's context done during the
//     backoff wait), it returns an [*Error] that unwraps to the last
//     attempt's error, so errors.Is(err, lastErr) holds.
//
// Each call is recorded once in resilience.calls, with the time spent in
// Do, retries and delays included: success when some attempt succeeded,
// else the outcome of the last attempt's error (failure, timeout, or
// neutral for the caller's cancellation, a client error or another
// policy's rejection). Retries and budget refusals have instruments of
// their own. A call whose op panics is not recorded.
func (r *Retry) Do(ctx context.Context, op func(context.Context) error) error {
	if r == nil {
		return op(ctx)
	}
	return r.do(ctx, r.budget, op)
}

func (r *Retry) do(ctx context.Context, b *Budget, op func(context.Context) error) error {
	s := r.rec.Start(ctx)
	b.deposit()
	r.observeAttempt(ctx, 1)
	err := op(ctx)
	if err == nil {
		r.rec.Done(ctx, s, observe.Success)
		return nil
	}
	err = r.again(ctx, op, err, b)
	r.rec.Done(ctx, s, observe.Classify(ctx, lastError(err)))
	return err
}

// lastError returns the last attempt's error when err is an *Error that
// this policy returned, so that a call the budget refused a retry
// (ErrBudgetExhausted is a rejection, hence neutral) is reported by what
// happened to its attempts. A type assertion, not errors.As: again returns
// the *Error itself, and errors.As would allocate on every failed call.
func lastError(err error) error {
	if e, ok := err.(*Error); ok {
		return e.Err
	}
	return err
}

// again is the retry path, kept out of Do so that the happy path stays small
// and allocation-free. err is the first attempt's error; b is the budget
// the retries draw from.
func (r *Retry) again(ctx context.Context, op func(context.Context) error, err error, b *Budget) error {
	// The backoff state lives on this call's stack: it is never shared, and
	// it is only initialized once a delay is needed.
	var schedule backoff.ExponentialBackOff
	for attempt := 1; ; attempt++ {
		// err is the error of attempt number attempt.
		if r.maxAttempts <= 1 || !r.retryable(ctx, err) {
			r.observeGiveUp(ctx, attempt, reasonNotRetryable)
			return err
		}
		if attempt >= r.maxAttempts {
			return r.giveUp(ctx, attempt, ReasonExhausted, err, nil)
		}

		delay := r.nextDelay(&schedule)
		cause := causeError
		// A negative hint is ignored: it is no request to wait, and it must
		// not turn into "retry now" either.
		if hint, ok := resilience.RetryAfter(err); ok && hint >= 0 {
			if hint > r.maxRetryAfter {
				// Retrying before the server asked would add to the load
				// it is shedding; waiting that long exceeds our limit.
				return r.giveUp(ctx, attempt, ReasonRetryAfter, err, nil)
			}
			if hint > delay {
				delay, cause = hint, causeRetryAfter
			}
		}
		if deadline, ok := ctx.Deadline(); ok && delay >= time.Until(deadline) {
			// The next attempt could not even start in time.
			return r.giveUp(ctx, attempt, ReasonDeadline, err, nil)
		}
		if !b.withdraw() {
			if b.exhausted.CompareAndSwap(false, true) {
				r.observeBudgetTransition(ctx, true)
			}
			r.observeBudgetRejected(ctx, attempt)
			return r.giveUp(ctx, attempt, ReasonBudget, err, ErrBudgetExhausted)
		}
		if b != nil && b.exhausted.Load() && b.exhausted.CompareAndSwap(true, false) {
			r.observeBudgetTransition(ctx, false)
		}
		if cause == causeError && errors.Is(err, context.DeadlineExceeded) {
			cause = causeTimeout
		}
		r.observeRetry(ctx, attempt+1, delay, cause)
		if cerr := sleep(ctx, delay); cerr != nil {
			// The retry the budget allowed will not run.
			b.refund()
			return r.giveUp(ctx, attempt, ReasonCanceled, err, cerr)
		}

		r.observeAttempt(ctx, attempt+1)
		if err = op(ctx); err == nil {
			return nil
		}
	}
}

// nextDelay returns the next backoff delay of the call whose schedule s is.
// A zero s is initialized from the template on first use.
func (r *Retry) nextDelay(s *backoff.ExponentialBackOff) time.Duration {
	if r.noDelay {
		return 0
	}
	if s.Clock == nil {
		*s = r.schedule
		s.Reset()
	}
	d := s.NextBackOff()
	// backoff/v4 may overshoot by a nanosecond, and with extreme settings its
	// float arithmetic can overflow into a negative duration; neither may
	// become "retry now" nor exceed MaxDelay.
	if d < 0 || d > r.maxDelay {
		d = r.maxDelay
	}
	return d
}

// retryable reports whether the failed attempt's err may be retried.
func (r *Retry) retryable(ctx context.Context, err error) bool {
	// Never overridable: the caller gave up; another policy said stop
	// (an open breaker, a full bulkhead, an exhausted budget); or the error
	// was marked as one that fails the same way again.
	if ctx.Err() != nil || errors.Is(err, resilience.ErrRejected) || IsPermanent(err) {
		return false
	}
	if r.shouldRetry != nil {
		return r.shouldRetry(err)
	}
	// A client error fails the same way again; an error that an inner Retry
	// already gave up on has been retried enough: retrying it again would
	// multiply the attempts (3 × 3 = 9) that reach the dependency.
	return !resilience.IsNeutral(err) && !errors.Is(err, errGaveUp)
}

func (r *Retry) giveUp(ctx context.Context, attempts int, reason Reason, err, cause error) error {
	r.observeGiveUp(ctx, attempts, reason)
	return &Error{Name: r.name, Attempts: attempts, Reason: reason, Err: err, cause: cause}
}

// newTimer is time.NewTimer; a test replaces it to see that timers are stopped.
var newTimer = time.NewTimer

// sleep waits for d or until ctx is done, whichever comes first, and returns
// ctx.Err() in the second case. The timer is stopped on the way out.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := newTimer(d)
	select {
	case <-t.C:
		// Both may be ready at once: a caller that gave up gets no attempt.
		return ctx.Err()
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}
