package resilientgrpc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// Defaults of [NewStandard] that differ from those of the policy packages.
// The others are the packages' own: see NewStandard.
const (
	// DefaultOverallTimeout bounds a unary call as a whole: every attempt
	// and every backoff wait.
	DefaultOverallTimeout = 30 * time.Second

	// DefaultAttemptTimeout bounds one attempt. When the overall timeout is
	// set below twice this, the default attempt timeout is half the overall
	// one instead, so that a hung attempt still fails as an attempt (which
	// the breaker counts and the retry retries) rather than run into the
	// overall deadline (which the breaker must count as neutral).
	//
	// DefaultAttemptTimeout bounds one attempt of a unary call.
	DefaultAttemptTimeout = 10 * time.Second

	// DefaultBreakerOpenFor is how long a key's circuit breaker stays
	// open before it lets a probe through. It is short because a probe is
	// cheap (one request per second while the key is down) and a recovered
	// key should get its traffic back within about a second; the per-key
	// bulkhead and the retry budget bound the load meanwhile.
	DefaultBreakerOpenFor = time.Second

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
	overallTimeoutName = "overall"
	attemptTimeoutName = "attempt"
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

// standardConfig collects the options of NewStandard. Nil parts are turned
// off.
type standardConfig struct {
	opts       []Option
	overall    time.Duration // 0: off
	attempt    time.Duration // 0: off
	attemptSet bool          // WithAttemptTimeout or WithoutAttemptTimeout was given
	retry      *retry.Config
	budget     *retry.Budget
	noBudget   bool // WithoutBudget: budget stays nil
	breaker    *breaker.Config
	bulkhead   *bulkhead.Config
	maxKeys    int
	tel        telemetry.Settings // WithTelemetry's, Key cleared
	hasTel     bool               // WithTelemetry was given
	err        error              // the first bad option
}

// probeTimeout is how long a half-open probe may take: as long as an
// attempt may.
func (s *standardConfig) probeTimeout() time.Duration {
	if s.attempt > 0 {
		return s.attempt
	}
	return s.overall
}

func (s *standardConfig) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("resilientgrpc: "+format, args...)
	}
}

