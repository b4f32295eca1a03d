// Package preset holds what the standard presets of resilienthttp and
// resilientgrpc share: their defaults, the configuration their options
// fill (with its validation), and the construction of their retry, budget,
// per-key breakers and bulkheads, and built-in timeout recorders. Each
// adapter keeps its own options, docs and protocol-specific wiring.
package preset

import (
	"fmt"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// Defaults of the standard presets that differ from those of the policy
// packages; the adapters export them under their own names.
const (
	DefaultOverallTimeout             = 30 * time.Second
	DefaultAttemptTimeout             = 10 * time.Second
	DefaultBreakerOpenFor             = 500 * time.Millisecond
	DefaultBreakerProbeFailAfter      = 250 * time.Millisecond
	DefaultBreakerConsecutiveFailures = 10
	DefaultBreakerWindow              = 10 * time.Second
	DefaultMaxInFlightPerKey          = 100
)

// The names of the built-in timeouts, in their errors and telemetry.
const (
	OverallTimeoutName = "overall"
	AttemptTimeoutName = "attempt"
)

// Config collects the protocol-neutral options of a standard preset. Nil
// parts are turned off. Make one with [New]; the zero value has no prefix
// for its errors and every part off. A Config is not safe for concurrent
// use.
type Config struct {
	Name       string        // the adapter's: the prefix of errors, the default policy name
	Overall    time.Duration // 0: off
	Attempt    time.Duration // 0: off
	attemptSet bool          // SetAttemptTimeout or NoAttemptTimeout was called
	Retry      *retry.Config
	Budget     *retry.Budget
	noBudget   bool // NoBudget: Budget stays nil
	Breaker    *breaker.Config
	Bulkhead   *bulkhead.Config
	MaxKeys    int
	tel        telemetry.Settings // SetTelemetry's, Key cleared
	hasTel     bool               // SetTelemetry was called
	err        error              // the first bad option
}

// New returns the default configuration of the preset named name.
func New(name string) Config {
	return Config{
		Name:     name,
		Overall:  DefaultOverallTimeout,
		Attempt:  DefaultAttemptTimeout,
		Retry:    &retry.Config{},
		Breaker:  &breaker.Config{},
		Bulkhead: &bulkhead.Config{},
	}
}

// Fail records a bad option, unless one was recorded before; the error is
// prefixed by the preset's name.
func (c *Config) Fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(c.Name+": "+format, args...)
	}
}

// Finish returns the first bad option's error, or derives what the options
// left to the defaults: an attempt timeout not set is half an overall one
// under twice it, so that a hung attempt still fails as an attempt.
func (c *Config) Finish() error {
	if c.err != nil {
		return c.err
	}
	if !c.attemptSet && c.Overall > 0 && c.Overall < 2*c.Attempt {
		c.Attempt = c.Overall / 2
	}
	return nil
}

// ProbeTimeout is how long a half-open probe may take: as long as an
// attempt may.
func (c *Config) ProbeTimeout() time.Duration {
	if c.Attempt > 0 {
		return c.Attempt
	}
	return c.Overall
}

// SetOverallTimeout is WithOverallTimeout.
func (c *Config) SetOverallTimeout(d time.Duration) {
	if d <= 0 {
		c.Fail("WithOverallTimeout(%v): the timeout must be positive (WithoutOverallTimeout turns it off)", d)
		return
	}
	c.Overall = d
}

// NoOverallTimeout is WithoutOverallTimeout.
func (c *Config) NoOverallTimeout() { c.Overall = 0 }

// SetAttemptTimeout is WithAttemptTimeout.
func (c *Config) SetAttemptTimeout(d time.Duration) {
	if d <= 0 {
		c.Fail("WithAttemptTimeout(%v): the timeout must be positive (WithoutAttemptTimeout turns it off)", d)
		return
	}
	c.Attempt, c.attemptSet = d, true
}

// NoAttemptTimeout is WithoutAttemptTimeout.
func (c *Config) NoAttemptTimeout() { c.Attempt, c.attemptSet = 0, true }

