package resilientgrpc

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/preset"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/retry"
)

// Defaults of [NewStandard] that differ from those of the policy packages.
// The others are the packages' own: see NewStandard.
const (
	// DefaultOverallTimeout bounds a unary call as a whole: every attempt
	// and every backoff wait.
	DefaultOverallTimeout = 30 * time.Second

	// DefaultAttemptTimeout bounds one attempt of a unary call. When the
	// overall timeout is set below twice this, the default attempt timeout
	// is half the overall one instead, so that a hung attempt still fails
	// as an attempt (which the breaker counts) rather than run into the
	// overall deadline (which the breaker must count as neutral).
	DefaultAttemptTimeout = 10 * time.Second

	// DefaultBreakerOpenFor is how long a key's circuit breaker stays
	// open before it lets a probe through (±10 %). It is short because a
	// probe is one call every 0.5 to 0.75 s while the key is down, and a
	// recovered key gets its traffic back within 0.8 s of healing: at
	// most the rest of an open period, plus DefaultBreakerProbeFailAfter
	// when a probe was hanging. The per-key bulkhead and the retry budget
	// bound the load meanwhile.
	DefaultBreakerOpenFor = 500 * time.Millisecond

	// DefaultBreakerProbeFailAfter is the breaker's ProbeFailAfter: a probe
	// that has no answer after this long counts as a failure, so that the
	// breaker probes again after DefaultBreakerOpenFor instead of waiting
	// out the hung probe's attempt timeout. The probe is not cancelled: if
	// it succeeds later, the breaker closes, so a slow but healthy key
	// is not shut out. WithBreaker(breaker.Config{ProbeFailAfter:
	// breaker.NoProbeFailAfter}) turns it off (any value at least the breaker's
	// ProbeTimeout does, which the preset sets to the attempt timeout).
	DefaultBreakerProbeFailAfter = 250 * time.Millisecond

	// DefaultBreakerConsecutiveFailures opens a key's breaker after that
	// many failures in a row, so that a total outage trips it within a
	// few calls however long the key was healthy before (the failure-ratio
	// rule must first outweigh the successes still in its window).
	DefaultBreakerConsecutiveFailures = 10

	// DefaultBreakerWindow is the rolling window of the failure-ratio rule
	// (50 % of at least 20 calls).
	DefaultBreakerWindow = 10 * time.Second

	// DefaultMaxInFlightPerKey is the most unary calls in flight for one
	// key, and the most streams open for one key.
	DefaultMaxInFlightPerKey = 100
)

// The names of the standard preset's parts, in errors (and telemetry),
// unless their configuration names them.
const (
	standardName       = "resilientgrpc"
	overallTimeoutName = preset.OverallTimeoutName
	attemptTimeoutName = preset.AttemptTimeoutName
)

// A StandardOption configures [NewStandard]. Every [Option] is also a
// StandardOption, so the options of the interceptors (classifier,
// retryable codes, key function) apply to the preset too. Options are
// applied in order; a later option overrides an earlier one of the same
// kind. An option with a bad value makes NewStandard fail with an error
// that names the option and the value.
type StandardOption interface {
	applyStandard(*standardConfig)
}

type standardOptionFunc func(*standardConfig)

func (f standardOptionFunc) applyStandard(s *standardConfig) { f(s) }

func (f optionFunc) applyStandard(s *standardConfig) { s.opts = append(s.opts, f) }

// standardConfig collects the options of NewStandard: the preset's (nil
// parts are turned off) and the interceptors'.
type standardConfig struct {
	preset.Config
	opts []Option
}

// Standard is the standard preset: a unary and a stream interceptor that
// share a retry policy, with per-key breakers, bulkheads and retry budgets.
// Build one with [NewStandard], and give the same Standard to every
// connection to one dependency so that they share its breakers, bulkheads
// and budgets.
//
// A Standard is safe for concurrent use. The zero value is not usable.
type Standard struct {
	unary      *interceptor
	stream     *interceptor
	unaryKeys  *keyed.Keyed // nil when retry, breaker and bulkhead are off
	streamKeys *keyed.Keyed
	budget     *retry.Budget
}

