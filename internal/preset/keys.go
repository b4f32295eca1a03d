package preset

import (
	"errors"
	"fmt"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/retry"
)

// PerKey makes the policies a preset keeps for each key: a circuit breaker,
// then a bulkhead. Its zero value makes none. A PerKey is safe for
// concurrent use once made.
type PerKey struct {
	prefix       string        // the preset's name, for errors
	Name         string        // the default name of the breakers and bulkheads
	ProbeTimeout time.Duration // the default Breaker.ProbeTimeout when above OpenFor; 0: the breaker's own
	NoSlowCalls  bool          // the breakers ignore SlowCall (streams: their length says nothing)
	// Streams: the probes are streams, which have no timeout of their own:
	// the breakers await a probe for ProbeTimeout only while ProbeFailAfter
	// frees its slot sooner (otherwise a silent probe stream would hold the
	// only slot that long), and keep the breaker's own slot expiry otherwise.
	Streams  bool
	breaker  *breaker.Config  // nil: off
	bulkhead *bulkhead.Config // nil: off
	retry    *retry.Config    // nil: off; its Budget is the shared one, if any
	budgets  bool             // each key's retry has a budget of its own
}

// PerKey returns the per-key policies' maker, named as the preset, with
// the preset's probe timeout, and reports whether it makes any (the
// breaker, the bulkhead or the retry is on). The configurations are copies
// with the preset's telemetry: the options' configurations may serve other
// presets.
func (c *Config) PerKey() (PerKey, bool) {
	p := PerKey{prefix: c.Name, Name: c.Name, ProbeTimeout: c.ProbeTimeout(), budgets: c.BudgetPerKey()}
	if c.Retry != nil {
		cfg := *c.Retry       // an empty Name becomes the PerKey's Name in Retry
		cfg.Budget = c.Budget // nil unless all keys share one
		cfg.Telemetry = c.TelemetryFor(cfg.Telemetry)
		p.retry = &cfg
	}
	if c.Breaker != nil {
		cfg := *c.Breaker
		cfg.Telemetry = c.TelemetryFor(cfg.Telemetry)
		p.breaker = &cfg
	}
	if c.Bulkhead != nil {
		cfg := *c.Bulkhead
		cfg.Telemetry = c.TelemetryFor(cfg.Telemetry)
		p.bulkhead = &cfg
	}
	return p, p.breaker != nil || p.bulkhead != nil || p.retry != nil
}

// Retry returns key's retry policy, nil when retries are off. It draws from
// a budget of the key's own (made with retry.NewBudget's defaults) unless
// the options set one that all keys share, or turned the budget off; its
// telemetry is keyed by key, so that a budget that runs out says whose it
// is.
func (p PerKey) Retry(key string) (*retry.Retry, error) {
	if p.retry == nil {
		return nil, nil
	}
	cfg := *p.retry
	if cfg.Name == "" {
		cfg.Name = p.Name // a preset's streams name theirs apart
	}
	if p.budgets {
		b, err := retry.NewBudget(retry.BudgetConfig{})
		if err != nil {
			return nil, fmt.Errorf("%s: retry budget: %w", p.prefix, err)
		}
		cfg.Budget = b
	}
	if cfg.Telemetry.Key == "" {
		cfg.Telemetry.Key = key
	}
	r, err := retry.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: WithRetry: %w", p.prefix, err)
	}
	return r, nil
}

// Policies returns key's breaker and bulkhead (nil when off) and the chain
// of both, which lends frames, so that a call through both allocates
// nothing. Zero fields of the configurations take the preset's defaults,
// then the packages'; Telemetry.Key defaults to key.
func (p PerKey) Policies(key string) (*breaker.Breaker, *bulkhead.Bulkhead, resilience.Policy, error) {
	var (
		br    *breaker.Breaker
		bh    *bulkhead.Bulkhead
		parts []resilience.Policy
	)
	if p.breaker != nil {
		cfg := *p.breaker
		if cfg.Name == "" {
			cfg.Name = p.Name
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
		if cfg.ProbeFailAfter == 0 {
			cfg.ProbeFailAfter = DefaultBreakerProbeFailAfter
		}
		if cfg.ProbeTimeout == 0 && p.ProbeTimeout > cfg.OpenFor && (!p.Streams || cfg.ProbeFailAfter < p.ProbeTimeout) {
			// A probe may take as long as an attempt; a shorter slot
			// would expire under a slow but healthy probe and ignore
			// its report.
			cfg.ProbeTimeout = p.ProbeTimeout
		}
		if cfg.Telemetry.Key == "" {
			cfg.Telemetry.Key = key
		}
		if p.NoSlowCalls {
			cfg.SlowCall = 0
		}
		var err error
		if br, err = breaker.New(cfg); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: WithBreaker: %w", p.prefix, err)
		}
		parts = append(parts, br)
	}
	if p.bulkhead != nil {
		cfg := *p.bulkhead
		if cfg.Name == "" {
			cfg.Name = p.Name
		}
		if cfg.MaxConcurrent == 0 {
			cfg.MaxConcurrent = DefaultMaxInFlightPerKey
		}
		if cfg.Telemetry.Key == "" {
			cfg.Telemetry.Key = key
		}
		var err error
		if bh, err = bulkhead.New(cfg); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: WithBulkhead: %w", p.prefix, err)
		}
		parts = append(parts, bh)
	}
	return br, bh, resilience.Chain(parts...), nil
}

// Check builds one key's policies, so that a bad configuration fails when
// the preset is made rather than at the first call.
func (p PerKey) Check() error {
	if _, _, _, err := p.Policies(""); err != nil {
		return err
	}
	_, err := p.Retry("")
	return err
}

// NewKeyed returns the keyed set named name of the policies factory makes,
// bounded by the preset's MaxKeys; option names the adapter's option that
// sets it, for errors.
func (c *Config) NewKeyed(name, option string, factory keyed.Factory) (*keyed.Keyed, error) {
	k, err := keyed.New(keyed.Config{Name: name, MaxKeys: c.MaxKeys}, factory)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.Name, option, err)
	}
	return k, nil
}

// StopRetriesIfOpen returns err, the error of a call that br admitted,
// marked so that a retry does not retry it when br is open after the call
// (the call's failure opened it, or reopened it as a probe): a retry would
// only wait out its backoff to be rejected by the breaker, and the caller
// gets the failure that long later. Other errors, and calls in a breaker
// that is not in ModeNormal (a shadow breaker lets the retry through), are
// returned as they are.
func StopRetriesIfOpen(br *breaker.Breaker, err error) error {
	if !LeftOpen(br, err) {
		return err
	}
	return retry.Permanent(err)
}

// LeftOpen reports whether err, the error of a call that br admitted, left
// br open: what StopRetriesIfOpen marks. An adapter whose errors carry a
// permanence flag of their own sets it instead of wrapping.
func LeftOpen(br *breaker.Breaker, err error) bool {
	if err == nil || br == nil || errors.Is(err, resilience.ErrRejected) || br.Mode() != breaker.ModeNormal {
		return false
	}
	return br.State() == breaker.StateOpen
}