// Standard is the standard preset: a unary and a stream interceptor that
// share a retry budget, with per-key breakers and bulkheads. Build one with
// [NewStandard], and give the same Standard to every connection to one
// dependency so that they share its breakers, bulkheads and budget.
//
// A Standard is safe for concurrent use. The zero value is not usable.
type Standard struct {
	unary      *interceptor
	stream     *interceptor
	unaryKeys  *keyed.Keyed // nil when both breaker and bulkhead are off
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
//	retry budget          10 % of calls (over 10 s) + 1 retry/s,     WithBudget, WithoutBudget
//	                      shared by all keys
//	breaker, per key      opens after 10 failures in a row or        WithBreaker, WithoutBreaker
//	                      ≥ 50 % of ≥ 20 calls in a rolling 10 s
//	                      window; open 1 s (±10 % jitter), then
//	                      1 probe
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
//     attempt. A caller's earlier deadline wins, and gRPC sends the
//     deadline to the server.
//   - 3 attempts with full jitter and a budget: nearly every transient
//     failure is cured by one or two retries, and the budget keeps a total
//     outage from tripling the load on the failing dependency. Only
//     Unavailable is retried (see the package documentation), so a
//     per-attempt timeout is not retried unless WithRetryableCodes adds
//     DeadlineExceeded, which suits idempotent methods only.
//   - The breaker opens after 10 failures in a row, so that a total outage
//     trips it within a few calls however long the key was healthy before,
//     or when at least half of at least 20 calls in a rolling 10 s window
//     failed, so that a key that fails one call in three is left alone and
//     one that fails every other one gets room to recover. It stays open
//     1 s (jittered) rather than the breaker package's 30 s: a probe is one
//     call per second while the key is down, and a key that recovers (a
//     deploy, a failover) gets its traffic back within about a second. A
//     probe may take as long as an attempt before its slot expires.
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
// [timeout.Timeout] policies, so that a call makes one context with a timer
// rather than two: the policies get a context that carries the overall
// deadline and makes its timer only if one of them waits (a retry's
// backoff), and each attempt's context carries the earlier of the two
// deadlines. Their errors are [*timeout.Error] values named "overall" and
// "attempt", which match [timeout.ErrTimeout], and leave as
// DeadlineExceeded. An overall timeout that ends an attempt is neutral for
// the breaker, like the caller's own deadline; a per-attempt timeout is a
// failure.
//
// Telemetry is on by default, through the global OpenTelemetry providers
// ([WithTelemetry] changes it): the retry (named "resilientgrpc"), each
// key's breaker and bulkhead (named "resilientgrpc", or
// "resilientgrpc-stream" for streams, with the key as resilience.key) and
// the built-in timeouts of unary calls, which report as policies of kind
// "timeout" named "overall" and "attempt" (outcome timeout when their
// deadline ends the call or the attempt, and the resilience.timeout span
// event). [Standard.Status], [Standard.Keys] and [Standard.StreamKeys]
// serve a status page.
func NewStandard(opts ...StandardOption) (*Standard, error) {
	s := standardConfig{
		overall:  DefaultOverallTimeout,
		attempt:  DefaultAttemptTimeout,
		retry:    &retry.Config{},
		breaker:  &breaker.Config{},
		bulkhead: &bulkhead.Config{},
	}
	for _, o := range opts {
		if o != nil {
			o.applyStandard(&s)
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	if !s.attemptSet && s.overall > 0 && s.overall < 2*s.attempt {
		s.attempt = s.overall / 2
	}

	var policy resilience.Policy = resilience.Chain()
	var budget *retry.Budget
	if s.retry != nil {
		if s.budget == nil && !s.noBudget {
			b, err := retry.NewBudget(retry.BudgetConfig{})
			if err != nil {
				return nil, fmt.Errorf("resilientgrpc: retry budget: %w", err)
			}
			s.budget = b
		}
		cfg := *s.retry
		if cfg.Name == "" {
			cfg.Name = standardName
		}
		cfg.Budget = s.budget
		cfg.Telemetry = s.telemetryFor(cfg.Telemetry)
		r, err := retry.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("resilientgrpc: WithRetry: %w", err)
		}
		policy, budget = r, s.budget
	}

	std := &Standard{budget: budget}
	if s.breaker != nil || s.bulkhead != nil {
		// Copies: the options' configurations may serve other presets.
		if s.breaker != nil {
			c := *s.breaker
			c.Telemetry = s.telemetryFor(c.Telemetry)
			s.breaker = &c
		}
		if s.bulkhead != nil {
			c := *s.bulkhead
			c.Telemetry = s.telemetryFor(c.Telemetry)
			s.bulkhead = &c
		}
		// Streams have no timeouts: their probes keep the breaker's own slot expiry.
		unary, stream := keyFactory(s.breaker, s.bulkhead, false, s.probeTimeout()), keyFactory(s.breaker, s.bulkhead, true, 0)
		// Build one now, so that a bad configuration fails here rather
		// than at the first call.
		if _, err := unary(""); err != nil {
			return nil, err
		}
		var err error
		cfg := keyed.Config{Name: standardName, MaxKeys: s.maxKeys}
		if std.unaryKeys, err = keyed.New(cfg, unary); err != nil {
			return nil, fmt.Errorf("resilientgrpc: WithMaxKeys: %w", err)
		}
		cfg.Name += "-stream"
		if std.streamKeys, err = keyed.New(cfg, stream); err != nil {
			return nil, fmt.Errorf("resilientgrpc: WithMaxKeys: %w", err)
		}
	}
	std.unary = newInterceptor(policy, std.unaryKeys, s.opts)
	std.unary.overall, std.unary.attempt = s.overall, s.attempt
	if s.overall > 0 {
		std.unary.overallRec = observe.NewRecorder(observe.KindTimeout, overallTimeoutName, s.tel)
	}
	if s.attempt > 0 {
		std.unary.attemptRec = observe.NewRecorder(observe.KindTimeout, attemptTimeoutName, s.tel)
	}
	std.stream = newInterceptor(policy, std.streamKeys, s.opts)
	// The shared policies' span events want the call's key.
	retryTel := s.retry != nil && !s.telemetryFor(s.retry.Telemetry).Disabled
	std.unary.spanKey = retryTel || std.unary.overallRec != nil || std.unary.attemptRec != nil
	std.stream.spanKey = retryTel
	return std, nil
}

// keyFactory returns the factory of the per-key policies.
func keyFactory(brCfg *breaker.Config, bhCfg *bulkhead.Config, stream bool, probeTimeout time.Duration) keyed.Factory {
	name := standardName
	if stream {
		name += "-stream"
	}
	return func(key string) (resilience.Policy, error) {
		k := &KeyPolicy{name: name, key: observe.SanitizeKey(key)}
		if brCfg != nil {
			cfg := *brCfg
			if cfg.Name == "" {
				cfg.Name = name
			}
			if cfg.OpenFor == 0 {
				cfg.OpenFor = DefaultBreakerOpenFor
			}
			if cfg.ConsecutiveFailures == 0 && cfg.FailureRatio == 0 && cfg.MinCalls == 0 {
				cfg.ConsecutiveFailures = DefaultBreakerConsecutiveFailures
				cfg.FailureRatio = breaker.DefaultFailureRatio
				cfg.MinCalls = breaker.DefaultMinCalls
			}
			if cfg.Window == 0 {
				cfg.Window = DefaultBreakerWindow
			}
			if cfg.ProbeTimeout == 0 && probeTimeout > cfg.OpenFor {
				// A probe may take as long as an attempt; a shorter slot
				// would expire under a slow but healthy probe and ignore
				// its report.
				cfg.ProbeTimeout = probeTimeout
			}
			if cfg.Telemetry.Key == "" {
				cfg.Telemetry.Key = key
			}
			if stream {
				// A stream's length says nothing about the dependency.
				cfg.SlowCall = 0
			}
			br, err := breaker.New(cfg)
			if err != nil {
				return nil, fmt.Errorf("resilientgrpc: WithBreaker: %w", err)
			}
			k.Breaker = br
		}
		if bhCfg != nil {
			cfg := *bhCfg
			if cfg.Name == "" {
				cfg.Name = name
			}
			if cfg.MaxConcurrent == 0 {
				cfg.MaxConcurrent = DefaultMaxInFlightPerKey
			}
			if cfg.Telemetry.Key == "" {
				cfg.Telemetry.Key = key
			}
			bh, err := bulkhead.New(cfg)
			if err != nil {
				return nil, fmt.Errorf("resilientgrpc: WithBulkhead: %w", err)
			}
			k.Bulkhead = bh
		}
		var parts []resilience.Policy
		if k.Breaker != nil {
			parts = append(parts, k.Breaker)
		}
		if k.Bulkhead != nil {
			parts = append(parts, k.Bulkhead)
		}
		// A chain lends frames, so that a call through both allocates
		// nothing.
		k.chain = resilience.Chain(parts...)
		return k, nil
	}
}

// KeyPolicy is the policy the standard preset keeps for each key (a
// method, or a target): the key's circuit breaker, then its bulkhead.
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
// calls under no policy. It reports the status of its breaker and bulkhead
// ([KeyPolicy.Status]), so that the status of Standard.Keys() shows each
// key's breaker state.
type KeyPolicy struct {
	Breaker  *breaker.Breaker   // nil after WithoutBreaker
	Bulkhead *bulkhead.Bulkhead // nil after WithoutBulkhead
	chain    resilience.Policy
	name     string // for Status: the preset's name
	key      string // for Status: the key, sanitized
}

var (
	_ resilience.Policy   = (*KeyPolicy)(nil)
	_ resilience.Retainer = (*KeyPolicy)(nil)
)

// Do runs op under the breaker, then the bulkhead.
func (k *KeyPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	if k.chain == nil {
		return op(ctx)
	}
	return k.chain.Do(ctx, op)
}

// Retain reports whether the key's state must survive eviction: its breaker
// is not closed, or its bulkhead has calls in flight.
func (k *KeyPolicy) Retain() bool {
	return k.Breaker != nil && k.Breaker.Retain() || k.Bulkhead != nil && k.Bulkhead.Retain()
}

// UnaryClientInterceptor returns the preset's unary interceptor.
func (s *Standard) UnaryClientInterceptor() grpc.UnaryClientInterceptor { return s.unary.unary }

// StreamClientInterceptor returns the preset's stream interceptor.
func (s *Standard) StreamClientInterceptor() grpc.StreamClientInterceptor { return s.stream.stream }

// DialOptions returns the dial options that install both interceptors:
//
//	conn, err := grpc.NewClient(target, append(std.DialOptions(), creds)...)
func (s *Standard) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(s.StreamClientInterceptor()),
	}
}

