package resilientgrpc

import (
	"context"
	"time"

	"github.com/cascadeguard/resilience/internal/endctx"
)

// attemptCtx is the context of one attempt of a unary call under the
// standard preset's timeouts: the caller's context (its values, its
// cancellation, its deadline if it has one) ended at the preset's own
// deadline by a pooled timer, and by the interceptor when the attempt
// returns (see package endctx).
//
// It exists for what gRPC does with a deadline. A context whose Deadline
// reports one costs gRPC, per call, the grpc-timeout header (formatted by
// the client, a new HPACK table entry on both sides, parsed by the server)
// and, on the server, a context.WithTimeout with its timer: together
// several times what the preset's policies cost. So when the caller's
// context has no deadline, an attemptCtx reports none either: the client
// alone enforces the preset's timeouts, and the server learns of one that
// fires from the stream's cancellation (RST_STREAM), not from a deadline.
// When the caller's context has a deadline, gRPC sends one anyway, and an
// attemptCtx reports its own (the earlier one) so that the server knows it.
type attemptCtx struct {
	endctx.Ctx
	deadline time.Time // ours: the context ends then
	report   bool      // Deadline reports deadline: the parent has one
}

var _ context.Context = (*attemptCtx)(nil)

// newAttemptCtx returns a context that ends at deadline, which must be
// earlier than the parent's, if it has one; now is the current time. Its
// End method must be called when the attempt returns.
func newAttemptCtx(parent context.Context, deadline time.Time, now time.Time) *attemptCtx {
	a := &attemptCtx{deadline: deadline}
	_, a.report = parent.Deadline()
	a.Init(parent, deadline, now)
	return a
}

// Deadline reports the attempt's deadline if the parent has a deadline of
// its own, and no deadline otherwise (see the type's documentation).
func (a *attemptCtx) Deadline() (time.Time, bool) {
	if !a.report {
		return time.Time{}, false
	}
	return a.deadline, true
}

// timedOut reports whether the deadline ended the context, or has passed:
// gRPC may report DeadlineExceeded of its own before the alarm runs.
func (a *attemptCtx) timedOut() bool {
	return a.Err() == context.DeadlineExceeded || a.Passed()
}