// NewStandard returns the standard preset: interceptors that run every
// unary call under the recommended chain of policies, with defaults close to
// those of large production gRPC clients,
//
//	overall timeout → retry (with budget) → per-key breaker → per-key bulkhead → per-attempt timeout → call
//
// and every stream under the same chain without the timeouts:
//
//	part                  default                                    change with
//	overall timeout       30 s (unary calls)                         WithOverallTimeout, WithoutOverallTimeout
//	retry                 3 attempts, backoff from 100 ms doubling   WithRetry, WithoutRetry
//	                      to at most 5 s, full jitter; pushback
//	                      honoured up to 30 s
//	retry budget, per     10 % of calls (over 10 s) + 1 retry/s      WithBudget, WithoutBudget
//	key
//	breaker, per key      opens after 10 failures in a row or        WithBreaker, WithoutBreaker
//	                      ≥ 50 % of ≥ 20 calls in a rolling 10 s
//	                      window; open 0.5 s (±10 % jitter), then
//	                      1 probe, failed after 0.25 s without an
//	                      answer (a late success still closes it)
//	bulkhead, per key     100 calls in flight (or streams open),     WithBulkhead, WithoutBulkhead
//	                      no queue
//	per-attempt timeout   10 s, or half the overall timeout when     WithAttemptTimeout, WithoutAttemptTimeout
//	                      that is under 20 s (unary calls)
//	keys                  the full method name, or the target with   WithKeyFunc, WithMaxKeys
//	                      WithKeyFunc(TargetKey); at most 1024 with
//	                      their own breaker and bulkhead, idle ones
//	                      evicted after 10 min
//
// Why these values:
//
//   - 30 s overall, like the request timeouts of common clients and
//     proxies: long enough for three attempts with backoff, short enough
//     that a caller gets an answer while it still wants one; 10 s per
//     attempt. A caller's earlier deadline wins. The client enforces these
//     timeouts; gRPC sends a deadline to the server only when the caller's
//     context has one (the earliest of the caller's and the preset's), so
//     that a call without one does not pay gRPC for a deadline: 5 to 10 %
//     of a loopback call, client and server together. The server of a call
//     that one of the preset's timeouts ends sees it cancelled.
//   - 3 attempts with full jitter and a budget: nearly every transient
//     failure is cured by one or two retries, and the budget keeps a total
//     outage from tripling the load on the failing dependency. The budget
//     is per key: one for all keys would let a busy healthy method's calls
//     pay for retries to a failing one. Only
//     Unavailable is retried (see the package documentation), so a
//     per-attempt timeout is not retried unless WithRetryableCodes adds
//     DeadlineExceeded, which suits idempotent methods only. A failure that
//     opens the key's breaker is not retried: the retry would wait out its
//     backoff to be rejected.
//   - The breaker opens after 10 failures in a row, so that a total outage
//     trips it within a few calls however long the key was healthy before,
//     or when at least half of at least 20 calls in a rolling 10 s window
//     failed, so that a key that fails one call in three is left alone and
//     one that fails every other one gets room to recover. It stays open
//     0.5 s (jittered) rather than the breaker package's 30 s, and a probe
//     with no answer after 0.25 s counts as a failure (without being
//     cancelled: its late success closes the breaker): a probe is one
//     call about every 0.75 s while the key is down, and a key that
//     recovers (a deploy, a failover, the end of a hang) gets its traffic
//     back within 0.8 s, even if it hung a probe just before. While a
//     key hangs, its breaker holds about 13 unary probe calls at a time
//     (one every 0.75 s, each until its 10 s attempt timeout), within the
//     bulkhead's 100; stream probes, which have no timeout, until their
//     callers give up. Across a fleet of N clients, probes add about
//     1.3 × N calls a second to a key that is down.
//   - 100 in flight per key, without a queue: far above what a healthy
//     dependency needs from one client, so it acts only when the
//     dependency slows down, and then sheds at once instead of piling up
//     goroutines.
//
// Streams live as long as their context: no timeout applies to them, and
// they have breakers and bulkheads of their own ([Standard.StreamKeys]),
// apart from the unary calls', so that long-lived streams never take the
// slots of unary calls; a stream holds its bulkhead slot while it is open.
// The breakers of streams ignore Config.SlowCall.
//
// The timeouts are implemented by the interceptor itself, not by
// [timeout.Timeout] policies, so that a call makes one timer rather than
// two, and no deadline that gRPC would send: the policies get a context
// that carries the overall deadline and makes its timer only if one of
// them waits (a retry's backoff), and each attempt's context ends at the
// earlier of the two deadlines, by a pooled timer, and reports that
// deadline to gRPC only if the caller's context has a deadline too. Their errors are [*timeout.Error] values named "overall" and
// "attempt", which match [timeout.ErrTimeout], and leave as
// DeadlineExceeded. An overall timeout that ends an attempt is neutral for
// the breaker, like the caller's own deadline; a per-attempt timeout is a
// failure.
//
// Telemetry is on by default, through the global OpenTelemetry providers
// ([WithTelemetry] changes it): each key's retry (named "resilientgrpc"),
// breaker and bulkhead (named "resilientgrpc", or "resilientgrpc-stream"
// for streams), with the key as resilience.key, so that a retry budget
// that runs out says whose it is, and
// the built-in timeouts of unary calls, which report as policies of kind
// "timeout" named "overall" and "attempt" (outcome timeout when their
// deadline ends the call or the attempt, and the resilience.timeout span
// event). [Standard.Status], [Standard.Keys] and [Standard.StreamKeys]
// serve a status page.
func NewStandard(opts ...StandardOption) (*Standard, error) {
	s := standardConfig{Config: preset.New(standardName)}
	for _, o := range opts {
		if o != nil {
			o.applyStandard(&s)
		}
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}

	var policy resilience.Policy = resilience.Chain()
	// Each key runs a retry of its own (its KeyPolicy's), with its own
	// budget and telemetry keyed by the key; this one validates the
	// options and makes the budget all keys share, if they set one.
	_, budget, err := s.NewRetry()
	if err != nil {
		return nil, err
	}

	std := &Standard{budget: budget}
	if unary, ok := s.PerKey(); ok {
		stream := unary
		// A stream probe with no first message after ProbeFailAfter reopens
		// the breaker; its first message, if it comes within ProbeTimeout
		// (the attempt timeout, as for unary probes), still closes it, so a
		// stream that is slow to send its first message is not shut out.
		// With ProbeFailAfter off, a stream probe's slot expires after
		// OpenFor, as the breaker's own default.
		stream.Name, stream.NoSlowCalls, stream.Streams = standardName+"-stream", true, true
		if err := unary.Check(); err != nil {
			return nil, err
		}
		if std.unaryKeys, err = s.NewKeyed(unary.Name, "WithMaxKeys", keyFactory(unary, false)); err != nil {
			return nil, err
		}
		if std.streamKeys, err = s.NewKeyed(stream.Name, "WithMaxKeys", keyFactory(stream, true)); err != nil {
			return nil, err
		}
	}
	std.unary = newInterceptor(policy, std.unaryKeys, s.opts)
	std.unary.overall, std.unary.attempt = s.Overall, s.Attempt
	std.unary.overallRec, std.unary.attemptRec = s.OverallRecorder(), s.AttemptRecorder()
	std.unary.startIsAttempt = s.Bulkhead == nil || s.Bulkhead.MaxQueue == 0
	std.stream = newInterceptor(policy, std.streamKeys, s.opts)
	// The shared policies' span events want the call's key.
	retryTel := s.RetryTelemetry()
	std.unary.spanKey = retryTel || std.unary.overallRec != nil || std.unary.attemptRec != nil
	std.stream.spanKey = retryTel
	return std, nil
}

