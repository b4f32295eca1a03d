package resilientgrpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// An Option configures an interceptor. Options are applied in order; a later
// option overrides an earlier one of the same kind. Every Option is also a
// [StandardOption].
type Option interface {
	StandardOption
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options holds the settings of one interceptor (or preset). It is read-only
// once built, so calls share it without locking.
type options struct {
	classifier func(codes.Code) Outcome
	retryable  uint32 // bit c set: code c may be retried
	keyFunc    func(method string, cc *grpc.ClientConn) string
	withKey    func(context.Context, string) context.Context
}

// defaultRetryable is the set of codes retried by default: Unavailable only.
// gRPC documents it as most likely transient and corrected by a retry with
// backoff, adding that retrying non-idempotent operations is not always
// safe (see "Classification" in the package documentation); other codes
// are likelier still to mean the server did some of the work.
const defaultRetryable = 1 << codes.Unavailable

func newOptions(opts []Option) options {
	o := options{retryable: defaultRetryable}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.classifier == nil {
		o.classifier = DefaultClassifier
	}
	if o.keyFunc == nil {
		o.keyFunc = MethodKey
	}
	return o
}

func (o *options) isRetryable(c codes.Code) bool {
	return c < 32 && o.retryable&(1<<c) != 0
}

// WithClassifier sets the function that decides what a status code other
// than OK means for the policy: [Failure] or [ClientError] (see [Outcome]).
// Nil means [DefaultClassifier]. The caller's own cancellation is neutral
// whatever the classifier says.
func WithClassifier(classify func(codes.Code) Outcome) Option {
	return optionFunc(func(o *options) { o.classifier = classify })
}

// WithRetryableCodes sets the status codes that a retry policy may retry,
// replacing the default set, which holds only codes.Unavailable (include it
// if you still want it). A code is retried only when the classifier also
// makes it a [Failure], the server sent no pushback that forbids it, and the
// call can be sent again (a unary call, or a server-streaming call that has
// received nothing). Every other error leaves the op marked with
// retry.Permanent. With no codes, nothing is retried.
//
// Add a code only when a repeated call is safe: DeadlineExceeded, for
// instance, means the server may have done the work.
func WithRetryableCodes(cs ...codes.Code) Option {
	return optionFunc(func(o *options) {
		o.retryable = 0
		for _, c := range cs {
			if c < 32 {
				o.retryable |= 1 << c
			}
		}
	})
}

// WithKeyFunc sets the function that computes a call's key for per-key
// policies: the key the standard preset ([NewStandard]) uses to pick a
// call's breaker and bulkhead, and the key that [WithContextKey] puts in the
// context. Nil means [MethodKey]; [TargetKey] keys by the connection's
// target instead.
func WithKeyFunc(key func(method string, cc *grpc.ClientConn) string) Option {
	return optionFunc(func(o *options) { o.keyFunc = key })
}

// WithContextKey sets the function that puts the call's key (see
// [WithKeyFunc]) into the context given to the policy, for per-key policies
// to find it; for package keyed it is keyed.WithKey. Without it (or with
// nil), no key is computed. If it returns a nil context, the policy gets the
// caller's context. The standard preset ignores it: it finds its per-key
// instances without the context.
func WithContextKey(with func(ctx context.Context, key string) context.Context) Option {
	return optionFunc(func(o *options) { o.withKey = with })
}

// MethodKey returns the full method name, "/package.Service/Method": one
// breaker and bulkhead per method. It is the default key.
func MethodKey(method string, _ *grpc.ClientConn) string { return method }

// TargetKey returns the target the connection was created with
// (cc.Target()): one breaker and bulkhead per dependency, shared by its
// methods. A nil cc has the empty key.
func TargetKey(_ string, cc *grpc.ClientConn) string {
	if cc == nil {
		return ""
	}
	return cc.Target()
}
