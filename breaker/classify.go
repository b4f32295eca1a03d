package breaker

import (
	"context"
	"errors"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
)

// outcome is how a completed call counts.
type outcome uint8

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeSlow // succeeded, but slower than SlowCall: a failure
	outcomeNeutral
)

// telemetry maps the breaker's outcome to the telemetry outcome: a slow call
// is a failure.
func (o outcome) telemetry() observe.Outcome {
	switch o {
	case outcomeSuccess:
		return observe.Success
	case outcomeNeutral:
		return observe.Neutral
	}
	return observe.Failure // failure, slow
}

// String names the outcome (telemetry reports slow calls as failures; see
// telemetry).
func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeFailure:
		return "failure"
	case outcomeSlow:
		return "slow"
	}
	return "neutral"
}

// classify decides how a call that returned err after d counts. slowRule is
// false for two-step calls, whose length says nothing about health.
func (b *Breaker) classify(ctx context.Context, err error, d time.Duration, slowRule bool) outcome {
	if err == nil {
		if slowRule && b.cfg.slowCall > 0 && d > b.cfg.slowCall {
			return outcomeSlow
		}
		return outcomeSuccess
	}
	// Another policy refused: nothing is known about the dependency.
	if errors.Is(err, resilience.ErrRejected) {
		return outcomeNeutral
	}
	// The caller gave up (or its deadline passed a moment before its timer
	// fired): neutral, unless its deadline ended a call that had already
	// been slower than SlowCall. Without that, a dependency that hangs is
	// never counted when callers' deadlines are shorter than the attempt
	// timeout.
	if resilience.ContextDone(ctx) {
		if slowRule && b.cfg.slowCall > 0 && d > b.cfg.slowCall && !errors.Is(ctx.Err(), context.Canceled) {
			return outcomeSlow
		}
		return outcomeNeutral
	}
	if f := b.cfg.isFailure; f != nil {
		if f(err) {
			return outcomeFailure
		}
		return outcomeNeutral
	}
	if resilience.IsNeutral(err) {
		return outcomeNeutral
	}
	return outcomeFailure
}
