package observe

import (
	"context"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/telemetry"
)

// Kind is a policy kind, the value of the resilience.policy.kind attribute.
// The zero value is no kind; use the constants.
type Kind string

// The policy kinds.
const (
	KindBreaker   Kind = "breaker"
	KindBulkhead  Kind = "bulkhead"
	KindRetry     Kind = "retry"
	KindTimeout   Kind = "timeout"
	KindRateLimit Kind = "ratelimit"
)

// Outcome is what became of one call, from one policy's point of view: the
// value of the resilience.outcome attribute. The zero value is Success.
type Outcome uint8

// The outcomes. A policy reports its own rejection as Rejected and its own
// deadline as Timeout; everything else it usually gets from [Classify].
const (
	Success  Outcome = iota // op returned nil
	Failure                 // op failed in a way that says the dependency is unhealthy
	Rejected                // this policy refused the call: op did not run
	Timeout                 // a deadline ended the call
	Neutral                 // says nothing about the dependency: caller's cancellation, client error, another policy's rejection
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"success", "failure", "rejected", "timeout", "neutral"}

// String returns the attribute value: success, failure, rejected, timeout or
// neutral.
func (o Outcome) String() string {
	if o >= numOutcomes {
		return "failure"
	}
	return outcomeNames[o]
}

// Classify returns the outcome of a call that op ended with err, for a policy
// that does not classify outcomes itself (bulkhead, rate limiter, retry's
// final result): nil is Success; an error when ctx (the caller's context) has
// ended is Neutral; an error that [resilience.IsNeutral] accepts (client
// errors, other policies' rejections) is Neutral; an error reporting
// Timeout() true is Timeout; anything else is Failure.
//
// The nil check comes first, so the success path costs one comparison.
func Classify(ctx context.Context, err error) Outcome {
	if err == nil {
		return Success
	}
	return classifyError(ctx, err)
}

func classifyError(ctx context.Context, err error) Outcome {
	if ctx.Err() != nil || resilience.IsNeutral(err) {
		return Neutral
	}
	if isTimeout(err) {
		return Timeout
	}
	return Failure
}

// isTimeout reports whether an error in err's tree reports Timeout() true.
// It walks the tree itself: errors.As with an interface target allocates,
// and this runs for every failed call.
func isTimeout(err error) bool {
	for err != nil {
		if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if isTimeout(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// BreakerState is a circuit breaker's state as telemetry reports it: the
// value of the resilience.breaker.state gauge and, by name, of the
// resilience.state attributes. The numbering matches gobreaker's and
// breaker.State's; the zero value is StateClosed.
type BreakerState int8

// The breaker states.
const (
	StateClosed   BreakerState = 0
	StateHalfOpen BreakerState = 1
	StateOpen     BreakerState = 2
	numStates                  = 3
)

// String returns the attribute value: closed, half_open or open.
func (s BreakerState) String() string {
	switch s {
	case StateClosed:
		return telemetry.StateClosed
	case StateHalfOpen:
		return telemetry.StateHalfOpen
	case StateOpen:
		return telemetry.StateOpen
	}
	return "unknown"
}

// RetryReason says why a retry was scheduled: the value of the
// resilience.retry.reason attribute. The zero value is ReasonError.
type RetryReason uint8

// The retry reasons.
const (
	ReasonError      RetryReason = iota // the attempt failed with a retryable error
	ReasonTimeout                       // the attempt timed out
	ReasonRetryAfter                    // the server asked to retry later; its hint set the delay
	numReasons
)

var reasonNames = [numReasons]string{"error", "timeout", "retry_after"}

// String returns the attribute value: error, timeout or retry_after.
func (r RetryReason) String() string {
	if r >= numReasons {
		return "error"
	}
	return reasonNames[r]
}

// ReasonFor returns the reason to report for retrying after an attempt that
// failed with err: ReasonRetryAfter when the delay came from the server's
// hint (hinted), ReasonTimeout when err reports Timeout() true, else
// ReasonError.
func ReasonFor(err error, hinted bool) RetryReason {
	if hinted {
		return ReasonRetryAfter
	}
	if isTimeout(err) {
		return ReasonTimeout
	}
	return ReasonError
}