// SetRetry is WithRetry: cfg.Budget, if not nil, becomes the budget.
func (c *Config) SetRetry(cfg retry.Config) {
	c.Retry = &cfg
	if cfg.Budget != nil {
		c.Budget, c.noBudget = cfg.Budget, false
	}
}

// NoRetry is WithoutRetry.
func (c *Config) NoRetry() { c.Retry = nil }

// SetBudget is WithBudget.
func (c *Config) SetBudget(b *retry.Budget) {
	if b == nil {
		c.Fail("WithBudget(nil): the budget must not be nil (WithoutBudget turns it off)")
		return
	}
	if _, err := retry.New(retry.Config{Budget: b}); err != nil {
		c.Fail("WithBudget(%p): %w", b, err)
		return
	}
	c.Budget, c.noBudget = b, false
}

// NoBudget is WithoutBudget.
func (c *Config) NoBudget() { c.Budget, c.noBudget = nil, true }

// SetBreaker is WithBreaker.
func (c *Config) SetBreaker(cfg breaker.Config) { c.Breaker = &cfg }

// NoBreaker is WithoutBreaker.
func (c *Config) NoBreaker() { c.Breaker = nil }

// SetBulkhead is WithBulkhead.
func (c *Config) SetBulkhead(cfg bulkhead.Config) { c.Bulkhead = &cfg }

// NoBulkhead is WithoutBulkhead.
func (c *Config) NoBulkhead() { c.Bulkhead = nil }

// SetMaxKeys is the adapter's option (named option, counting nouns) that
// bounds the keys with policies of their own.
func (c *Config) SetMaxKeys(option, nouns string, n int) {
	if n <= 0 {
		c.Fail("%s(%d): the number of %s must be positive", option, n, nouns)
		return
	}
	c.MaxKeys = n
}

// SetTelemetry is WithTelemetry: s.Key is ignored.
func (c *Config) SetTelemetry(s telemetry.Settings) {
	s.Key = ""
	c.tel, c.hasTel = s, true
}

// Telemetry returns SetTelemetry's settings, or the zero ones: those of the
// built-in timeouts.
func (c *Config) Telemetry() telemetry.Settings { return c.tel }

// TelemetryFor returns the settings of a policy whose configuration has
// own: SetTelemetry's, unless own sets something itself.
func (c *Config) TelemetryFor(own telemetry.Settings) telemetry.Settings {
	if !c.hasTel || own.MeterProvider != nil || own.Logger != nil || own.Disabled {
		return own
	}
	t := c.tel
	t.Key = own.Key
	return t
}

// BudgetPerKey reports whether each key's retry has a budget of its own
// (the default): retries are on, and the options neither set a budget,
// which all keys then share, nor turned it off. The retries to a failing key
// are then paid for by that key's own calls, not by the traffic of healthy
// ones ([PerKey.Retry]).
func (c *Config) BudgetPerKey() bool {
	return c.Retry != nil && c.Budget == nil && !c.noBudget
}

// NewRetry returns the preset's retry and the budget all keys share (the
// options' WithBudget; nil when each key has its own, see BudgetPerKey, or
// the budget is off), or nils when retries are off. An empty Name is the
// preset's.
func (c *Config) NewRetry() (*retry.Retry, *retry.Budget, error) {
	if c.Retry == nil {
		return nil, nil, nil
	}
	cfg := *c.Retry
	if cfg.Name == "" {
		cfg.Name = c.Name
	}
	cfg.Budget = c.Budget
	cfg.Telemetry = c.TelemetryFor(cfg.Telemetry)
	r, err := retry.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: WithRetry: %w", c.Name, err)
	}
	return r, c.Budget, nil
}

// RetryTelemetry reports whether the retry records telemetry.
func (c *Config) RetryTelemetry() bool {
	return c.Retry != nil && !c.TelemetryFor(c.Retry.Telemetry).Disabled
}
