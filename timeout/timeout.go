// Package timeout provides a policy that bounds how long a call may take.
//
// Put one outermost to bound the caller's whole wait (all retries included)
// and one innermost to bound each attempt:
//
//	overall timeout → retry → breaker → bulkhead → per-attempt timeout → call
//
// # Telemetry
//
// By default a Timeout reports through the global OpenTelemetry meter
// provider (Config.Telemetry configures it; package telemetry's
// INSTRUMENTS.md has the reference): resilience.calls and
// resilience.call.duration for every call, by outcome (timeout when its own
// deadline ended the call; success; neutral when the caller's context ended
// or the error is a client error or another policy's rejection; timeout
// too for an error that reports Timeout() true; failure otherwise). When
// its deadline ends a call, it adds a resilience.timeout event to the span
// in the caller's context. With no SDK installed, this costs a call one
// atomic load. [Timeout.Status] is the policy's entry on a status page.
package timeout

import (
	"context"
	"fmt"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/notbuilt"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
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

	// Telemetry configures the policy's metrics, span events and logs. The
	// zero value reports to the global OpenTelemetry providers; see package
	// telemetry and its INSTRUMENTS.md.
	Telemetry telemetry.Settings
}

// Timeout is a [resilience.Policy] that gives each call a context which ends
// after a fixed duration.
//
// It is cooperative: Do runs op in the caller's goroutine and returns when op
// returns, so no goroutine is left behind, but a call that ignores its
// context runs on past the deadline. op must honour ctx.Done().
//
// When the caller's context already has an earlier deadline, Do runs op with
// the caller's context as it is and makes no timer.
//
// A Timeout is safe for concurrent use. Its zero value is not usable: its Do
// returns an error saying it was not built with [New], without running op
// (rather than run op with no deadline at all), and its other methods report
// an empty policy with a zero Duration. A nil *Timeout behaves the same.
type Timeout struct {
	name string
	d    time.Duration
	rec  *observe.Recorder // nil when telemetry is disabled
	key  string            // Config.Telemetry.Key, sanitized, for Status
}

var (
	_ resilience.Policy        = (*Timeout)(nil)
	_ telemetry.StatusReporter = (*Timeout)(nil)
)

// errNotBuilt is returned by Do on a Timeout not built with New.
var errNotBuilt error = notbuilt.New("timeout: Timeout not built with New")

// New returns a Timeout for cfg, or an error naming the bad field.
func New(cfg Config) (*Timeout, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("timeout: Duration %v must be positive", cfg.Duration)
	}
	name := cfg.Name
	if name == "" {
		name = "timeout"
	}
	return &Timeout{
		name: name,
		d:    cfg.Duration,
		rec:  observe.NewRecorder(observe.KindTimeout, name, cfg.Telemetry),
		key:  observe.StoredKey(cfg.Telemetry.Key),
	}, nil
}

// Name returns the policy's name.
func (t *Timeout) Name() string {
	if t == nil {
		return ""
	}
	return t.name
}

// Duration returns the configured duration.
func (t *Timeout) Duration() time.Duration {
	if t == nil {
		return 0
	}
	return t.d
}

// Do runs op with a context that ends after the configured duration.
//
// If op fails after that deadline fired, Do returns an error that matches
// [ErrTimeout] and [context.DeadlineExceeded] and wraps op's error. If the
// caller's own context ended first (cancelled, or its earlier deadline
// passed), op's error is returned unchanged. If op succeeds, Do returns nil
// even when the deadline fired meanwhile.
//
// Telemetry sees the call's outcome through the caller's ctx: a call that
// the caller's own deadline ended is neutral, not a timeout of this policy.
//
// On a Timeout not built with [New] (a zero or nil one), Do returns an error
// saying so, without running op.
func (t *Timeout) Do(ctx context.Context, op func(context.Context) error) error {
	// New always sets a positive duration.
	if t == nil || t.d <= 0 {
		return errNotBuilt
	}
	s := t.rec.Start(ctx)
	deadline := time.Now().Add(t.d)
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		// The caller's deadline comes first: ours could never fire.
		err := op(ctx)
		t.rec.Done(ctx, s, observe.Classify(ctx, err))
		return err
	}
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel() // also when op panics: the timer must not outlive the call
	err := op(tctx)
	// Our deadline may have passed a moment before its timer fired: a
	// transport that enforces deadlines itself (gRPC) can report it first.
	fired := err != nil && (tctx.Err() != nil || !time.Now().Before(deadline)) && !resilience.ContextDone(ctx)
	if fired {
		t.rec.TimedOut(ctx, s, t.d) // outcome timeout and the resilience.timeout event
		return &Error{Name: t.name, Duration: t.d, Err: err}
	}
	t.rec.Done(ctx, s, observe.Classify(ctx, err))
	return err
}

// Status reports the configured duration, for [telemetry.StatusHandler]. A
// nil *Timeout reports an empty timeout status, as the zero Timeout does.
func (t *Timeout) Status() telemetry.Status {
	if t == nil {
		return telemetry.Status{Kind: string(observe.KindTimeout), Timeout: &telemetry.TimeoutStatus{}}
	}
	return telemetry.Status{
		Kind:    string(observe.KindTimeout),
		Name:    t.name,
		Key:     t.key,
		Timeout: &telemetry.TimeoutStatus{Seconds: t.d.Seconds()},
	}
}

// Error is the error a [Timeout] returns when its deadline ended a call. It
// matches [ErrTimeout] and [context.DeadlineExceeded] and unwraps to the
// error op returned.
type Error struct {
	Name     string        // the policy's name
	Duration time.Duration // the deadline that fired
	Err      error         // what op returned
}

// Error names the policy, its deadline and the error op returned.
func (e *Error) Error() string {
	return fmt.Sprintf("timeout: %s: deadline of %v exceeded: %v", e.Name, e.Duration, e.Err)
}

// Unwrap returns [ErrTimeout] and the error op returned.
func (e *Error) Unwrap() []error { return []error{ErrTimeout, e.Err} }

// Timeout reports true, like net.Error.
func (e *Error) Timeout() bool { return true }
