package retry

import (
	"context"
	"time"

	"github.com/cascadeguard/resilience/internal/observe"
)

// The methods in this file are the one place where the events of a call
// leave the policy: metrics, span events on the caller's current span (ctx
// is always the caller's context) and, for budget transitions, logs. They
// run in the caller's goroutine. observeAttempt runs on the happy path, so
// it records nothing: Do's Start and Done count the call itself.

// retryCause says why a retry was scheduled: a fixed, bounded token fit for
// a metric attribute or a span event.
type retryCause string

const (
	causeError      retryCause = "error"       // a retryable error, backoff delay
	causeTimeout    retryCause = "timeout"     // an attempt's own deadline passed
	causeRetryAfter retryCause = "retry_after" // the server's requested delay was used
)

// telemetry returns the resilience.retry.reason of c; the tokens are the
// same.
func (c retryCause) telemetry() observe.RetryReason {
	switch c {
	case causeTimeout:
		return observe.ReasonTimeout
	case causeRetryAfter:
		return observe.ReasonRetryAfter
	}
	return observe.ReasonError
}

// observeAttempt: attempt number attempt (1 is the first) is about to run.
// It stays empty: it runs on the happy path, and attempts after the first
// are counted by observeRetry.
func (r *Retry) observeAttempt(ctx context.Context, attempt int) {}

// observeRetry: attempt number attempt is scheduled to run after delay.
// One resilience.retry.attempts by reason, the delay in
// resilience.retry.delay and the resilience.retry.scheduled span event.
func (r *Retry) observeRetry(ctx context.Context, attempt int, delay time.Duration, cause retryCause) {
	r.rec.RetryScheduled(ctx, attempt, delay, cause.telemetry())
}

// observeGiveUp: the call ends with an error after attempts attempts;
// reason is reasonNotRetryable when the error was returned unchanged. It
// records nothing: Do's Done records the call's outcome, and the reason is
// in the returned *Error.
func (r *Retry) observeGiveUp(ctx context.Context, attempts int, reason Reason) {}

// observeBudgetRejected: the budget refused the retry that would have
// followed attempt number attempt. One resilience.retry.budget.rejections
// and the resilience.retry.budget_exhausted span event.
func (r *Retry) observeBudgetRejected(ctx context.Context, attempt int) {
	r.rec.BudgetRejected(ctx)
}

// observeBudgetTransition: the budget ran out (exhausted) or, after running
// out, allowed a retry again. It logs, when the policy has a logger; the
// budget's compare-and-swap makes it once per transition, whichever of the
// policies sharing the budget sees it.
func (r *Retry) observeBudgetTransition(ctx context.Context, exhausted bool) {
	r.rec.BudgetTransition(ctx, exhausted)
}
