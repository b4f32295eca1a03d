package resilienthttp

import (
	"context"
	"net/http"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/preset"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// Defaults of [NewStandardTransport] that differ from those of the policy
// packages. The others are the packages' own: see NewStandardTransport.
const (
	// DefaultOverallTimeout bounds a request as a whole: every attempt,
	// every backoff wait, and reading the response body.
	DefaultOverallTimeout = 30 * time.Second

	// DefaultAttemptTimeout bounds one attempt. When the overall timeout is
	// set below twice this, the default attempt timeout is half the overall
	// one instead, so that a hung attempt still fails as an attempt (which
	// the breaker counts and the retry retries) rather than run into the
	// overall deadline (which the breaker must count as neutral). The
	// attempt's time includes reading the response body.
	DefaultAttemptTimeout = 10 * time.Second

	// DefaultBreakerOpenFor is how long a host's circuit breaker stays
	// open before it lets a probe through (±10 %). It is short because a
	// probe is one call every 0.5 to 0.75 s while the host is down, and a
	// recovered host gets its traffic back within 0.8 s of healing: at
	// most the rest of an open period, plus DefaultBreakerProbeFailAfter
	// when a probe was hanging. The per-host bulkhead and the retry budget
	// bound the load meanwhile.
	DefaultBreakerOpenFor = 500 * time.Millisecond

	// DefaultBreakerProbeFailAfter is the breaker's ProbeFailAfter: a probe
	// that has no answer after this long counts as a failure, so that the
	// breaker probes again after DefaultBreakerOpenFor instead of waiting
	// out the hung probe's attempt timeout. The probe is not cancelled: if
	// it succeeds later, the breaker closes, so a slow but healthy host
	// is not shut out. WithBreaker(breaker.Config{ProbeFailAfter:
	// breaker.NoProbeFailAfter}) turns it off (any value at least the breaker's
	// ProbeTimeout does, which the preset sets to the attempt timeout).
	DefaultBreakerProbeFailAfter = 250 * time.Millisecond

	// DefaultBreakerConsecutiveFailures opens a host's breaker after that
	// many failures in a row, so that a total outage trips it within a
	// few calls however long the host was healthy before (the failure-ratio
	// rule must first outweigh the successes still in its window).
	DefaultBreakerConsecutiveFailures = 10

	// DefaultBreakerWindow is the rolling window of the failure-ratio rule
	// (50 % of at least 20 calls).
	DefaultBreakerWindow = 10 * time.Second

	// DefaultMaxInFlightPerHost is the most requests in flight to one host.
	DefaultMaxInFlightPerHost = 100
)

// The names of the standard transport's parts, in errors (and telemetry),
// unless their configuration names them.
const (
	standardName       = "resilienthttp"
	overallTimeoutName = preset.OverallTimeoutName
	attemptTimeoutName = preset.AttemptTimeoutName
)

// A StandardOption configures [NewStandardTransport]. Every [Option] is also
// a StandardOption, so the options of [NewTransport] (classifier,
// idempotency, body limits, key function) apply to a standard transport too.
// Options are applied in order; a later option overrides an earlier one of
// the same kind. An option with a bad value makes NewStandardTransport fail
// with an error that names the option and the value.
type StandardOption interface {
	applyStandard(*standardConfig)
}

type standardOptionFunc func(*standardConfig)

func (f standardOptionFunc) applyStandard(s *standardConfig) { f(s) }

// standardConfig collects the options of NewStandardTransport: the
// preset's (nil parts are turned off) and the transport's.
type standardConfig struct {
	preset.Config
	opts options
}

// standard holds the parts of a standard transport that are not its
// policy (its retry).
type standard struct {
	overall, attempt time.Duration // 0: off
	hosts            *keyed.Keyed  // nil when there is no per-host policy
	budget           *retry.Budget // the budget all hosts share, if any

	// The built-in timeouts' telemetry; nil when the timeout is off or
	// its telemetry disabled.
	overallRec, attemptRec *observe.Recorder
}

// NewStandardTransport returns a [Transport] that sends requests through
// next (nil means [http.DefaultTransport]) under the recommended chain of
// policies, with defaults close to those of large production HTTP clients:
//
//	overall timeout → retry (with budget) → per-host breaker → per-host bulkhead → per-attempt timeout → call
//
//	part                  default                                    change with
//	overall timeout       30 s                                       WithOverallTimeout, WithoutOverallTimeout
//	retry                 3 attempts, backoff from 100 ms doubling   WithRetry, WithoutRetry
//	                      to at most 5 s, full jitter; Retry-After
//	                      honoured up to 30 s
//	retry budget, per     10 % of requests (over 10 s) + 1 retry/s   WithBudget, WithoutBudget
//	host
//	breaker, per host     opens after 10 failures in a row or        WithBreaker, WithoutBreaker
//	                      ≥ 50 % of ≥ 20 calls in a rolling 10 s
//	                      window; open 0.5 s (±10 % jitter), then
//	                      1 probe, failed after 0.25 s without an
//	                      answer (a late success still closes it)
//	bulkhead, per host    100 requests in flight, no queue           WithBulkhead, WithoutBulkhead
//	per-attempt timeout   10 s, or half the overall timeout when     WithAttemptTimeout, WithoutAttemptTimeout
//	                      that is under 20 s
//	hosts                 at most 1024 with their own breaker and    WithMaxHosts
//	                      bulkhead; idle ones evicted after 10 min
//
// Why these values:
//
//   - 30 s overall, a common request timeout of HTTP clients and proxies:
//     long enough for three attempts with backoff, short enough
//     that a caller gets an answer while it still wants one. 10 s per
//     attempt leaves room for a retry after an attempt that hung.
//   - 3 attempts with full jitter and a budget: nearly every transient
//     failure is cured by one or two retries, and the budget keeps a total
//     outage from tripling the load on the failing host (retries add at
//     most about 10 % to it, plus one a second). The budget is per host:
//     one budget for all hosts would let a busy healthy host's requests pay
//     for retries to a failing one, up to two retries for each of its
//     requests. A failure that opens the host's breaker is not retried:
//     the retry would wait out its backoff to be rejected.
//   - The breaker opens after 10 failures in a row, so that a total outage
//     trips it within a few calls however long the host was healthy before,
//     or when at least half of at least 20 calls in a rolling 10 s window
//     failed, so that a host that fails one call in three is left alone and
//     one that fails every other one gets room to recover. It stays open
//     0.5 s (jittered) rather than the breaker package's 30 s, and a probe
//     with no answer after 0.25 s counts as a failure (without being
//     cancelled: its late success closes the breaker): a probe is one
//     call about every 0.75 s while the host is down, and a host that
//     recovers (a deploy, a failover, the end of a hang) gets its traffic
//     back within 0.8 s, even if it hung a probe just before. While a
//     host hangs, its breaker holds about 13 probe calls at a time (one
//     every 0.75 s, each until its 10 s attempt timeout), within the
//     bulkhead's 100. Across a fleet of N clients, probes add about
//     1.3 × N calls a second to a host that is down.
//   - 100 in flight per host, without a queue: far above what a healthy
//     host needs from one client (by Little's law, 2,000 requests per
//     second at 50 ms each), so it acts only when a host slows down, and
//     then it sheds at once instead of piling up goroutines and
//     connections. Raise it for hosts that get more.
//
// A host's retry budget earns retries from its requests, a tenth of a retry
// per request, on top of a floor of one retry per second. A new host starts
// with the floor's first second: one retry at once, the next after about ten
// requests or a second. The budget lives with the host's breaker and
// bulkhead ([HostPolicy.Budget]); an idle host's is evicted with them.
//
// Each attempt gets the per-attempt timeout or what remains of the overall
// one, whichever ends first; the retry does not start an attempt (nor wait
// for one) that could not start before the overall deadline. A per-attempt
// timeout counts as a failure for the host's breaker and is retried (if the
// request may be sent again: see [IsIdempotent]); the overall timeout ends
// the call. Both bound reading the body too, as [http.Client.Timeout] does,
// and RoundTrip's error for either matches [timeout.ErrTimeout] and
// [context.DeadlineExceeded]. An open breaker's rejection matches
// [breaker.ErrOpen], a full bulkhead's [bulkhead.ErrFull]; neither is retried.
//
// The timeouts are implemented by the transport itself, not by
// [timeout.Timeout] policies: each attempt's request carries one context of
// the transport's, which is its deadline, so that a request costs a few
// allocations instead of some twenty-five. The behaviour is that of the
// chain above.
//
// Hosts are the requests' [HostKey] (or [WithKeyFunc]'s key). Their
// policies live in a [keyed.Keyed] ([Transport.Hosts]), which bounds their
// number whatever hosts the requests name and never evicts a host whose
// breaker is open.
//
// Telemetry is on by default, through the global OpenTelemetry providers
// ([WithTelemetry] changes it): each host's retry, breaker and bulkhead
// (named "resilienthttp", with the host as resilience.key, so that a retry
// budget that runs out says whose it is) and the built-in timeouts, which report as policies of
// kind "timeout" named "overall" and "attempt" (outcome timeout when their
// deadline ends the call or the attempt, and the resilience.timeout span
// event). [Transport.Status] and [Transport.Hosts] serve a status page.
//
// NewStandardTransport returns an error, and no Transport, when an option
// has a bad value; the error names the option and the value.
func NewStandardTransport(next http.RoundTripper, opts ...StandardOption) (*Transport, error) {
	s := standardConfig{Config: preset.New(standardName)}
	for _, o := range opts {
		if o != nil {
			o.applyStandard(&s)
		}
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}

	std := &standard{overall: s.Overall, attempt: s.Attempt}
	t := &Transport{next: next, opts: s.opts, std: std}
	std.overallRec, std.attemptRec = s.OverallRecorder(), s.AttemptRecorder()
	// The shared policies' span events want the request's key.
	t.spanKey = std.overallRec != nil || std.attemptRec != nil || s.RetryTelemetry()
	// Each host runs a retry of its own (its HostPolicy's), with its own
	// budget and telemetry keyed by the host; this one validates the
	// options and makes the budget all hosts share, if they set one.
	_, budget, err := s.NewRetry()
	if err != nil {
		return nil, err
	}
	std.budget = budget
	if perKey, ok := s.PerKey(); ok {
		if err := perKey.Check(); err != nil {
			return nil, err
		}
		hosts, err := s.NewKeyed(standardName, "WithMaxHosts", hostFactory(perKey))
		if err != nil {
			return nil, err
		}
		std.hosts = hosts
	}
	return t, nil
}

// hostFactory returns the factory of the per-host policies.
func hostFactory(perKey preset.PerKey) keyed.Factory {
	return func(host string) (resilience.Policy, error) {
		br, bh, chain, err := perKey.Policies(host)
		if err != nil {
			return nil, err
		}
		r, err := perKey.Retry(host)
		if err != nil {
			return nil, err
		}
		return &HostPolicy{Retry: r, Breaker: br, Bulkhead: bh, Budget: r.Budget(), chain: chain, name: standardName, key: observe.StoredKey(host)}, nil
	}
}

// HostPolicy is the policy a standard transport keeps for each host: the
// host's retry (with its budget) around its circuit breaker, then its
// bulkhead. [Transport.Hosts] reaches them,
// for status pages:
//
//	t.Hosts().Range(func(host string, p resilience.Policy) bool {
//		if h, ok := p.(*resilienthttp.HostPolicy); ok && h.Breaker != nil {
//			fmt.Println(host, h.Breaker.State())
//		}
//		return true
//	})
//
// Calls made through a HostPolicy directly are not seen by the Keyed that
// holds it. A HostPolicy is safe for concurrent use; its zero value runs
// calls under no policy (Do runs the breaker and the bulkhead; the
// transport runs Retry around it). It reports the status of its retry,
// breaker and bulkhead ([HostPolicy.Status]), so that the status of
// Transport.Hosts() shows each host's breaker state and budget.
type HostPolicy struct {
	// Retry is the host's retry, which runs a request's attempts through
	// the breaker and the bulkhead; its telemetry is keyed by the host.
	// Nil after WithoutRetry.
	Retry    *retry.Retry
	Breaker  *breaker.Breaker   // nil after WithoutBreaker
	Bulkhead *bulkhead.Bulkhead // nil after WithoutBulkhead
	// Budget is Retry's budget: the host's own, or the one all hosts share
	// (WithBudget). Nil after WithoutBudget or WithoutRetry.
	Budget *retry.Budget
	chain  resilience.Policy
	name   string // for Status: the transport's name
	key    string // for Status: the host, sanitized
}

var (
	_ resilience.Policy   = (*HostPolicy)(nil)
	_ resilience.Retainer = (*HostPolicy)(nil)
)

// Do runs op under the breaker, then the bulkhead.
//
// A failure that leaves the breaker open (it opened it, or reopened it as a
// probe) is marked so that the transport's retry does not retry it: the
// retry would wait out its backoff only to be rejected.
func (h *HostPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	if h.chain == nil {
		return op(ctx)
	}
	return preset.StopRetriesIfOpen(h.Breaker, h.chain.Do(ctx, op))
}

// Retain reports whether the host's state must survive eviction from
// [Transport.Hosts]: its breaker is open or awaits a probe
// ([breaker.Breaker.Retain]), or its bulkhead has calls in flight.
func (h *HostPolicy) Retain() bool {
	return h.Breaker != nil && h.Breaker.Retain() || h.Bulkhead != nil && h.Bulkhead.Retain()
}

// Hosts returns the per-host policies of a transport made by
// [NewStandardTransport]: a [keyed.Keyed] whose instances are
// [*HostPolicy] values. It returns nil for other transports, and when the
// retry, the breaker and the bulkhead are all turned off.
func (t *Transport) Hosts() *keyed.Keyed {
	if t.std == nil {
		return nil
	}
	return t.std.hosts
}

// Budget returns the retry budget that all the hosts of a transport made by
// [NewStandardTransport] share, set by [WithBudget], for a status page
// ([retry.Budget.State]). It returns nil for other transports, when
// retries or the budget are turned off, and by default, when each host has
// a budget of its own ([HostPolicy.Budget]).
func (t *Transport) Budget() *retry.Budget {
	if t.std == nil {
		return nil
	}
	return t.std.budget
}

// setStandard prepares the call for a standard transport: the host's
// policy, and the overall context.
func (c *call) setStandard(s *standard, key string) {
	if s.hosts != nil {
		c.host, c.setupErr = s.hosts.Policy(key)
		if c.setupErr == nil {
			if h, ok := keyed.Instance(c.host).(*HostPolicy); ok {
				c.retry = h.Retry
			}
		}
	}
	if s.overall > 0 {
		d := time.Now().Add(s.overall)
		if cd, ok := c.ctx.Deadline(); !ok || d.Before(cd) {
			// The caller's deadline is later: ours is the overall one.
			// Its context is allocated with the first attempt's exchange.
			ex := new(exchange)
			ex.overall.init(c.ctx, d)
			c.overall, c.spare, c.ctx = &ex.overall, ex, &ex.overall
		}
	}
}

// endOverall ends the overall context when the policy has returned err,
// and says that the overall timeout ended the call if it did, as a
// [timeout.Timeout] would. It records the call's outcome for the overall
// timeout's telemetry, started with s.
func (c *call) endOverall(err error, s observe.Stamp) error {
	std := c.t.std
	o := c.overall
	if o == nil {
		// The caller's deadline came first: ours could not fire.
		std.overallRec.Done(c.ctx, s, observe.Classify(c.ctx, err))
		return err
	}
	ctx := o.parent // the caller's, with the key
	fired := err != nil && c.req.Context().Err() == nil && o.expired()
	o.end(err == nil)
	if fired {
		std.overallRec.TimedOut(ctx, s, std.overall)
		return &timeout.Error{Name: overallTimeoutName, Duration: std.overall, Err: err}
	}
	std.overallRec.Done(ctx, s, observe.Classify(ctx, err))
	return err
}

// WithOverallTimeout sets how long a request may take as a whole: all its
// attempts, the waits between them, and reading the response body. d must
// be positive. The default is [DefaultOverallTimeout]. A caller's context
// with an earlier deadline bounds the request by that deadline instead.
func WithOverallTimeout(d time.Duration) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetOverallTimeout(d) })
}

