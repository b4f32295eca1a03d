package resilientgrpc

import (
	"github.com/cascadeguard/resilience/internal/preset"
	"github.com/cascadeguard/resilience/telemetry"
)

// Telemetry of the standard preset. The interceptors record nothing about
// calls themselves: the preset's policies do (retry, per-key breakers and
// bulkheads), and so do its built-in timeouts of unary calls, which record
// what a [timeout.Timeout] named "overall" or "attempt" would (policy kind
// "timeout"; see telemetry/INSTRUMENTS.md). Keys are full method names (or
// WithKeyFunc's), never metadata.

// WithTelemetry sets the telemetry of every policy the standard preset
// builds: the retry, each key's breaker and bulkhead (unary and stream), and
// the built-in timeouts. s.Key is ignored: each key's breaker and bulkhead
// get the key (the full method, by default) as theirs, and the shared retry
// and timeouts have none (their span events name the call's key; see
// below).
//
// A configuration given to [WithRetry], [WithBreaker] or [WithBulkhead]
// whose Telemetry sets a MeterProvider, a Logger or Disabled keeps its own
// settings (its Key, if set, is kept in any case). The default, without
// WithTelemetry, is the zero [telemetry.Settings]: the global OpenTelemetry
// providers, no logs. telemetry.Settings{Disabled: true} turns all the
// preset's telemetry off, span events included.
//
// When the call's context carries a recording span, the interceptors put
// the call's key into the context the policies get, so that the span
// events of the shared retry and timeouts carry it as resilience.key. They
// do so only for a recording span, since it costs a context value.
func WithTelemetry(s telemetry.Settings) StandardOption {
	return standardOptionFunc(func(c *standardConfig) { c.SetTelemetry(s) })
}

// Status reports the preset for a status page ([telemetry.StatusHandler]):
// Kind "resilientgrpc" and, in Instances, the status of its built-in
// timeouts (named "overall" and "attempt") and of its per-key policies
// ([Standard.Keys], then [Standard.StreamKeys], keyed sets of [KeyPolicy]
// statuses with each key's retry and budget, breaker and bulkhead).
func (s *Standard) Status() telemetry.Status {
	st := telemetry.Status{Kind: standardName, Name: standardName}
	if r, ok := s.unary.policy.(telemetry.StatusReporter); ok {
		st.Instances = append(st.Instances, r.Status())
	}
	st.Instances = preset.AppendTimeoutStatus(st.Instances, s.unary.overall, s.unary.attempt)
	if s.unaryKeys != nil {
		st.Instances = append(st.Instances, s.unaryKeys.Status(), s.streamKeys.Status())
	}
	return st
}

// Status reports the key's policies for a status page: Kind "chain", the
// key as Key, and in Instances the status of its retry (with its budget),
// of the breaker and of the bulkhead, in that order (those that are on).
func (k *KeyPolicy) Status() telemetry.Status {
	return preset.KeyStatus(k.name, k.key, k.Retry, k.Breaker, k.Bulkhead)
}

var (
	_ telemetry.StatusReporter = (*Standard)(nil)
	_ telemetry.StatusReporter = (*KeyPolicy)(nil)
)
