package keyed

import "context"

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
// telemetry attribute.
func KeyFrom(ctx context.Context) (key string, ok bool) {
	key, ok = ctx.Value(ctxKey{}).(string)
	return key, ok
}
