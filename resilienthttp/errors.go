package resilienthttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cascadeguard/resilience"
)

// Outcome is what a response means for the policy. The zero value is
// Success.
type Outcome int

const (
	// Success: the attempt succeeded; the op returns nil.
	Success Outcome = iota
	// Failure: the dependency failed; the op returns a [*StatusError],
	// which a breaker counts as a failure and a retry may retry.
	Failure
	// ClientError: the request was at fault, not the dependency; the op
	// returns a [*StatusError] marked neutral (a breaker counts it as
	// neither success nor failure) and permanent (a retry returns it at
	// once).
	ClientError
)

// String returns "success", "failure" or "client_error".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case ClientError:
		return "client_error"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// DefaultClassifier is the classifier a [Transport] uses unless
// [WithClassifier] sets another:
//
//   - 408 Request Timeout, 429 Too Many Requests and every 5xx but 501 Not
//     Implemented and 505 HTTP Version Not Supported are failures: the
//     dependency is overloaded, unavailable or broken, and a later attempt
//     may succeed;
//   - every other 4xx, 501 and 505 are client errors: the same request
//     fails the same way again, and says nothing about the dependency's
//     health;
//   - 1xx, 2xx and 3xx are successes;
//   - a status code outside 100-599 is a failure: the server is broken.
func DefaultClassifier(resp *http.Response) Outcome {
	code := resp.StatusCode
	switch {
	case code < 100 || code > 599:
		return Failure
	case code < 400:
		return Success
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return Failure
	case code < 500, code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return ClientError
	}
	return Failure
}

// StatusError is the error with which an attempt that got a response the
// classifier did not treat as a success reports to the policy. It carries the
// response, and the server's Retry-After as a [resilience.RetryAfterHint].
//
// A StatusError is for policies: RoundTrip returns its response to the
// caller with a nil error instead. A policy may look at the status and the
// headers, but must not read or close the body: the transport drains it when
// it discards the response, and sets the Body to [http.NoBody] then.
//
// Its methods are safe for concurrent use. The zero value has no response
// and no Retry-After.
type StatusError struct {
	// Response is the response the attempt received. Its Request has the
	// caller's URL.
	Response *http.Response

	retryAfter    time.Duration
	hasRetryAfter bool
}

var _ resilience.RetryAfterHint = (*StatusError)(nil)

func newStatusError(resp *http.Response) *StatusError {
	e := &StatusError{Response: resp}
	e.retryAfter, e.hasRetryAfter = ParseRetryAfter(resp.Header, time.Now())
	return e
}

// Error returns "resilienthttp: GET http://host/path: 503 Service
// Unavailable", with the URL redacted as [Error] does and the standard text
// of the status code rather than the server's.
func (e *StatusError) Error() string {
	if e.Response == nil {
		return "resilienthttp: no response"
	}
	code := e.Response.StatusCode
	status := strconv.Itoa(code) + " " + http.StatusText(code)
	if req := e.Response.Request; req != nil {
		return "resilienthttp: " + methodOf(req) + " " + redactURL(req.URL) + ": " + status
	}
	return "resilienthttp: " + status
}

// RetryAfter returns the delay the server asked for with a Retry-After
// header, as [ParseRetryAfter] read it when the response arrived.
func (e *StatusError) RetryAfter() (time.Duration, bool) {
	return e.retryAfter, e.hasRetryAfter
}

// ErrNoResponse is matched by the error of RoundTrip when the policy
// returned nil without a response: it did not run the op, or swallowed the
// error of its last attempt without one.
var ErrNoResponse = errors.New("resilienthttp: policy returned without a response")

// Error is the error RoundTrip returns when it has no response to return. It
// unwraps to the cause: the policy's rejection (errors.Is(err,
// breaker.ErrOpen) holds), the wrapped transport's error, or the caller's
// context error.
//
// URL is the request's URL without userinfo, query or fragment, so that the
// error can be logged and recorded without leaking credentials or tokens.
// (An [http.Client] wraps it in a [*url.Error] that has the client's own
// copy of the full URL, query included.)
//
// An Error is a plain value, safe for concurrent use once made; a zero Error
// has an empty method, URL and cause.
type Error struct {
	Method string // the request's method; GET if it was empty
	URL    string // the redacted URL
	Err    error  // the cause
}

// Error gives the method, the redacted URL and the cause.
func (e *Error) Error() string {
	cause := "<nil>"
	if e.Err != nil {
		cause = e.Err.Error()
	}
	return "resilienthttp: " + e.Method + " " + e.URL + ": " + cause
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the cause is a timeout, like [net.Error]: an
// [http.Client] asks its transport's error this, without unwrapping it.
func (e *Error) Timeout() bool {
	// context.DeadlineExceeded, timeout.ErrTimeout and net.Error all have
	// the method.
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

func methodOf(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}
