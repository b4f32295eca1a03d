package telemetry

// A StatusReporter reports a snapshot of its current state. Every policy
// implements it, as do keyed policy sets (one instance per key). Status must
// be safe to call concurrently with the policy's calls and must not block on
// them for long: a status page or a probe calls it.
type StatusReporter interface {
	Status() Status
}

// Status is a point-in-time snapshot of one policy, shaped for JSON. Exactly
// one of the kind-specific sections is set, the one named by Kind, except
// for a keyed set, which leaves them nil and lists its instances.
//
// The zero value is an empty snapshot. A Status is a plain value; the
// reporter returns a fresh one on each call.
type Status struct {
	// Kind is the policy kind: "breaker", "bulkhead", "retry", "timeout",
	// "ratelimit", or "keyed" for a set of per-key instances.
	Kind string `json:"kind"`
	// Name is the policy's configured name.
	Name string `json:"name"`
	// Key is the instance's key when the policy is one of a keyed set (a
	// host, a gRPC method), already sanitized; empty otherwise.
	Key string `json:"key,omitempty"`

	// The kind-specific section, set for the Kind of the same name.
	Breaker   *BreakerStatus   `json:"breaker,omitempty"`   // Kind "breaker"
	Bulkhead  *BulkheadStatus  `json:"bulkhead,omitempty"`  // Kind "bulkhead"
	Retry     *RetryStatus     `json:"retry,omitempty"`     // Kind "retry"
	RateLimit *RateLimitStatus `json:"ratelimit,omitempty"` // Kind "ratelimit"
	Timeout   *TimeoutStatus   `json:"timeout,omitempty"`   // Kind "timeout"

	// Instances lists the live instances of a keyed set, one per key.
	Instances []Status `json:"instances,omitempty"`
}

// Breaker states as they appear in [BreakerStatus] and in the
// resilience.state attribute.
const (
	StateClosed   = "closed"
	StateHalfOpen = "half_open"
	StateOpen     = "open"
)

// BreakerStatus is a circuit breaker's state and its counts in the current
// state period (they restart at every state change and, when closed, cover
// the rolling window). Like [Status], it is a plain value.
type BreakerStatus struct {
	// State is [StateClosed], [StateHalfOpen] or [StateOpen].
	State string `json:"state"`
	// Mode is empty in normal operation, or the breaker's manual mode:
	// "shadow", "forced-open" or "disabled".
	Mode string `json:"mode,omitempty"`
	// The counts of the current state period.
	Requests            uint32 `json:"requests"`             // calls counted: successes, failures and neutral ones
	Successes           uint32 `json:"successes"`            // calls that succeeded
	Failures            uint32 `json:"failures"`             // slow calls included
	SlowCalls           uint32 `json:"slow_calls"`           // the part of Failures that were too slow
	Neutral             uint32 `json:"neutral"`              // calls counted as neither (client errors, the caller's cancellation)
	ConsecutiveFailures uint32 `json:"consecutive_failures"` // failures since the last success
}

// BulkheadStatus is a bulkhead's occupancy and limits, a plain value.
type BulkheadStatus struct {
	InFlight      int `json:"in_flight"`      // calls running
	Queued        int `json:"queued"`         // calls waiting for a slot
	MaxConcurrent int `json:"max_concurrent"` // the most that may run at once
	MaxQueue      int `json:"max_queue"`      // the most that may wait
}

// RetryStatus is a retry policy's limits and, when it has one, the state of
// its retry budget, a plain value.
type RetryStatus struct {
	MaxAttempts int           `json:"max_attempts"`     // attempts per call, the first included
	Budget      *BudgetStatus `json:"budget,omitempty"` // nil without a budget
}

// BudgetStatus is a retry budget's state. A budget may be shared by many
// retry policies; each reports the same budget. It is a plain value.
type BudgetStatus struct {
	// Available is the number of retries the budget would allow now.
	Available float64 `json:"available"`
	// Ratio is the extra load retries may add, as a fraction of calls.
	Ratio float64 `json:"ratio"`
	// MinPerSecond is the floor of retries allowed per second.
	MinPerSecond float64 `json:"min_per_second"`
	// Allowed and Rejected count retries since the budget was made.
	Allowed  uint64 `json:"allowed"`
	Rejected uint64 `json:"rejected"`
	// Exhausted is true when the next retry would be refused: a retry
	// spends a whole token, earned or from the floor.
	Exhausted bool `json:"exhausted"`
}

// RateLimitStatus is a rate limiter's configuration and the tokens it has
// available now, a plain value.
type RateLimitStatus struct {
	// Limit is the sustained rate in calls per second.
	Limit  float64 `json:"limit"`
	Burst  int     `json:"burst"`  // the most tokens the bucket holds
	Tokens float64 `json:"tokens"` // the tokens in the bucket now
}

// TimeoutStatus is a timeout policy's configured duration, a plain value.
type TimeoutStatus struct {
	Seconds float64 `json:"seconds"` // the timeout
}
