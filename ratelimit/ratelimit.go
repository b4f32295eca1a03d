// Package ratelimit provides a policy that caps the rate of calls sent to a
// dependency, built on the token bucket of [golang.org/x/time/rate].
//
// A call that finds a token in the bucket runs at once. A call that does not
// waits for the next token if it comes within MaxWait and before the
// caller's deadline, and is otherwise rejected at once with [ErrLimited],
// which matches [resilience.ErrRejected].
//
// Put it inside the retry policy, next to the bulkhead, so that every attempt
// counts against the rate:
//
//	overall timeout → retry → breaker → rate limit → bulkhead → per-attempt timeout → call
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/notbuilt"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// ErrLimited is the error a [Limiter] returns when it refuses a call because
// the rate limit is reached and the next token does not come within MaxWait
// or before the caller's deadline. It matches [resilience.ErrRejected] under
// [errors.Is].
var ErrLimited = resilience.NewRejection("ratelimit: limited")

// Config configures a [Limiter]. Rate is required; every other field's zero
// value is a documented default.
type Config struct {
	// Name identifies the limiter in errors and telemetry. Empty means
	// "ratelimit".
	Name string

	// Rate is the sustained number of calls per second, as in x/time/rate:
	// rate.Every(100*time.Millisecond) is 10 per second, and rate.Inf
	// means no limit. It must be positive: a zero rate would refuse
	// every call.
	Rate rate.Limit

	// Burst is the most calls allowed at once after a quiet period: the
	// size of the token bucket. Zero means one second's worth of calls at
	// Rate, rounded up, and at least 1. It must not be negative. It is
	// ignored when Rate is rate.Inf.
	Burst int

	// MaxWait is the longest a call over the limit waits for its token.
	// Zero means never wait: a call over the limit is rejected at once. It
	// must not be negative. A call never waits past its context's
	// deadline, whatever MaxWait.
	MaxWait time.Duration

	// Telemetry configures the policy's metrics, span events and logs. The
	// zero value reports to the global OpenTelemetry providers; see package
	// telemetry and its INSTRUMENTS.md.
	Telemetry telemetry.Settings
}

// Limiter is a [resilience.Policy] that limits the rate of calls.
//
// Do runs op in the caller's goroutine, at once when the bucket holds a
// token. Over the limit, Do reserves the next token; if the wait for it fits
// within MaxWait and ends before the caller's deadline, Do waits and then
// runs op, otherwise it gives the reservation back and returns [ErrLimited]
// at once. A caller whose context ends while it waits gets the context's
// error, and its reservation is given back so that later calls do not pay
// for it.
//
// A Limiter is safe for concurrent use. Its zero value is not usable: its Do
// returns an error saying it was not built with [New], without running op,
// and its other methods report an empty limiter (zero rate, burst and
// tokens). A nil *Limiter behaves the same.
type Limiter struct {
	lim     *rate.Limiter
	maxWait time.Duration
	name    string
	key     string            // Config.Telemetry.Key, sanitized, for Status
	rec     *observe.Recorder // nil when telemetry is disabled
}

var (
	_ resilience.Policy        = (*Limiter)(nil)
	_ resilience.Retainer      = (*Limiter)(nil)
	_ telemetry.StatusReporter = (*Limiter)(nil)
)

// errNotBuilt is returned by Do on a Limiter not built with New.
var errNotBuilt error = notbuilt.New("ratelimit: Limiter not built with New")

// New returns a Limiter for cfg, or an error naming the bad field.
func New(cfg Config) (*Limiter, error) {
	switch {
	case !(cfg.Rate > 0): // also NaN
		return nil, fmt.Errorf("ratelimit: Rate %v must be positive (rate.Inf means no limit)", float64(cfg.Rate))
	case cfg.Burst < 0:
		return nil, fmt.Errorf("ratelimit: Burst %d must not be negative (0 means one second's worth)", cfg.Burst)
	case cfg.MaxWait < 0:
		return nil, fmt.Errorf("ratelimit: MaxWait %v must not be negative", cfg.MaxWait)
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = oneSecond(cfg.Rate)
	}
	name := cfg.Name
	if name == "" {
		name = "ratelimit"
	}
	return &Limiter{
		lim:     rate.NewLimiter(cfg.Rate, burst),
		maxWait: cfg.MaxWait,
		name:    name,
		key:     observe.StoredKey(cfg.Telemetry.Key),
		rec:     observe.NewRecorder(observe.KindRateLimit, name, cfg.Telemetry),
	}, nil
}

// oneSecond returns the default burst for r: ceil(r), at least 1, at most
// math.MaxInt32 (for rate.Inf, which ignores the burst).
func oneSecond(r rate.Limit) int {
	b := math.Ceil(float64(r))
	switch {
	case b < 1:
		return 1
	case b > math.MaxInt32:
		return math.MaxInt32
	}
	return int(b)
}

// built reports whether l was built with New, which always sets l.lim.
func (l *Limiter) built() bool { return l != nil && l.lim != nil }

// Name returns the limiter's name.
func (l *Limiter) Name() string {
	if l == nil {
		return ""
	}
	return l.name
}

// Rate returns the sustained number of calls per second.
func (l *Limiter) Rate() rate.Limit {
	if !l.built() {
		return 0
	}
	return l.lim.Limit()
}

// Burst returns the size of the token bucket.
func (l *Limiter) Burst() int {
	if !l.built() {
		return 0
	}
	return l.lim.Burst()
}

