package retry

import (
	"context"
	"time"
)

// The methods in this file are the one place where the events of a call
// leave the policy; telemetry (metrics, and span events on the caller's
// current span) attaches here. They do nothing yet. They run in the caller's
// goroutine; observeAttempt runs on the happy path too, so whatever is added
// to it must not allocate.

// retryCause says why a retry was scheduled: a fixed, bounded token fit for
// a metric attribute or a span event.
type retryCause string

const (
	causeError      retryCause = "error"       // a retryable error, backoff delay
	causeTimeout    retryCause = "timeout"     // an attempt's own deadline passed
	causeRetryAfter retryCause = "retry_after" // the server's requested delay was used
)

// observeAttempt: attempt number attempt (1 is the first) is about to run.
func (r *Retry) observeAttempt(ctx context.Context, attempt int) {}

// observeRetry: attempt number attempt is scheduled to run after delay.
func (r *Retry) observeRetry(ctx context.Context, attempt int, delay time.Duration, cause retryCause) {
}

// observeGiveUp: the call ends with an error after attempts attempts;
// reason is reasonNotRetryable when the error was returned unchanged.
func (r *Retry) observeGiveUp(ctx context.Context, attempts int, reason Reason) {}

// observeBudgetRejected: the budget refused the retry that would have
// followed attempt number attempt.
func (r *Retry) observeBudgetRejected(ctx context.Context, attempt int) {}
