package breaker

import "github.com/cascadeguard/resilience"

// ErrOpen is matched, under [errors.Is], by the error a [Breaker] returns
// when it rejects a call without running it: it is open, or half-open with
// all its probe slots taken. It also matches [resilience.ErrRejected], so
// retries do not retry it and other breakers count it as neutral.
var ErrOpen = resilience.NewRejection("breaker: open")

// OpenError is the error a [Breaker] returns when it rejects a call. It
// names the breaker and the state that rejected the call, and matches
// [ErrOpen] and [resilience.ErrRejected]. Each breaker returns the same two
// values over and over (one per state), so a rejection allocates nothing;
// treat them as read-only.
type OpenError struct {
	Name  string // the breaker's name
	State State  // StateOpen, or StateHalfOpen when all probe slots are taken
}

// Error names the breaker and the state that rejected the call.
func (e *OpenError) Error() string {
	if e.State == StateHalfOpen {
		return "breaker: " + e.Name + ": half-open, all probe slots taken"
	}
	return "breaker: " + e.Name + ": open"
}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }
