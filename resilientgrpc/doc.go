// Package resilientgrpc puts a [resilience.Policy] around gRPC client calls,
// unary and streaming, as client interceptors:
//
//	conn, err := grpc.NewClient(target, creds,
//		grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(policy)),
//		grpc.WithChainStreamInterceptor(resilientgrpc.StreamClientInterceptor(policy)))
//
// or, with the standard preset ([NewStandard]): overall timeout → retry (with
// budget) → per-method breaker → per-method bulkhead → per-attempt timeout:
//
//	std, err := resilientgrpc.NewStandard()
//	conn, err := grpc.NewClient(target, append(std.DialOptions(), creds)...)
//
// Policies see only errors. Each attempt's error goes to the policy
// classified by its status code, and comes back out of the interceptor as
// a status error.
//
// # Classification
//
// An attempt that fails returns gRPC's error to the policy, marked for the
// policies by its code ([DefaultClassifier], changed with [WithClassifier]
// and [WithRetryableCodes]):
//
//	Code                 Breaker   Retried by default
//	OK                   success   -
//	Unavailable          failure   yes
//	Unknown              failure   no
//	Internal             failure   no
//	DataLoss             failure   no
//	ResourceExhausted    failure   no
//	DeadlineExceeded     failure   no
//	InvalidArgument      neutral   no
//	NotFound             neutral   no
//	AlreadyExists        neutral   no
//	PermissionDenied     neutral   no
//	Unauthenticated      neutral   no
//	FailedPrecondition   neutral   no
//	OutOfRange           neutral   no
//	Unimplemented        neutral   no
//	Aborted              neutral   no
//	Canceled             neutral   no
//	any code, once the caller's context has ended   neutral   no
//
// A failure means the dependency is failing: overloaded, unreachable,
// broken, or too slow (a DeadlineExceeded from the server, or a per-attempt
// timeout of the policy, while the caller's context is alive). A neutral
// outcome is the caller's mistake or a conflict of its own (Aborted is a
// transaction that lost a race and is retried at a higher level, by the
// application): the error is marked with [resilience.MarkNeutral]'s mark, so
// a breaker counts it as neither success nor failure. The caller's own
// cancellation or deadline is neutral whatever the code. So are the errors
// grpc-go raises about the call itself under Internal or ResourceExhausted,
// on either side: a message it cannot marshal, unmarshal or compress, a
// message over a size limit (grpc.MaxCallRecvMsgSize and the like), a
// stream used out of order, outgoing metadata it refuses to send (a header
// value with a line break), per-call credentials that failed. They are told
// apart by their message (which
// the classifier, given only the code, does not see); sending such a call
// again gives the same error, and ten of them must not open the breaker of
// a healthy method. One exception: a server that cannot marshal its own
// reply sends the same words as a client that cannot marshal its request;
// for a unary or server-streaming call sent with grpc-go's own proto codec,
// whose request is a proto.Message that marshals, it is the server's
// failure and counts as one. (That of a client- or bidi-streaming call, or
// of a call with a codec of its own, is still taken for the caller's.)
//
// Only Unavailable is retried by default: gRPC documents it as most likely
// a transient condition, corrected by retrying with a backoff, while every
// other code may mean the server did (part of) the work. gRPC's
// documentation adds that it is not always safe to retry non-idempotent
// operations: a connection lost after the server did the work also ends the
// call with Unavailable, and a retry then does it twice. For a method that
// must not run twice, turn retries off with WithRetryableCodes() (no code)
// on the interceptor or preset that serves it. Every error that may not be
// retried is marked as retry.Permanent's mark, so that a retry policy
// anywhere in the chain returns it at once.
//
// # Pushback
//
// A server asks the client to wait before it retries, or not to retry at
// all, with the grpc-retry-pushback-ms trailer (gRFC A6). A single value
// that is a non-negative decimal integer becomes the error's retry hint
// ([resilience.RetryAfterHint]), in milliseconds, which a retry policy
// honours up to its MaxRetryAfter; absurd values are lowered to about 292
// years rather than overflow. A negative value, a malformed one or several
// values mean do not retry: the error is marked permanent. The interceptor
// reads the trailer with a grpc.Trailer call option of its own; a caller's
// grpc.Trailer option still receives the trailer (of the last attempt).
//
// # Errors
//
// When the policy returns an attempt's error as it was, the interceptor
// returns gRPC's error itself, with the server's status and details. Any
// other error of the policy leaves as an [*Error]: a status error that
// status.Code and status.FromError read, and that unwraps to the policy's
// error, so errors.Is(err, breaker.ErrOpen) still holds:
//
//	Policy error                                    Status code
//	breaker.ErrOpen                                 Unavailable
//	bulkhead.ErrFull, ratelimit.ErrLimited          ResourceExhausted
//	retry.ErrBudgetExhausted                        the last attempt's status (Unavailable if none)
//	any other rejection (resilience.ErrRejected)    Unavailable
//	timeout.ErrTimeout                              DeadlineExceeded
//	the caller's context ended                      Canceled or DeadlineExceeded
//	retries gave up (retry.Error)                   the last attempt's status
//	ErrNoStream, ErrNoCall                          Internal
//	anything else                                   Unknown
//
// A grpc.OnFinish call option is called once per call with the
// interceptor's final error, not once per attempt.
//
// # Deadlines
//
// Every attempt runs with the context the policy gives its op, so one
// deadline (the caller's, or an overall timeout policy's) spans all
// attempts, and a per-attempt timeout inside the retry gives each attempt
// the earlier of its own deadline and the remaining one. gRPC sends that
// deadline to the server with the call.
//
// The standard preset's own timeouts are the exception: when the caller's
// context has no deadline, the client alone enforces them, and the server
// is not told them. A deadline costs gRPC, on every call, more than the
// preset's policies together (the client formats a grpc-timeout header,
// both sides add it to their HPACK tables, the server parses it and makes
// a context with a timer), which a caller who set no deadline did not ask
// for. When one of the preset's timeouts expires, the client cancels the
// call, and the server sees its context cancelled (by RST_STREAM) rather
// than expired. A caller's own deadline always reaches the server: when the
// caller's context has one, the server is told the earliest of the
// deadlines, the preset's included.
//
// # Streams
//
// A stream is admitted by the policy when it opens and holds what the
// policy gave it — a bulkhead's slot, a breaker's probe — until it ends; its
// outcome is recorded then: io.EOF from RecvMsg is a success, a status error
// is classified as above, a stream the caller abandons by cancelling its
// context is neutral. The policy's timeouts bound the stream's whole life;
// the breaker's SlowCall rule should be off for streams (the standard
// preset turns it off). The standard preset's stream breakers learn a
// probe's outcome earlier: a stream admitted while the breaker is not
// closed is a success as soon as its first message arrives (its bulkhead
// slot is still held until it ends), so that a half-open breaker whose
// probe is a long, healthy stream closes at once instead of expiring the
// probe and staying half-open; other streams count by how they end, so a
// stream that fails after its first message counts as a failure. A probe
// stream with no first message after the breaker's ProbeFailAfter (250 ms)
// reopens the breaker; its first message, if it comes within the attempt
// timeout, still closes it. [StreamBreaker] gives a breaker of your own the same
// rule. A stream that receives nothing for long (a watch that sends only
// changes) cannot show that its dependency is healthy: after an outage,
// the preset admits such streams one probe at a time, each failed after
// ProbeFailAfter, until one of them receives a message, so the servers of
// such streams should send one at once (the current state, say).
//
// A stream's Context is the caller's context, ended when the stream ends;
// a retry does not end it.
//
// To hold the policy's permits while the caller uses the stream, the
// interceptor runs the policy's Do in a goroutine of its own for each
// stream. Its op opens the gRPC stream, hands it to the caller (the
// interceptor returns then) and waits for the stream to end, which gRPC
// reports with a grpc.OnFinish call option; then the op returns and the
// goroutine publishes the outcome and ends. The goroutine is owned by the
// stream: it ends when the stream ends, that is when RecvMsg has returned
// an error (io.EOF included), when SendMsg has returned an error other than
// io.EOF, when the stream's context is cancelled or its deadline passes, or
// when the ClientConn is closed. Those are the events on which gRPC itself
// frees a stream (see grpc.ClientConn.NewStream): a caller must cancel the
// context or read the stream to its end, as gRPC requires anyway, or the
// goroutine stays with gRPC's own resources. A probe that a stream never
// reports does not leave a breaker stuck: its slot is freed after the
// breaker's ProbeTimeout.
//
// When the stream ends, RecvMsg waits for the policy to return before it
// returns, so the caller never sees the end before the outcome is recorded
// and the permits released.
//
// Only server-streaming calls (StreamDesc.ServerStreams without
// ClientStreams) are retried, and only until a message has been delivered
// to the caller: the interceptor keeps the one request message the caller
// sent and, for a retry, opens a new stream, sends the message again and
// closes the send side if the caller had; RecvMsg then reads from the new
// stream, so the caller sees a single stream. Once a message was received,
// a retry would deliver messages twice. Client-streaming and bidirectional
// calls are never retried: replaying them would mean buffering every
// message; their errors are always marked permanent.
//
// # Telemetry
//
// The interceptors record nothing of their own: the policies they run emit
// OpenTelemetry metrics and span events (see package telemetry), and those
// of the standard preset are keyed by full method. When the call's context
// carries a recording span, the interceptors put the call's key into the
// policy's context, so that the span events of shared policies name the
// method too; no metadata value ever reaches an attribute. [WithTelemetry]
// configures the standard preset's telemetry, and [Standard.Status] reports
// its state for [telemetry.StatusHandler].
package resilientgrpc
