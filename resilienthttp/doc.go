// Package resilienthttp puts a [resilience.Policy] around an
// [http.RoundTripper], so that any [http.Client] gets circuit breaking,
// bulkheads, retries and timeouts. The standard transport builds the
// recommended chain, per host, with production defaults:
//
//	transport, err := resilienthttp.NewStandardTransport(nil)
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: transport}
//
// [NewTransport] runs requests under any policy of your own instead:
//
//	client := &http.Client{Transport: resilienthttp.NewTransport(nil, policy)}
//
// Policies see only errors, and the RoundTripper contract holds on the way
// out. Each attempt sends the request through the wrapped transport; a
// response that the classifier treats as a failure (by default 5xx except 501
// and 505, 429 and 408) becomes a [*StatusError] for the policy, which carries
// the response and the server's Retry-After; a client error (other 4xx, 501,
// 505) becomes a StatusError that the policy must neither retry nor count
// against the dependency ([resilience.MarkNeutral] and a permanent mark).
// Whatever the policy did with it (retries exhausted, a breaker that opened
// before the next attempt, a budget that ran out), RoundTrip returns the last
// response it received with a nil error. When no attempt got a response, or
// the caller's context ended while the policy still worked, it returns an
// [*Error] instead, which matches the cause under [errors.Is]: an open
// breaker's or a full bulkhead's sentinel, a network error, the caller's
// context error.
//
// The transport does the parts of retrying that only an HTTP layer can do
// right:
//
//   - A request is sent again only when that is safe: its method is
//     idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or it carries an
//     Idempotency-Key, or the error proves that nothing was sent (see
//     [IsIdempotent], [WithIdempotent]); and its body can be replayed.
//   - Every attempt sends the same bytes and Content-Length. A body is
//     rewound with Request.GetBody; a body without GetBody is buffered up to
//     a cap ([WithMaxBufferedBody]) and a longer or unknown-length one is
//     streamed once and never sent again. Memory stays bounded.
//   - The caller's *http.Request is never modified: each attempt sends a
//     shallow copy when it must change anything.
//   - A response that is retried away has its body drained (up to
//     [WithMaxDrain]) and closed, so its connection is reused.
//   - The returned body stays readable after RoundTrip returns, even with
//     timeouts in the policy (see "Contexts and deadlines" below). A 101
//     Switching Protocols body stays the connection net/http gives: an
//     io.ReadWriteCloser with CloseWrite, which httputil.ReverseProxy
//     needs to relay a half-close, and the timeouts do not end it.
//   - An attempt that failed by the request's own fault is not retried and
//     does not count against the host ([resilience.MarkNeutral]): net/http
//     refused the request before sending it (a header, method or URL it
//     does not write, a scheme it does not speak), or the caller's body
//     failed to read or did not have its declared length. A healthy host's
//     breaker is thus not opened by one caller's bad requests.
//   - Errors carry the request's URL without userinfo, query or fragment.
//
// # Contexts and deadlines
//
// A timeout policy cancels its context when its Do returns, which is before
// the caller has read the response body. So the transport does not send an
// attempt with the context the policy passed to the op. When that context
// can be cancelled apart from the one the transport gave the policy (its
// Done channel differs), the transport sends the attempt with a context of its own,
// derived from the request's context (so the caller's cancellation always
// applies, also while the body is read) and carrying the attempt context's
// deadline, which thus bounds the whole exchange, body included, as
// [http.Client.Timeout] does: size per-attempt and overall timeouts for
// complete responses. While the attempt runs, cancelling the attempt context
// cancels the request too. The transport's context ends when the caller
// closes the returned body or reads it to the end, when the response is
// retried away, and on every error path. Values that policies add to the
// attempt context are not seen by the wrapped transport: it sees the values
// of the request's context.
//
// When the policy passes the context it was given through unchanged (or adds
// only values), as a chain without timeouts does, the transport makes no
// context, and the first attempt sends the caller's request itself.
//
// A standard transport ([NewStandardTransport]) does not use timeout
// policies: it implements its overall and per-attempt timeouts itself, with
// the same behaviour. The policy gets a context with the overall deadline,
// and each attempt is sent with one context of the transport's, whose
// deadline is the per-attempt timeout or the overall deadline, whichever
// comes first. That saves the two timeout policies' contexts and the
// transport's own watch on them: about twenty allocations per request.
//
// # Standard transport
//
// [NewStandardTransport] builds, per host:
//
//	overall timeout → retry (with budget) → breaker → bulkhead → per-attempt timeout → call
//
// with defaults close to those of large production clients (30 s overall, 3
// attempts with jittered exponential backoff within a retry budget of about
// 10 %, a breaker that opens for 0.5 s after 10 failures in a row or on a
// failure ratio over a 10 s rolling window, 100 requests in flight per host,
// 10 s per attempt), each of which an option changes. It
// costs a request a handful of allocations over a plain [http.Transport].
//
// # Keys
//
// Per-dependency policies (a retry, a breaker or a bulkhead per host, package keyed)
// find their key in the context given to the policy. [WithContextKey] names
// the function that puts it there; by default the key is the request's host
// ([HostKey]), and [WithKeyFunc] changes it.
//
// # Telemetry
//
// The transport records nothing of its own: the policies it runs emit
// OpenTelemetry metrics and span events (see package telemetry), and those
// of a standard transport are keyed by host. When the request's context
// carries a recording span, the transport puts the request's key into the
// policy's context ([WithKeyFunc]'s, or [HostKey]), so that the span events
// of shared policies name the host too; nothing of a URL but its host, and
// no header, ever reaches an attribute. [WithTelemetry] configures the
// standard transport's telemetry, and [Transport.Status] reports its state
// for [telemetry.StatusHandler].
package resilienthttp