// keyFactory returns the factory of the per-key policies, of streams when
// stream is true.
func keyFactory(perKey preset.PerKey, stream bool) keyed.Factory {
	return func(key string) (resilience.Policy, error) {
		br, bh, chain, err := perKey.Policies(key)
		if err != nil {
			return nil, err
		}
		r, err := perKey.Retry(key)
		if err != nil {
			return nil, err
		}
		return &KeyPolicy{Retry: r, Breaker: br, Bulkhead: bh, Budget: r.Budget(), chain: chain, stream: stream, name: perKey.Name, key: observe.StoredKey(key)}, nil
	}
}

// KeyPolicy is the policy the standard preset keeps for each key (a
// method, or a target): the key's retry (with its budget) around its
// circuit breaker, then its bulkhead.
// [Standard.Keys] and [Standard.StreamKeys] reach them, for status pages:
//
//	std.Keys().Range(func(method string, p resilience.Policy) bool {
//		if k, ok := p.(*resilientgrpc.KeyPolicy); ok && k.Breaker != nil {
//			fmt.Println(method, k.Breaker.State())
//		}
//		return true
//	})
//
// Calls made through a KeyPolicy directly are not seen by the Keyed that
// holds it. A KeyPolicy is safe for concurrent use; its zero value runs
// calls under no policy (Do runs the breaker and the bulkhead; the
// interceptor runs Retry around it). It reports the status of its retry,
// breaker and bulkhead ([KeyPolicy.Status]), so that the status of
// Standard.Keys() shows each key's breaker state and budget.
type KeyPolicy struct {
	// Retry is the key's retry, which runs a call's attempts through the
	// breaker and the bulkhead; its telemetry is keyed by the key (a
	// key's streams have a retry apart from its unary calls'). Nil after
	// WithoutRetry.
	Retry    *retry.Retry
	Breaker  *breaker.Breaker   // nil after WithoutBreaker
	Bulkhead *bulkhead.Bulkhead // nil after WithoutBulkhead
	// Budget is Retry's budget: the key's own, or the one all keys share
	// (WithBudget). Nil after WithoutBudget or WithoutRetry.
	Budget *retry.Budget
	chain  resilience.Policy
	stream bool   // the breaker learns a stream's outcome at its first message
	name   string // for Status: the preset's name
	key    string // for Status: the key, sanitized
}