// Keys returns the per-key policies of unary calls: a [keyed.Keyed] whose
// instances are [*KeyPolicy] values. It returns nil when both the breaker
// and the bulkhead are turned off.
func (s *Standard) Keys() *keyed.Keyed { return s.unaryKeys }

// StreamKeys returns the per-key policies of streams, like [Standard.Keys].
func (s *Standard) StreamKeys() *keyed.Keyed { return s.streamKeys }

// Budget returns the retry budget shared by all the preset's calls, for a
// status page ([retry.Budget.State]). It returns nil when retries or the
// budget are turned off.
func (s *Standard) Budget() *retry.Budget { return s.budget }

// WithOverallTimeout sets how long a unary call may take as a whole: all
// its attempts and the waits between them. d must be positive. The default
// is [DefaultOverallTimeout]. A caller's context with an earlier deadline
// bounds the call by that deadline instead.
func WithOverallTimeout(d time.Duration) StandardOption {
	return standardOptionFunc(func(s *standardConfig) {
		if d <= 0 {
			s.fail("WithOverallTimeout(%v): the timeout must be positive (WithoutOverallTimeout turns it off)", d)
			return
		}
		s.overall = d
	})
}

// WithoutOverallTimeout turns the overall timeout off: only the caller's
// context and the per-attempt timeouts bound a call.
func WithoutOverallTimeout() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.overall = 0 })
}

