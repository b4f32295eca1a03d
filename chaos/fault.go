package chaos

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// A Fault is one way for a dependency to misbehave. Each adapter applies it
// to one request (an HTTP request, a gRPC call or stream) in this order:
//
//  1. wait Latency plus a random part of Jitter (the wait ends early when
//     the request's context ends);
//  2. then, at most one of: answer with Status (HTTP) or Code (gRPC), with
//     Retry-After or pushback; Hang; Reset. A Fault that sets none of them
//     only adds the delay and then lets the request through.
//
// The zero Fault is not valid: it does nothing. A Fault is a plain value and
// safe to copy.
type Fault struct {
	// Probability is the share of requests, in [0, 1], that get this fault
	// while its phase is current. Zero is shorthand for 1: every request.
	// (To inject nothing, leave the fault out of the phase.) The faults of
	// one phase exclude each other: each request gets at most one, and
	// their probabilities must add up to at most 1.
	Probability float64

	// Status is the HTTP status code, in [400, 599], to answer with
	// instead of calling the handler or the next RoundTripper. Zero means
	// the one that matches Code (Unavailable → 503, ResourceExhausted →
	// 429, …), or no answer when Code is zero too.
	Status int

	// Code is the gRPC status code to answer with instead of calling the
	// gRPC handler. Zero (codes.OK) means the one that matches Status
	// (503 → Unavailable, 429 → ResourceExhausted, 504 →
	// DeadlineExceeded, …), or no answer when Status is zero too.
	Code codes.Code

	// RetryAfter asks the client to wait before its next attempt. With an
	// answer (Status or Code), a positive RetryAfter is sent as the HTTP
	// Retry-After header in whole seconds, rounded up, and as the gRPC
	// trailer grpc-retry-pushback-ms in whole milliseconds, rounded up.
	// Zero sends neither.
	RetryAfter time.Duration

	// RetryAfterValue, when not empty, is sent verbatim as the
	// Retry-After header and the grpc-retry-pushback-ms trailer instead of
	// RetryAfter. It lets a test check how a client copes with hints that
	// are negative, malformed, decimal, HTTP-dates or absurdly large.
	RetryAfterValue string

	// Latency is a delay added before the request proceeds or is answered.
	Latency time.Duration

	// Jitter adds a further delay drawn uniformly from [0, Jitter).
	Jitter time.Duration

	// Hang holds the request until the client gives up: until the
	// request's context ends (the client cancelled, its deadline passed
	// or its connection closed). The HTTP Handler then returns without
	// writing; the Transport and the interceptors return the context's
	// error. Hang excludes every other field but Probability.
	Hang bool

	// Reset drops the connection instead of answering. The HTTP Handler
	// hijacks the connection and closes it with SO_LINGER 0, so the
	// client reads ECONNRESET; the Transport returns a *net.OpError that
	// wraps syscall.ECONNRESET without sending the request. gRPC servers
	// give interceptors no access to the connection, so the interceptors
	// answer codes.Unavailable, what a client sees when its connection is
	// reset during a call.
	Reset bool
}

// String describes f in a few words, for logs and legends:
// "30% 503 Unavailable Retry-After 2s", "delay 50ms-60ms", "hang", "reset".
func (f Fault) String() string {
	var parts []string
	if f.Probability != 0 && f.Probability != 1 {
		// Four significant digits: 0.07 × 100 is 7.000000000000001.
		parts = append(parts, strconv.FormatFloat(f.Probability*100, 'g', 4, 64)+"%")
	}
	switch {
	case f.Latency > 0 && f.Jitter > 0:
		parts = append(parts, fmt.Sprintf("delay %v-%v", f.Latency, f.Latency+f.Jitter))
	case f.Latency > 0:
		parts = append(parts, fmt.Sprintf("delay %v", f.Latency))
	case f.Jitter > 0:
		parts = append(parts, fmt.Sprintf("delay 0s-%v", f.Jitter))
	}
	if f.Status != 0 {
		parts = append(parts, fmt.Sprint(f.Status))
	}
	if f.Code != codes.OK {
		parts = append(parts, f.Code.String())
	}
	switch {
	case f.RetryAfterValue != "":
		parts = append(parts, fmt.Sprintf("Retry-After %q", f.RetryAfterValue))
	case f.RetryAfter > 0:
		parts = append(parts, "Retry-After "+f.RetryAfter.String())
	}
	if f.Hang {
		parts = append(parts, "hang")
	}
	if f.Reset {
		parts = append(parts, "reset")
	}
	if len(parts) == 0 {
		return "no fault"
	}
	return strings.Join(parts, " ")
}