var (
	_ resilience.Policy   = (*KeyPolicy)(nil)
	_ resilience.Retainer = (*KeyPolicy)(nil)
)

// Do runs op under the breaker, then the bulkhead. A failure that leaves the
// breaker open (it opened it, or reopened it as a probe) is marked so that
// the preset's retry does not retry it: the retry would wait out its backoff
// only to be rejected.
//
// For the preset's streams, the breaker counts a stream by how it ends,
// except a probe (a stream admitted while the breaker is not closed), which
// counts as a success as soon as its first message arrives; the bulkhead
// slot is held until the stream ends. Were a probe's outcome known only at
// the end, a half-open breaker whose probe is a long, healthy stream would
// free the probe's slot after its deadline, ignore the probe's late
// success, and stay half-open for as long as new streams keep coming.
func (k *KeyPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	if k.chain == nil {
		return op(ctx)
	}
	if !k.stream || k.Breaker == nil {
		return stopRetriesIfOpen(k.Breaker, k.chain.Do(ctx, op))
	}
	// A probe (the breaker is not closed) counts at its first message, so
	// that a long, healthy stream closes a half-open breaker at once; any
	// other stream counts when it ends, so that a stream that fails after
	// its first message counts as the failure it is.
	probe := k.Breaker.State() != breaker.StateClosed
	done, err := k.Breaker.Allow(ctx)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned {
			done(errStreamPanicked) // a failure; the panic goes on
		}
	}()
	if probe {
		report := done
		if outer, ok := ctx.Value(firstMessageKey{}).(func(error)); ok {
			// A breaker outside this one (StreamBreakers nested in
			// one chain) learns of the first message too.
			report = func(err error) { done(err); outer(err) }
		}
		ctx = context.WithValue(ctx, firstMessageKey{}, report)
	}
	if k.Bulkhead != nil {
		err = k.Bulkhead.Do(ctx, op)
	} else {
		err = op(ctx)
	}
	returned = true
	done(err) // does nothing if the first message already reported
	return stopRetriesIfOpen(k.Breaker, err)
}

