package keyed

import "context"

// ctxKey is the context key of WithKey. It is deliberately not the key under
// which the adapters put a request's host or method for the span events of
// shared policies (package internal/observe): the two values can differ (a
// Keyed may be keyed by tenant inside an HTTP transport keyed by host), and
// an adapter sets the span-event key only for requests whose span is
// recording, so sharing one value would make a Keyed route by the host for
// sampled requests and by the tenant for the others.
type ctxKey struct{}

// WithKey returns a copy of ctx that carries key, for [Keyed.Do] to find.
// The HTTP adapter puts the request's host there, the gRPC interceptors the
// full method name.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, ctxKey{}, key)
}

// KeyFrom returns the key that [WithKey] put in ctx, and whether there was
// one. It is the caller's key as given, even when the call is served by the
// overflow instance, so it may be long and untrusted: do not use it as a
// telemetry attribute yourself (a factory passes its key to the instance's
// Config.Telemetry.Key, which is sanitized and capped).
func KeyFrom(ctx context.Context) (key string, ok bool) {
	key, ok = ctx.Value(ctxKey{}).(string)
	return key, ok
}
