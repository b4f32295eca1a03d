// Package notbuilt holds the error of a policy that was not built with its
// package's New (a zero value, or a nil pointer such as New's result after
// an error the caller dropped).
package notbuilt

// Error is a programming error, not an outcome of the dependency: it is
// neutral (a breaker counts it as neither success nor failure, see
// resilience.IsNeutral) and permanent (a retry returns it at once, see
// retry.Permanent), so that a chain around a policy that was never built
// neither retries it with backoff nor opens a breaker on it.
type Error struct{ msg string }

// New returns the error with the message msg, such as
// "breaker: Breaker not built with New".
func New(msg string) *Error { return &Error{msg: msg} }

// Error returns the message.
func (e *Error) Error() string { return e.msg }

// Neutral is read by resilience.IsNeutral.
func (*Error) Neutral() bool { return true }

// Permanent is read by retry.
func (*Error) Permanent() bool { return true }