// stopRetriesIfOpen is preset.StopRetriesIfOpen, which for an attempt's
// error sets its permanence flag rather than wrap it, so that the caller
// still gets gRPC's own error.
func stopRetriesIfOpen(br *breaker.Breaker, err error) error {
	if a, ok := err.(*attemptErr); ok {
		if preset.LeftOpen(br, err) {
			a.permanent = true
		}
		return a
	}
	return preset.StopRetriesIfOpen(br, err)
}

// firstMessageKey is the context key of the function that reports a
// stream's success to its breaker when its first message arrives.
type firstMessageKey struct{}

var errStreamPanicked = errors.New("resilientgrpc: the stream's policy panicked")

// Retain reports whether the key's state must survive eviction: its breaker
// is open or awaits a probe ([breaker.Breaker.Retain]), or its bulkhead has
// calls in flight.
func (k *KeyPolicy) Retain() bool {
	return k.Breaker != nil && k.Breaker.Retain() || k.Bulkhead != nil && k.Bulkhead.Retain()
}

// UnaryClientInterceptor returns the preset's unary interceptor.
func (s *Standard) UnaryClientInterceptor() grpc.UnaryClientInterceptor { return s.unary.unary }

// StreamClientInterceptor returns the preset's stream interceptor.
func (s *Standard) StreamClientInterceptor() grpc.StreamClientInterceptor { return s.stream.stream }

// DialOptions returns the dial options that install both interceptors,
// and grpc.WithDisableRetry:
//
//	conn, err := grpc.NewClient(target, append(std.DialOptions(), creds)...)
//
// gRPC's own retries (a service config's retryPolicy) would otherwise run
// several attempts under each of the preset's, outside its budget, its
// breaker's count and its per-attempt timeout.
func (s *Standard) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(s.StreamClientInterceptor()),
		grpc.WithDisableRetry(),
	}
}

// StreamBreaker returns b as a policy for [StreamClientInterceptor] that
// learns a stream's outcome as the standard preset's stream breakers do: by
// how it ends, except a probe (admitted while b is not closed), which is a
// success as soon as its first message arrives. StreamBreakers nested in
// one chain each learn of the first message.
// A plain breaker in a stream policy counts a stream when it ends, so a
// half-open breaker whose probe is a long, healthy stream (a watch) frees
// the probe's slot after its ProbeTimeout, ignores the late success and
// stays half-open, admitting one stream per ProbeTimeout. Put StreamBreaker
// where the breaker would be in the chain; for unary calls use b itself. A
// nil b runs streams under no breaker.
func StreamBreaker(b *breaker.Breaker) resilience.Policy {
	if b == nil {
		return resilience.Chain()
	}
	return &KeyPolicy{Breaker: b, chain: b, stream: true, name: b.Name()}
}

// Keys returns the per-key policies of unary calls: a [keyed.Keyed] whose
// instances are [*KeyPolicy] values. It returns nil when the retry, the
// breaker and the bulkhead are all turned off.
func (s *Standard) Keys() *keyed.Keyed { return s.unaryKeys }

// StreamKeys returns the per-key policies of streams, like [Standard.Keys].
func (s *Standard) StreamKeys() *keyed.Keyed { return s.streamKeys }

// Budget returns the retry budget that all the preset's calls share, set by
// [WithBudget], for a status page ([retry.Budget.State]). It returns nil
// when retries or the budget are turned off, and by default, when each key
// has a budget of its own ([KeyPolicy.Budget]).
func (s *Standard) Budget() *retry.Budget { return s.budget }

// WithOverallTimeout sets how long a unary call may take as a whole: all
// its attempts and the waits between them. d must be positive. The default
// is [DefaultOverallTimeout]. A caller's context with an earlier deadline
// bounds the call by that deadline instead.
func WithOverallTimeout(d time.Duration) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetOverallTimeout(d) })
}

// WithoutOverallTimeout turns the overall timeout off: only the caller's
// context and the per-attempt timeouts bound a call.
func WithoutOverallTimeout() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoOverallTimeout() })
}

