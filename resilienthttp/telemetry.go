package resilienthttp

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/preset"
	"github.com/cascadeguard/resilience/telemetry"
)

// Telemetry of the standard transport. The transport records nothing about
// requests itself: its policies do (retry, per-host breakers and
// bulkheads), and so do its built-in timeouts, which record what a
// [timeout.Timeout] named "overall" or "attempt" would (policy kind
// "timeout"; see telemetry/INSTRUMENTS.md). Keys are hosts, never a URL,
// path, query or header.

// WithTelemetry sets the telemetry of every policy the standard transport
// builds: the retry, each host's breaker and bulkhead, and the built-in
// timeouts. s.Key is ignored: each host's breaker and bulkhead get the host
// as their key, and the shared retry and timeouts have none (their span
// events name the host of the request; see below).
//
// A configuration given to [WithRetry], [WithBreaker] or [WithBulkhead]
// whose Telemetry sets a MeterProvider, a Logger or Disabled keeps its own
// settings (its Key, if set, is kept in any case). The default, without
// WithTelemetry, is the zero [telemetry.Settings]: the global OpenTelemetry
// providers, no logs. telemetry.Settings{Disabled: true} turns all the
// transport's telemetry off, span events included.
//
// When the request's context carries a recording span, the transport puts
// the request's key ([HostKey], or [WithKeyFunc]'s) into the context the
// policies get, so that the span events of the shared retry and timeouts
// carry it as resilience.key (sanitized: never user information or a
// query). It does so only for a recording span, since it costs a context
// value.
func WithTelemetry(s telemetry.Settings) StandardOption {
	return standardOptionFunc(func(c *standardConfig) { c.SetTelemetry(s) })
}

// withKeyForSpan returns ctx with key for the span events of the shared
// policies, if ctx's span records them.
func withKeyForSpan(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return observe.ContextWithKey(ctx, key)
}

// spanRecording reports whether ctx carries a span that records events.
func spanRecording(ctx context.Context) bool {
	return trace.SpanFromContext(ctx).IsRecording()
}

// Status reports the transport for a status page ([telemetry.StatusHandler]):
// Kind "resilienthttp" and, in Instances, the status of its policy (the one
// given to [NewTransport]; a standard transport has none of its own), of its
// built-in timeouts (named "overall" and "attempt"), and of its hosts
// ([Transport.Hosts], a keyed set of [HostPolicy] statuses, each with the
// host's retry and budget, breaker and bulkhead). A policy given to [NewTransport] that does not implement
// [telemetry.StatusReporter] is left out.
func (t *Transport) Status() telemetry.Status {
	st := telemetry.Status{Kind: standardName, Name: standardName}
	if r, ok := t.policy.(telemetry.StatusReporter); ok {
		st.Instances = append(st.Instances, r.Status())
	}
	if s := t.std; s != nil {
		st.Instances = preset.AppendTimeoutStatus(st.Instances, s.overall, s.attempt)
		if s.hosts != nil {
			st.Instances = append(st.Instances, s.hosts.Status())
		}
	}
	return st
}

// Status reports the host's policies for a status page: Kind "chain", the
// host as Key, and in Instances the status of its retry (with its budget),
// of the breaker and of the bulkhead, in that order (those that are on).
func (h *HostPolicy) Status() telemetry.Status {
	return preset.KeyStatus(h.name, h.key, h.Retry, h.Breaker, h.Bulkhead)
}

var (
	_ telemetry.StatusReporter = (*Transport)(nil)
	_ telemetry.StatusReporter = (*HostPolicy)(nil)
)