// WithoutOverallTimeout turns the overall timeout off: only the caller's
// context and the per-attempt timeouts bound a request.
func WithoutOverallTimeout() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoOverallTimeout() })
}

// WithAttemptTimeout sets how long one attempt may take, reading the
// response body included. d must be positive. The default is
// [DefaultAttemptTimeout]. An attempt never runs past the overall deadline,
// whatever d is.
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
// 5 s with full jitter, Retry-After honoured up to 30 s), and an empty Name
// is "resilienthttp". cfg.Budget, if not nil, becomes the transport's
// budget, as with [WithBudget]. A configuration that [retry.New] refuses
// makes NewStandardTransport fail.
func WithRetry(cfg retry.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetRetry(cfg) })
}

// WithoutRetry turns retries off: every request is sent once.
func WithoutRetry() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoRetry() })
}

// WithBudget sets one retry budget for all hosts, which limits their
// retries together; share one budget between transports to limit them
// together. The default is a budget of its own for each host, made by
// retry.NewBudget with the default configuration: retries of at most 10 % of
// the requests of the last 10 s, plus one per second. b must have been made
// by [retry.NewBudget].
func WithBudget(b *retry.Budget) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetBudget(b) })
}

// WithoutBudget lets every request retry up to its attempts, with no
// budget.
func WithoutBudget() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoBudget() })
}