// WithAttemptTimeout sets how long one attempt of a unary call may take. d
// must be positive. The default is [DefaultAttemptTimeout]. An attempt never
// runs past the overall deadline, whatever d is.
func WithAttemptTimeout(d time.Duration) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetAttemptTimeout(d) })
}

// WithoutAttemptTimeout turns the per-attempt timeout off: an attempt may
// take up to the overall deadline.
func WithoutAttemptTimeout() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoAttemptTimeout() })
}

// WithRetry sets the retry policy's configuration. Zero fields take the
// retry package's defaults (3 attempts, backoff from 100 ms doubling up to
// 5 s with full jitter, pushback honoured up to 30 s), and an empty Name is
// "resilientgrpc". Which errors are retried is the interceptor's decision
// ([WithRetryableCodes]): leave ShouldRetry nil. cfg.Budget, if not nil,
// becomes the preset's budget, as with [WithBudget]. A configuration that
// [retry.New] refuses makes NewStandard fail.
func WithRetry(cfg retry.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetRetry(cfg) })
}

// WithoutRetry turns retries off: every call is sent once.
func WithoutRetry() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoRetry() })
}

// WithBudget sets one retry budget for all keys, which limits their
// retries together; share one budget between presets to limit them
// together. The default is a budget of its own for each key (and for a
// key's streams another), made by retry.NewBudget
// with the default configuration: retries of at most 10 % of the calls of
// the last 10 s, plus one per second. b must have been made by
// [retry.NewBudget].
func WithBudget(b *retry.Budget) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetBudget(b) })
}

// WithoutBudget lets every call retry up to its attempts, with no budget.
func WithoutBudget() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoBudget() })
}

// WithBreaker sets the configuration of each key's circuit breaker. Zero
// fields take the preset's defaults, then the breaker package's:
//
//   - the trip rules: when ConsecutiveFailures, FailureRatio and MinCalls
//     are all zero, [DefaultBreakerConsecutiveFailures] in a row or
//     [breaker.DefaultFailureRatio] of at least [breaker.DefaultMinCalls]
//     calls; setting any of the three sets the rules to exactly those set
//     (ConsecutiveFailures alone turns the ratio rule off);
//   - Window: [DefaultBreakerWindow]; OpenFor: [DefaultBreakerOpenFor];
//   - ProbeFailAfter: [DefaultBreakerProbeFailAfter] ([breaker.NoProbeFailAfter] turns
//     the rule off); ProbeTimeout: the attempt timeout (the overall one
//     without it) when that is longer than OpenFor (for streams, only
//     while ProbeFailAfter is on);
//   - Name: "resilientgrpc" ("resilientgrpc-stream" for streams);
//     Telemetry.Key: the key.
//
// A configuration that [breaker.New] refuses makes NewStandard fail. The hooks (OnStateChange, …) are shared by the
// breakers of all keys.
func WithBreaker(cfg breaker.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetBreaker(cfg) })
}

// WithoutBreaker turns the per-key circuit breakers off.
func WithoutBreaker() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoBreaker() })
}

// WithBulkhead sets the configuration of each key's bulkhead. Zero fields
// take the bulkhead package's defaults, except MaxConcurrent, which
// defaults to [DefaultMaxInFlightPerKey], Name, which defaults to
// "resilientgrpc" ("resilientgrpc-stream" for streams), and Telemetry.Key,
// which defaults to the key. A configuration that [bulkhead.New] refuses
// makes NewStandard fail.
func WithBulkhead(cfg bulkhead.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetBulkhead(cfg) })
}

// WithoutBulkhead turns the per-key bulkheads off.
func WithoutBulkhead() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoBulkhead() })
}

// WithMaxKeys sets the most keys that get a retry (and budget), a breaker
// and a bulkhead of their own ([keyed.Config.MaxKeys]), for unary calls and
// for streams each; further keys share one overflow instance, budget
// included, until idle keys are evicted. n
// must be positive. The default is [keyed.DefaultMaxKeys].
func WithMaxKeys(n int) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetMaxKeys("WithMaxKeys", "keys", n) })
}
