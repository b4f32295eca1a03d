package breaker

import "strconv"

// State is the state of a [Breaker]. The zero value is [StateClosed].
type State int

// The states of a breaker. The numeric values are those of gobreaker's State.
const (
	// StateClosed lets every call through and counts outcomes.
	StateClosed State = iota
	// StateHalfOpen lets a few probe calls through to test the dependency.
	StateHalfOpen
	// StateOpen rejects every call at once with [ErrOpen].
	StateOpen
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Mode is how a [Breaker] applies its state to calls. The zero value is
// [ModeNormal]. Operators change it at run time with [Breaker.SetMode].
type Mode int

const (
	// ModeNormal enforces the state: an open breaker rejects calls.
	ModeNormal Mode = iota
	// ModeShadow computes the state exactly as ModeNormal does, reports
	// transitions and would-be rejections (Config.OnShadowReject), but lets
	// every call through. A call that would have been rejected runs and its
	// outcome is not counted, as if it had been rejected. It is the way to
	// roll out new thresholds safely: watch what they would do, then switch
	// to ModeNormal, which keeps the computed state.
	ModeShadow
	// ModeForcedOpen rejects every call with [ErrOpen] and counts nothing,
	// whatever the dependency does. Leaving it goes to half-open, so the
	// dependency is probed before it gets full traffic again.
	ModeForcedOpen
	// ModeDisabled lets every call through and counts nothing: the breaker
	// is forced closed. Leaving it starts closed with fresh counts.
	ModeDisabled
)

// String returns "normal", "shadow", "forced-open" or "disabled".
func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeShadow:
		return "shadow"
	case ModeForcedOpen:
		return "forced-open"
	case ModeDisabled:
		return "disabled"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

func (m Mode) valid() bool { return m >= ModeNormal && m <= ModeDisabled }

// Counts is a snapshot of what a [Breaker] has recorded in its current state:
// it starts from zero at every state change. In the closed state it covers
// the outcomes that completed within the last Config.Window; in the
// half-open state, every probe's outcome; in the open state it is zero. The
// zero value is an empty snapshot.
type Counts struct {
	// Requests is the number of outcomes recorded:
	// Successes + Failures + Neutral.
	Requests uint32
	// Successes is the number of calls that succeeded in time.
	Successes uint32
	// Failures is the number of calls that failed, including slow calls
	// and panics.
	Failures uint32
	// SlowCalls is the part of Failures that succeeded but took longer than
	// Config.SlowCall.
	SlowCalls uint32
	// Neutral is the number of outcomes that counted as neither success nor
	// failure: the caller's cancellation, rejections by other policies,
	// client errors.
	Neutral uint32
	// ConsecutiveFailures is the number of failures since the last success,
	// however far apart; neutral outcomes leave it unchanged. It is not
	// limited to the window.
	ConsecutiveFailures uint32
}