// WithAttemptTimeout sets how long one attempt of a unary call may take. d
// must be positive. The default is [DefaultAttemptTimeout]. An attempt never
// runs past the overall deadline, whatever d is.
func WithAttemptTimeout(d time.Duration) StandardOption {
	return standardOptionFunc(func(s *standardConfig) {
		if d <= 0 {
			s.fail("WithAttemptTimeout(%v): the timeout must be positive (WithoutAttemptTimeout turns it off)", d)
			return
		}
		s.attempt, s.attemptSet = d, true
	})
}

// WithoutAttemptTimeout turns the per-attempt timeout off: an attempt may
// take up to the overall deadline.
func WithoutAttemptTimeout() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.attempt, s.attemptSet = 0, true })
}

// WithRetry sets the retry policy's configuration. Zero fields take the
// retry package's defaults (3 attempts, backoff from 100 ms doubling up to
// 5 s with full jitter, pushback honoured up to 30 s), and an empty Name is
// "resilientgrpc". Which errors are retried is the interceptor's decision
// ([WithRetryableCodes]): leave ShouldRetry nil. cfg.Budget, if not nil,
// becomes the preset's budget, as with [WithBudget]. A configuration that
// [retry.New] refuses makes NewStandard fail.
func WithRetry(cfg retry.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) {
		s.retry = &cfg
		if cfg.Budget != nil {
			s.budget, s.noBudget = cfg.Budget, false
		}
	})
}

// WithoutRetry turns retries off: every call is sent once.
func WithoutRetry() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.retry = nil })
}

// WithBudget sets the retry budget, which limits the retries of all keys
// together; share one budget between presets to limit them together. The
// default is a budget of its own for each preset, made by retry.NewBudget
// with the default configuration: retries of at most 10 % of the calls of
// the last 10 s, plus one per second. b must have been made by
// [retry.NewBudget].
func WithBudget(b *retry.Budget) StandardOption {
	return standardOptionFunc(func(s *standardConfig) {
		if b == nil {
			s.fail("WithBudget(nil): the budget must not be nil (WithoutBudget turns it off)")
			return
		}
		if _, err := retry.New(retry.Config{Budget: b}); err != nil {
			s.fail("WithBudget(%p): %w", b, err)
			return
		}
		s.budget, s.noBudget = b, false
	})
}

// WithoutBudget lets every call retry up to its attempts, with no budget.
func WithoutBudget() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.budget, s.noBudget = nil, true })
}

// WithBreaker sets the configuration of each key's circuit breaker. Zero
// fields take the breaker package's defaults, except OpenFor, which
// defaults to [DefaultBreakerOpenFor], Name, which defaults to
// "resilientgrpc" ("resilientgrpc-stream" for streams), and Telemetry.Key,
// which defaults to the key. A configuration that [breaker.New] refuses
// makes NewStandard fail. The hooks (OnStateChange, …) are shared by the
// breakers of all keys.
func WithBreaker(cfg breaker.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.breaker = &cfg })
}

// WithoutBreaker turns the per-key circuit breakers off.
func WithoutBreaker() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.breaker = nil })
}

// WithBulkhead sets the configuration of each key's bulkhead. Zero fields
// take the bulkhead package's defaults, except MaxConcurrent, which
// defaults to [DefaultMaxInFlightPerKey], Name, which defaults to
// "resilientgrpc" ("resilientgrpc-stream" for streams), and Telemetry.Key,
// which defaults to the key. A configuration that [bulkhead.New] refuses
// makes NewStandard fail.
func WithBulkhead(cfg bulkhead.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.bulkhead = &cfg })
}

// WithoutBulkhead turns the per-key bulkheads off.
func WithoutBulkhead() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.bulkhead = nil })
}

// WithMaxKeys sets the most keys that get a breaker and a bulkhead of their
// own ([keyed.Config.MaxKeys]), for unary calls and for streams each;
// further keys share one overflow instance until idle keys are evicted. n
// must be positive. The default is [keyed.DefaultMaxKeys].
func WithMaxKeys(n int) StandardOption {
	return standardOptionFunc(func(s *standardConfig) {
		if n <= 0 {
			s.fail("WithMaxKeys(%d): the number of keys must be positive", n)
			return
		}
		s.maxKeys = n
	})
}
