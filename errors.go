package resilience

import (
	"context"
	"errors"
	"time"
)

// ErrRejected matches, under [errors.Is], every error with which a policy
// refuses to run a call: an open circuit breaker, a full bulkhead, an
// exhausted rate limit or retry budget. Retries never retry it and circuit
// breakers count it as neither success nor failure, so policies can react to
// each other's rejections without importing each other.
var ErrRejected = errors.New("resilience: rejected")

// NewRejection returns a new sentinel error with the given text that also
// matches [ErrRejected] under [errors.Is]. Policy packages use it for their
// own rejection sentinels:
//
//	var ErrOpen = resilience.NewRejection("breaker: open")
func NewRejection(text string) error {
	return &rejection{text: text}
}

type rejection struct{ text string }

func (r *rejection) Error() string { return r.text }

func (r *rejection) Is(target error) bool { return target == ErrRejected }

// MarkNeutral wraps err so that [IsNeutral] reports true for it, while
// errors.Is and errors.As still see err. Adapters use it for outcomes that
// say nothing about the health of the dependency, such as an HTTP 404 or a
// gRPC InvalidArgument: the caller's mistake, not the server's failure. A nil
// err stays nil.
func MarkNeutral(err error) error {
	if err == nil {
		return nil
	}
	return &neutral{err: err}
}

type neutral struct{ err error }

func (n *neutral) Error() string { return n.err.Error() }

func (n *neutral) Unwrap() error { return n.err }

func (n *neutral) Neutral() bool { return true }

// IsNeutral reports whether err says nothing about the health of the
// dependency: a rejection by a policy ([ErrRejected]) or an error that was
// marked with [MarkNeutral] or that has a method Neutral() bool returning
// true. Circuit breakers count such outcomes as neither success nor failure.
// The first error in err's tree (depth first, as [errors.As] goes) with a
// Neutral method decides: an error that says it is not neutral is not made
// neutral by a marked error it wraps.
//
// IsNeutral does not know about the caller's own cancellation; a policy
// checks that itself with its context (ctx.Err() != nil).
func IsNeutral(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRejected) {
		return true
	}
	found := false
	walk(err, func(e error) bool {
		if n, ok := e.(interface{ Neutral() bool }); ok {
			found = n.Neutral()
			return true
		}
		return false
	})
	return found
}

// walk visits err's tree depth first, as errors.As does, until visit
// returns true. Unlike errors.As with an interface target it allocates
// nothing, which keeps the policies' error paths cheap.
func walk(err error, visit func(error) bool) bool {
	for err != nil {
		if visit(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e, visit) {
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

// RetryAfterHint is implemented by errors that carry a delay requested by the
// server before the next attempt: an HTTP Retry-After header or gRPC
// pushback. ok is false when there is no usable hint. Consumers ignore a
// negative delay; an adapter whose protocol means "do not retry" by a hint
// marks the error as permanent for the retry policy instead.
type RetryAfterHint interface {
	RetryAfter() (d time.Duration, ok bool)
}

// RetryAfter returns the hint of the first error in err's tree that
// implements [RetryAfterHint].
func RetryAfter(err error) (d time.Duration, ok bool) {
	walk(err, func(e error) bool {
		if h, is := e.(RetryAfterHint); is {
			d, ok = h.RetryAfter()
			return true
		}
		return false
	})
	return d, ok
}

// ContextDone reports whether ctx has ended or its deadline has passed. It
// differs from ctx.Err() != nil in the instant between a deadline passing and
// the context's timer firing: a transport that saw the deadline first (gRPC
// sends it to the server, which enforces it) can fail with DeadlineExceeded
// while ctx.Err() is still nil. Policies use it to tell the caller's own
// deadline (a neutral outcome) from the dependency's failure. It reads the
// clock only when ctx has a deadline and has not ended yet.
func ContextDone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