// WithBreaker sets the configuration of each host's circuit breaker. Zero
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
//     without it) when that is longer than OpenFor;
//   - Name: "resilienthttp"; Telemetry.Key: the host.
//
// A configuration that [breaker.New] refuses makes NewStandardTransport fail.
// The hooks (OnStateChange, …) are shared by the breakers of all hosts.
func WithBreaker(cfg breaker.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetBreaker(cfg) })
}

// WithoutBreaker turns the per-host circuit breakers off.
func WithoutBreaker() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoBreaker() })
}

// WithBulkhead sets the configuration of each host's bulkhead. Zero fields
// take the bulkhead package's defaults, except MaxConcurrent, which defaults
// to [DefaultMaxInFlightPerHost], Name, which defaults to "resilienthttp",
// and Telemetry.Key, which defaults to the host. A configuration that
// [bulkhead.New] refuses makes NewStandardTransport fail.
func WithBulkhead(cfg bulkhead.Config) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetBulkhead(cfg) })
}

// WithoutBulkhead turns the per-host bulkheads off.
func WithoutBulkhead() StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.NoBulkhead() })
}

// WithMaxHosts sets the most hosts that get a retry (and budget), a breaker
// and a bulkhead of their own ([keyed.Config.MaxKeys]); further hosts share
// one overflow instance, budget included, until idle hosts are evicted. n must be positive. The default is
// [keyed.DefaultMaxKeys].
func WithMaxHosts(n int) StandardOption {
	return standardOptionFunc(func(s *standardConfig) { s.SetMaxKeys("WithMaxHosts", "hosts", n) })
}
