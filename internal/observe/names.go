package observe

// ScopeName is the instrumentation scope of every instrument: the meter name.
const ScopeName = "github.com/cascadeguard/resilience"

// Instrument names. INSTRUMENTS.md in package telemetry documents each one;
// keep the two in step.
const (
	MetricCalls                 = "resilience.calls"
	MetricCallDuration          = "resilience.call.duration"
	MetricWaitDuration          = "resilience.wait.duration"
	MetricBreakerState          = "resilience.breaker.state"
	MetricBreakerTransitions    = "resilience.breaker.transitions"
	MetricBreakerShadowRejected = "resilience.breaker.shadow_rejections"
	MetricRetryAttempts         = "resilience.retry.attempts"
	MetricRetryDelay            = "resilience.retry.delay"
	MetricRetryBudgetRejections = "resilience.retry.budget.rejections"
	MetricBulkheadInFlight      = "resilience.bulkhead.in_flight"
	MetricBulkheadQueued        = "resilience.bulkhead.queued"
)

// Units, per the OpenTelemetry semantic conventions: UCUM "s" for durations,
// annotations in braces for counts, "1" for a dimensionless state code.
const (
	unitCall       = "{call}"
	unitSecond     = "s"
	unitTransition = "{transition}"
	unitRetry      = "{retry}"
	unitState      = "1"
)

// Attribute keys. Every value is bounded: kinds, outcomes, states and
// reasons are fixed sets, and names and keys pass through the cardinality
// limiter.
const (
	AttrKind          = "resilience.policy.kind"
	AttrName          = "resilience.policy.name"
	AttrKey           = "resilience.key"
	AttrOutcome       = "resilience.outcome"
	AttrState         = "resilience.state"
	AttrPreviousState = "resilience.previous_state"
	AttrRetryReason   = "resilience.retry.reason"
	// Span event attributes only (never on metrics: unbounded numbers).
	AttrRetryAttempt    = "resilience.retry.attempt"
	AttrRetryDelay      = "resilience.retry.delay"
	AttrTimeoutDuration = "resilience.timeout.duration"
	AttrBreakerShadow   = "resilience.breaker.shadow"
)

// Span event names.
const (
	EventRetryScheduled      = "resilience.retry.scheduled"
	EventRetryBudgetRejected = "resilience.retry.budget_exhausted"
	EventBreakerRejected     = "resilience.breaker.rejected"
	EventBulkheadRejected    = "resilience.bulkhead.rejected"
	EventRateLimitRejected   = "resilience.ratelimit.rejected"
	EventTimeout             = "resilience.timeout"
)

// durationBuckets are the advisory histogram boundaries, in seconds, for
// every duration instrument. The SDK's default boundaries (0 … 10000) suit
// milliseconds, not seconds; these span 100 µs (a breaker around a cache
// call) to 30 s (an overall deadline).
var durationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}
