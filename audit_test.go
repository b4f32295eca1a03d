package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
)

// verdict is an error that decides both marks itself and wraps a cause, as
// resilientgrpc's attempt error does: its own Neutral and RetryAfter answers
// must win over those of the error it wraps.
type verdict struct {
	neutral bool
	d       time.Duration
	hasHint bool
	cause   error
}

func (v *verdict) Error() string                     { return "verdict: " + v.cause.Error() }
func (v *verdict) Unwrap() error                     { return v.cause }
func (v *verdict) Neutral() bool                     { return v.neutral }
func (v *verdict) RetryAfter() (time.Duration, bool) { return v.d, v.hasHint }

// TestRetryAfterFirstHintDecides: RetryAfter returns the hint of the first
// error in the tree that implements RetryAfterHint, even when that error
// says it has no usable hint; a hint deeper down does not override it.
func TestRetryAfterFirstHintDecides(t *testing.T) {
	inner := hinted{5 * time.Second, true}
	tests := []struct {
		name   string
		err    error
		wantD  time.Duration
		wantOK bool
	}{
		{"outer hint over inner hint", &verdict{d: time.Second, hasHint: true, cause: inner}, time.Second, true},
		{"outer no-hint over inner hint", &verdict{cause: inner}, 0, false},
		{"wrapped outer over inner", fmt.Errorf("call: %w", &verdict{d: 2 * time.Second, hasHint: true, cause: inner}), 2 * time.Second, true},
		{"joined: first branch decides", errors.Join(&verdict{cause: errors.New("x")}, inner), 0, false},
	}
	for _, tt := range tests {
		d, ok := resilience.RetryAfter(tt.err)
		if d != tt.wantD || ok != tt.wantOK {
			t.Errorf("RetryAfter(%s) = (%v, %v), want (%v, %v)", tt.name, d, ok, tt.wantD, tt.wantOK)
		}
	}
}

// TestIsNeutralFirstVerdictDecides: the first Neutral method found in the
// tree decides, as errors.As would find it: an error that says it is not
// neutral is not made neutral by a marked error it wraps.
func TestIsNeutralFirstVerdictDecides(t *testing.T) {
	marked := resilience.MarkNeutral(errors.New("404"))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"not neutral over marked", &verdict{neutral: false, cause: marked}, false},
		{"wrapped not neutral over marked", fmt.Errorf("call: %w", &verdict{neutral: false, cause: marked}), false},
		{"neutral over plain", &verdict{neutral: true, cause: errors.New("x")}, true},
	}
	for _, tt := range tests {
		if got := resilience.IsNeutral(tt.err); got != tt.want {
			t.Errorf("IsNeutral(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// deadlineAt is a context whose deadline is at but whose timer has not
// fired: Err is nil.
type deadlineAt struct {
	context.Context
	at time.Time
}

func (c deadlineAt) Deadline() (time.Time, bool) { return c.at, true }

// TestContextDoneAtTheDeadline: at the very instant of the deadline the
// context is done, as package context has it (WithDeadline(now) is done at
// once); an instant before, it is not.
func TestContextDoneAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		if got := resilience.ContextDone(deadlineAt{context.Background(), now}); !got {
			t.Errorf("ContextDone at the deadline = %v, want true", got)
		}
		if got := resilience.ContextDone(deadlineAt{context.Background(), now.Add(time.Nanosecond)}); got {
			t.Errorf("ContextDone 1ns before the deadline = %v, want false", got)
		}
	})
}