// answers reports whether f answers instead of letting the request through.
func (f Fault) answers() bool { return f.Status != 0 || f.Code != codes.OK }

// check validates f; where names it in errors ("Phases[1].Faults[0]").
func (f Fault) check(where string) error {
	p := f.Probability
	if math.IsNaN(p) || p < 0 || p > 1 {
		return fmt.Errorf("chaos: %s.Probability %v is outside [0, 1]", where, p)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("chaos: %s.Status %d is outside [400, 599]", where, f.Status)
	}
	if f.Code > codes.Unauthenticated {
		return fmt.Errorf("chaos: %s.Code %d is not a gRPC status code", where, uint32(f.Code))
	}
	if f.Latency < 0 {
		return fmt.Errorf("chaos: %s.Latency %v is negative", where, f.Latency)
	}
	if f.Jitter < 0 {
		return fmt.Errorf("chaos: %s.Jitter %v is negative", where, f.Jitter)
	}
	if f.Latency+f.Jitter < f.Latency {
		return fmt.Errorf("chaos: %s: Latency %v plus Jitter %v overflows", where, f.Latency, f.Jitter)
	}
	if f.RetryAfter < 0 {
		return fmt.Errorf("chaos: %s.RetryAfter %v is negative (send a negative hint with RetryAfterValue)", where, f.RetryAfter)
	}
	for _, r := range f.RetryAfterValue {
		if r < ' ' || r == 0x7f || r > 0x7e {
			return fmt.Errorf("chaos: %s.RetryAfterValue %q has a character that is not printable ASCII", where, f.RetryAfterValue)
		}
	}
	if (f.RetryAfter > 0 || f.RetryAfterValue != "") && !f.answers() {
		if f.RetryAfterValue != "" {
			return fmt.Errorf("chaos: %s.RetryAfterValue %q needs a Status or Code to answer with", where, f.RetryAfterValue)
		}
		return fmt.Errorf("chaos: %s.RetryAfter %v needs a Status or Code to answer with", where, f.RetryAfter)
	}
	if f.Hang && (f.answers() || f.Reset || f.Latency > 0 || f.Jitter > 0) {
		return fmt.Errorf("chaos: %s: Hang cannot be combined with Status, Code, Reset, Latency or Jitter", where)
	}
	if f.Reset && f.answers() {
		return fmt.Errorf("chaos: %s: Reset cannot be combined with Status or Code", where)
	}
	if !f.Hang && !f.Reset && !f.answers() && f.Latency == 0 && f.Jitter == 0 {
		return fmt.Errorf("chaos: %s does nothing: set Status, Code, Latency, Jitter, Hang or Reset", where)
	}
	return nil
}

// normalize fills in the Status or Code that the other implies, so each
// adapter reads only its own field.
func (f Fault) normalize() Fault {
	switch {
	case f.Status != 0 && f.Code == codes.OK:
		f.Code = codeForStatus(f.Status)
	case f.Status == 0 && f.Code != codes.OK:
		f.Status = statusForCode(f.Code)
	}
	return f
}

// statusForCode maps a gRPC code to the HTTP status that google.rpc.Code
// documents for it.
func statusForCode(c codes.Code) int {
	switch c {
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	default: // Unknown, Internal, DataLoss
		return http.StatusInternalServerError
	}
}

// codeForStatus maps an HTTP status to the gRPC code whose documented HTTP
// mapping it is, choosing the most common code where several share one.
func codeForStatus(s int) codes.Code {
	switch s {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case http.StatusConflict:
		return codes.Aborted
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case http.StatusInternalServerError:
		return codes.Internal
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Unknown
}

// retryAfterHeader is the Retry-After value for f, or "".
func (f Fault) retryAfterHeader() string {
	if f.RetryAfterValue != "" {
		return f.RetryAfterValue
	}
	if f.RetryAfter <= 0 {
		return ""
	}
	return fmt.Sprint(ceilDiv(f.RetryAfter, time.Second))
}

// pushbackTrailer is the grpc-retry-pushback-ms value for f, or "".
func (f Fault) pushbackTrailer() string {
	if f.RetryAfterValue != "" {
		return f.RetryAfterValue
	}
	if f.RetryAfter <= 0 {
		return ""
	}
	return fmt.Sprint(ceilDiv(f.RetryAfter, time.Millisecond))
}

// ceilDiv returns d/unit rounded up; d is positive.
func ceilDiv(d, unit time.Duration) int64 {
	return int64((d-1)/unit) + 1
}
