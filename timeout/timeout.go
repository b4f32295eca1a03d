// Package timeout provides a policy that bounds how long a call may take.
//
// Put one outermost to bound the caller's whole wait (all retries included)
// and one innermost to bound each attempt:
//
//	overall timeout → retry → breaker → bulkhead → per-attempt timeout → call
package timeout

import (
	"context"
	"fmt"
	"time"

	"github.com/cascadeguard/resilience"
)

// ErrTimeout is matched, under [errors.Is], by the error a [Timeout] returns
// when its own deadline ended the call. It also matches
// [context.DeadlineExceeded], so code that checks for the context error keeps
// working, and it reports Timeout() true like net.Error.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string { return "timeout: deadline exceeded" }

func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

func (timeoutError) Timeout() bool { return true }

func (timeoutError) Temporary() bool { return true }

// Config configures a [Timeout].
type Config struct {
	// Name identifies the policy in errors and telemetry. Empty means "timeout".
	Name string

	// Duration is how long a call may run. It must be positive: there is no
	// sensible default for a deadline.
	Duration time.Duration
}

// Timeout is a [resilience.Policy] that gives each call a context which ends
// after a fixed duration.
//
// It is cooperative: Do runs op in the caller's goroutine and returns when op
// returns, so no goroutine is left behind, but a call that ignores its
// context runs on past the deadline. op must honour ctx.Done().
//
// When the caller's context already has an earlier deadline, Do runs op with
// the caller's context as it is and makes no timer. A Timeout is safe for
// concurrent use; its zero value is not usable, build one with [New].
type Timeout struct {
	name string
	d    time.Duration
}

var _ resilience.Policy = (*Timeout)(nil)

// New returns a Timeout for cfg, or an error naming the bad field.
func New(cfg Config) (*Timeout, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("timeout: Duration %v must be positive", cfg.Duration)
	}
	name := cfg.Name
	if name == "" {
		name = "timeout"
	}
	return &Timeout{name: name, d: cfg.Duration}, nil
}

// Name returns the policy's name.
func (t *Timeout) Name() string { return t.name }

// Duration returns the configured duration.
func (t *Timeout) Duration() time.Duration { return t.d }

// Do runs op with a context that ends after the configured duration.
//
// If op fails after that deadline fired, Do returns an error that matches
// [ErrTimeout] and [context.DeadlineExceeded] and wraps op's error. If the
// caller's own context ended first (cancelled, or its earlier deadline
// passed), op's error is returned unchanged. If op succeeds, Do returns nil
// even when the deadline fired meanwhile.
func (t *Timeout) Do(ctx context.Context, op func(context.Context) error) error {
	deadline := time.Now().Add(t.d)
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		// The caller's deadline comes first: ours could never fire.
		return op(ctx)
	}
	tctx, cancel := context.WithDeadline(ctx, deadline)
	err := op(tctx)
	fired := err != nil && ctx.Err() == nil && tctx.Err() != nil
	cancel()
	if fired {
		return &Error{Name: t.name, Duration: t.d, Err: err}
	}
	return err
}

// Error is the error a [Timeout] returns when its deadline ended a call. It
// matches [ErrTimeout] and [context.DeadlineExceeded] and unwraps to the
// error op returned.
type Error struct {
	Name     string        // the policy's name
	Duration time.Duration // the deadline that fired
	Err      error         // what op returned
}

func (e *Error) Error() string {
	return fmt.Sprintf("timeout: %s: deadline of %v exceeded: %v", e.Name, e.Duration, e.Err)
}

// Unwrap returns [ErrTimeout] and the error op returned.
func (e *Error) Unwrap() []error { return []error{ErrTimeout, e.Err} }

// Timeout reports true, like net.Error.
func (e *Error) Timeout() bool { return true }
