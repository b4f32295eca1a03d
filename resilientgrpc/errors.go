package resilientgrpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// ErrNoStream is matched, under [errors.Is], by the error of a stream
// interceptor whose policy returned nil without opening the stream (it did
// not run the op, or swallowed the error of its last attempt). Its status
// code is Internal.
var ErrNoStream = errors.New("resilientgrpc: the policy returned without opening the stream")

// ErrNoCall is matched, under [errors.Is], by the error of a unary
// interceptor whose policy returned nil without running the call: the
// caller's reply was never filled in. Its status code is Internal.
var ErrNoCall = errors.New("resilientgrpc: the policy returned without running the call")

// Error is the error an interceptor returns when the policy's error is not
// the gRPC status error of the call itself: a rejection by a policy, a
// timeout, retries that gave up. It is a status error — status.Code and
// status.FromError see the status that [Error.GRPCStatus] returns — and it
// unwraps to the policy's error, so errors.Is(err, breaker.ErrOpen) and
// errors.As(err, &retryErr) work.
//
// When the policy returns the error of an attempt unchanged, the interceptor
// returns gRPC's error itself, with the server's status and details, not an
// Error.
//
// An Error is immutable and safe for concurrent use. The zero value has
// status Unknown and no cause.
type Error struct {
	st  *status.Status
	err error
}

// Error returns "rpc error: code = Unavailable desc = " followed by the
// policy's error, in the format of gRPC's own status errors.
func (e *Error) Error() string {
	cause := "<nil>"
	if e.err != nil {
		cause = e.err.Error()
	}
	return "rpc error: code = " + e.GRPCStatus().Code().String() + " desc = " + cause
}

// GRPCStatus returns the error's status: for retries that gave up, the
// status of the last attempt as the server sent it (message and details
// included); for the policies' own errors, a status with the code listed in
// the package documentation and the policy's error as its message.
func (e *Error) GRPCStatus() *status.Status {
	if e.st == nil {
		return status.New(codes.Unknown, "")
	}
	return e.st
}

// Unwrap returns the policy's error.
func (e *Error) Unwrap() error { return e.err }

// exit turns what the policy returned into the error an interceptor
// returns: nil, gRPC's own error, or an *Error. caller is the caller's
// context.
func exit(caller context.Context, err error) error {
	if err == nil {
		return nil
	}
	if a, ok := err.(*attemptErr); ok {
		// The policy returned the attempt's error as it was: give the caller
		// gRPC's error, with the server's status and details.
		return a.err
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		// A status error the policy made itself: it chose the status.
		return err
	}
	return &Error{st: statusOf(caller, err), err: err}
}

// statusOf chooses the status of an error that a policy returned or
// wrapped. Rejections come first: they say why no (further) attempt ran.
func statusOf(caller context.Context, err error) *status.Status {
	var c codes.Code
	switch {
	case errors.Is(err, breaker.ErrOpen):
		c = codes.Unavailable
	case errors.Is(err, bulkhead.ErrFull), errors.Is(err, ratelimit.ErrLimited):
		c = codes.ResourceExhausted
	case errors.Is(err, retry.ErrBudgetExhausted):
		// The last attempt's status tells the caller what went wrong; the
		// budget only stopped the retries.
		if a := lastAttempt(err); a != nil {
			return a.st
		}
		c = codes.Unavailable
	case errors.Is(err, resilience.ErrRejected):
		c = codes.Unavailable
	case errors.Is(err, timeout.ErrTimeout):
		c = codes.DeadlineExceeded
	case caller.Err() != nil:
		c = status.FromContextError(caller.Err()).Code()
	case errors.Is(err, ErrNoStream), errors.Is(err, ErrNoCall):
		c = codes.Internal
	default:
		if a := lastAttempt(err); a != nil {
			return a.st
		}
		// A wrapped status error keeps its code; anything else is Unknown,
		// as gRPC makes it.
		return status.Convert(err)
	}
	return status.New(c, err.Error())
}

// lastAttempt returns the first attempt error in err's tree, depth first:
// the last attempt's error inside a retry's error.
func lastAttempt(err error) *attemptErr {
	for err != nil {
		switch e := err.(type) {
		case *attemptErr:
			return e
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if a := lastAttempt(inner); a != nil {
					return a
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