// MaxWait returns the longest a call over the limit waits for its token.
func (l *Limiter) MaxWait() time.Duration {
	if l == nil {
		return 0
	}
	return l.maxWait
}

// Tokens returns the number of tokens in the bucket now. It is negative
// while callers wait for tokens they reserved.
func (l *Limiter) Tokens() float64 {
	if !l.built() {
		return 0
	}
	return l.lim.Tokens()
}

// Status returns a snapshot of the limiter's rate, burst and tokens, for a
// status page ([telemetry.StatusHandler]). An unlimited limiter reports
// Limit as rate.Inf, which x/time/rate defines as math.MaxFloat64, and
// Tokens as math.MaxFloat64 too: its bucket is never empty (x/time/rate
// would report the burst it ignores). Every value is finite, as JSON needs.
// A Limiter not built with [New] reports an empty rate-limit status.
func (l *Limiter) Status() telemetry.Status {
	if !l.built() {
		return telemetry.Status{Kind: string(observe.KindRateLimit), RateLimit: &telemetry.RateLimitStatus{}}
	}
	limit, tokens := l.Rate(), l.Tokens()
	if limit == rate.Inf {
		tokens = math.MaxFloat64
	}
	return telemetry.Status{Kind: string(observe.KindRateLimit), Name: l.name, Key: l.key,
		RateLimit: &telemetry.RateLimitStatus{Limit: finite(float64(limit)), Burst: l.Burst(), Tokens: finite(tokens)}}
}

// finite returns x with infinities clamped to ±math.MaxFloat64 and NaN as
// zero, so that encoding/json accepts it (the status handler would answer
// 500 otherwise). x/time/rate keeps its values finite today; this keeps the
// status page working whatever it does.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

// Retain reports whether the bucket is below full. Per-key caches (package
// keyed) keep such a limiter, so that a new one for the same key cannot grant
// a fresh burst.
func (l *Limiter) Retain() bool {
	return l.built() && l.lim.Limit() != rate.Inf && l.lim.Tokens() < float64(l.lim.Burst())
}

// Do runs op if the rate limit allows a call now or within MaxWait, and
// returns op's error. Without running op, it returns the context's error if
// ctx has already ended or ends while the call waits for its token, and
// [ErrLimited] if the token would come too late. On a Limiter not built
// with [New] (a zero or nil one), it returns an error saying so.
//
// Each call that reaches the limiter is recorded once in resilience.calls:
// by op's outcome when op ran, as rejected when the limiter refused it, as
// neutral when the caller gave up waiting. A call whose op panics is not
// recorded.
func (l *Limiter) Do(ctx context.Context, op func(context.Context) error) error {
	if !l.built() {
		return errNotBuilt
	}
	if err := ctx.Err(); err != nil {
		return err // never reached the limiter: not recorded
	}
	s := l.rec.Start(ctx)
	if l.lim.Allow() {
		l.admitted(ctx, 0)
	} else if err := l.wait(ctx); err != nil {
		return err // rejected or abandoned: wait's hooks recorded it
	}
	err := op(ctx)
	l.rec.Done(ctx, s, observe.Classify(ctx, err))
	return err
}

// wait reserves the next token for a call over the limit and waits for it
// (nil), or gives the reservation back (an error).
func (l *Limiter) wait(ctx context.Context) error {
	if l.maxWait == 0 {
		l.rejected(ctx)
		return ErrLimited
	}
	now := time.Now()
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		l.rejected(ctx)
		return ErrLimited
	}
	delay := r.DelayFrom(now)
	if delay == 0 {
		// A token came between Allow and ReserveN.
		l.admitted(ctx, 0)
		return nil
	}
	tooLate := delay > l.maxWait
	if d, ok := ctx.Deadline(); ok && !now.Add(delay).Before(d) {
		// op would start with no time left.
		tooLate = true
	}
	if tooLate {
		// Give the token back so that the calls after this one do not
		// wait for a call that never happens.
		r.CancelAt(now)
		l.rejected(ctx)
		return ErrLimited
	}

	t := time.NewTimer(delay)
	select {
	case <-t.C:
		if ctx.Err() == nil {
			l.admitted(ctx, delay)
			return nil
		}
		// The caller gave up as its token came (select picks either
		// when both are ready): no call for a caller that left.
	case <-ctx.Done():
		t.Stop()
	}
	r.Cancel()
	l.abandoned(ctx, time.Since(now))
	return ctx.Err()
}

// The methods below are the limiter's observable events, the one place
// where its telemetry is recorded (calls by outcome, wait time, the
// resilience.ratelimit.rejected span event). ctx is always the caller's
// context. admitted runs on the success path: it records nothing there.

// admitted records that a call got a token after waiting wait (zero when the
// bucket held one).
func (l *Limiter) admitted(ctx context.Context, wait time.Duration) {
	if wait > 0 {
		l.rec.Waited(ctx, wait, observe.Success)
	}
}

// rejected records that a call was refused with ErrLimited. The limiter
// decides before waiting, so there is no wait to record.
func (l *Limiter) rejected(ctx context.Context) {
	l.rec.Reject(ctx)
}

// abandoned records that a caller's context ended while it waited for its
// token: a neutral outcome, not a rejection.
func (l *Limiter) abandoned(ctx context.Context, wait time.Duration) {
	l.rec.Waited(ctx, wait, observe.Neutral)
	l.rec.Record(ctx, observe.Neutral, wait)
}
