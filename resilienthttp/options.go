package resilienthttp

import (
	"context"
	"net/http"
)

// Defaults of a [Transport].
const (
	// DefaultMaxBufferedBody is the largest request body without GetBody
	// that a Transport buffers so that it can send it again.
	DefaultMaxBufferedBody = 1 << 20

	// DefaultMaxDrain is the most bytes a Transport reads from the body of
	// a response it discards, so that the connection can be reused.
	DefaultMaxDrain = 64 << 10
)

// An Option configures a [Transport]. Options are applied in order; a later
// option overrides an earlier one of the same kind. Every Option is also a
// [StandardOption].
type Option interface {
	StandardOption
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

func (f optionFunc) applyStandard(s *standardConfig) { f(&s.opts) }

// options holds the settings. Zero values mean the defaults, so that a zero
// Transport behaves like NewTransport(nil, nil); a limit that was turned off
// is stored as -1.
type options struct {
	classify   func(*http.Response) Outcome
	idempotent func(*http.Request) bool
	maxBuffer  int64
	maxDrain   int64
	keyFunc    func(*http.Request) string
	withKey    func(context.Context, string) context.Context
}

// limit maps a stored limit to its effective value.
func limit(stored, def int64) int64 {
	switch {
	case stored == 0:
		return def
	case stored < 0:
		return 0
	}
	return stored
}

// stored maps an option's limit argument to its stored form.
func stored(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// WithClassifier sets the function that decides whether a response is a
// success, a failure or a client error. It must not read the body. Nil means
// [DefaultClassifier].
func WithClassifier(classify func(*http.Response) Outcome) Option {
	return optionFunc(func(o *options) { o.classify = classify })
}

// WithIdempotent sets the function that decides whether a request may be
// sent again after it may have reached the server; it replaces [IsIdempotent].
// To widen the default, call IsIdempotent from it:
//
//	resilienthttp.WithIdempotent(func(r *http.Request) bool {
//		return resilienthttp.IsIdempotent(r) || r.URL.Path == "/search"
//	})
//
// A request whose body cannot be replayed is never sent again, whatever f
// says. Nil means IsIdempotent.
func WithIdempotent(f func(*http.Request) bool) Option {
	return optionFunc(func(o *options) { o.idempotent = f })
}

// WithMaxBufferedBody sets the largest request body without GetBody, by its
// Content-Length, that the transport reads into memory so that it can send
// it again. A longer body, or one of unknown length, is streamed once and
// never sent again. n <= 0 turns buffering off. The default is
// [DefaultMaxBufferedBody].
func WithMaxBufferedBody(n int64) Option {
	return optionFunc(func(o *options) { o.maxBuffer = stored(n) })
}

// WithMaxDrain sets the most bytes read from the body of a response that is
// retried away. A body that ends within n bytes leaves its connection
// reusable; a longer one is closed, which closes its connection. n <= 0 turns
// draining off. The default is [DefaultMaxDrain].
//
// The body of a failure response that may be retried is read ahead, up to n
// bytes, when it arrives, while the attempt's deadline still runs: so its
// connection is freed before the backoff wait, and the caller still gets the
// whole body if no further attempt comes.
func WithMaxDrain(n int64) Option {
	return optionFunc(func(o *options) { o.maxDrain = stored(n) })
}

// WithKeyFunc sets the function that computes a request's key for
// [WithContextKey]. Nil means [HostKey]. The key of an outgoing request is
// often chosen by whoever chose the URL: a per-key cache must bound the
// number of keys (package keyed does).
func WithKeyFunc(key func(*http.Request) string) Option {
	return optionFunc(func(o *options) { o.keyFunc = key })
}

// WithContextKey sets the function that puts the request's key into the
// context given to the policy, for per-key policies to find it; for package
// keyed it is keyed.WithKey. Without it (or with nil), no key is computed.
// If it returns a nil context, the policy gets the request's context.
func WithContextKey(with func(ctx context.Context, key string) context.Context) Option {
	return optionFunc(func(o *options) { o.withKey = with })
}
