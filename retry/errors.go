package retry

import (
	"errors"
	"fmt"

	"github.com/cascadeguard/resilience"
)

// ErrBudgetExhausted is matched, under [errors.Is], by the error of a call
// whose retry the [Budget] refused. It is a rejection: it also matches
// [resilience.ErrRejected], so an outer retry does not retry it and a circuit
// breaker counts it as neither success nor failure (the attempts that did
// run were already counted by a breaker inside the retry).
var ErrBudgetExhausted = resilience.NewRejection("retry: budget exhausted")

// Reason says why a [Retry] gave up on an error it would otherwise have
// retried. Its String form is a short, fixed token fit for a metric
// attribute.
type Reason int

// The reasons carried by an [*Error].
const (
	// ReasonExhausted: the call made MaxAttempts attempts.
	ReasonExhausted Reason = iota + 1
	// ReasonBudget: the Budget refused the retry; the error also matches
	// ErrBudgetExhausted.
	ReasonBudget
	// ReasonDeadline: the caller's deadline would pass before the next
	// attempt could start, so no time was spent waiting for it.
	ReasonDeadline
	// ReasonRetryAfter: the server asked for a delay above MaxRetryAfter.
	ReasonRetryAfter
	// ReasonCanceled: the caller's context ended during the backoff wait;
	// the error also matches the context's error (context.Canceled or
	// context.DeadlineExceeded).
	ReasonCanceled

	// reasonNotRetryable is reported to telemetry only: the error was
	// returned unchanged because it may not be retried.
	reasonNotRetryable Reason = -1
)

// String returns "exhausted", "budget", "deadline", "retry_after" or
// "canceled".
func (r Reason) String() string {
	switch r {
	case ReasonExhausted:
		return "exhausted"
	case ReasonBudget:
		return "budget"
	case ReasonDeadline:
		return "deadline"
	case ReasonRetryAfter:
		return "retry_after"
	case ReasonCanceled:
		return "canceled"
	case reasonNotRetryable:
		return "not_retryable"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

func (r Reason) describe() string {
	switch r {
	case ReasonExhausted:
		return "attempts exhausted"
	case ReasonBudget:
		return "retry budget exhausted"
	case ReasonDeadline:
		return "deadline too close for another attempt"
	case ReasonRetryAfter:
		return "server asked for a delay above MaxRetryAfter"
	case ReasonCanceled:
		return "context done during backoff"
	}
	return r.String()
}

// errGaveUp is matched by every *Error, so that an outer Retry can tell that
// an inner one already retried.
var errGaveUp = errors.New("retry: gave up")

// Error is the error a [Retry] returns when it gives up on a call whose last
// error it would otherwise have retried. It unwraps to that last error, so
// errors.Is(err, lastErr) and errors.As on the last error's types work; with
// ReasonBudget it also matches [ErrBudgetExhausted], with ReasonCanceled the
// caller's context error.
//
// An outer Retry does not retry an *Error by default: nested retries multiply
// the attempts that reach the dependency.
type Error struct {
	Name     string // the policy's name
	Attempts int    // attempts made, at least 1
	Reason   Reason // why no further attempt was made
	Err      error  // the last attempt's error

	cause error // ErrBudgetExhausted or the context's error, or nil
}

// Error says how many attempts were made, why the policy gave up, and the
// last attempt's error.
func (e *Error) Error() string {
	s := "s"
	if e.Attempts == 1 {
		s = ""
	}
	return fmt.Sprintf("retry: %s: %s after %d attempt%s: %v", e.Name, e.Reason.describe(), e.Attempts, s, e.Err)
}

// Unwrap returns the last attempt's error and, for ReasonBudget and
// ReasonCanceled, ErrBudgetExhausted or the context's error.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.cause}
}

// Is is for package retry itself: it matches an unexported marker, by
// which an outer Retry tells that an inner one already gave up. Use
// errors.Is with the last attempt's error, or errors.As with *Error.
func (e *Error) Is(target error) bool { return target == errGaveUp }

// Permanent marks err as not retryable: a [Retry] returns it at once. The
// result wraps err, so errors.Is(Permanent(err), err) holds and errors.As
// finds err's types. Any error in the tree with a method Permanent() bool
// returning true is treated the same way. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (p *permanentError) Error() string   { return p.err.Error() }
func (p *permanentError) Unwrap() error   { return p.err }
func (p *permanentError) Permanent() bool { return true }

// IsPermanent reports whether err was marked with [Permanent]: whether the
// first error in its tree with a method Permanent() bool, found as errors.As
// would find it, reports true.
func IsPermanent(err error) bool {
	p, _ := permanent(err)
	return p
}

// permanent walks err's tree depth first, like errors.As, and returns the
// answer of the first error with a Permanent method; found is false when
// there is none. A hand-written walk rather than errors.As, which would
// allocate its target on every failed attempt.
func permanent(err error) (isPermanent, found bool) {
	for err != nil {
		if p, ok := err.(interface{ Permanent() bool }); ok {
			return p.Permanent(), true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if p, found := permanent(e); found {
					return p, true
				}
			}
			return false, false
		default:
			return false, false
		}
	}
	return false, false
}
