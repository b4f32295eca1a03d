package resilientgrpc

import (
	"context"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cascadeguard/resilience"
)

// Outcome is what a status code means for the policy. The zero value is
// Success.
type Outcome int

const (
	// Success: the call succeeded. Only codes.OK is a success; a
	// classifier that returns Success for another code gets ClientError
	// treatment, since the caller still receives the error.
	Success Outcome = iota
	// Failure: the dependency failed. The op's error counts as a failure
	// for a breaker, and a retry may retry it if its code is retryable
	// (see [WithRetryableCodes]).
	Failure
	// ClientError: the call was at fault, or the outcome says nothing
	// about the dependency's health. The op's error is marked neutral (a
	// breaker counts it as neither success nor failure) and permanent (a
	// retry returns it at once).
	ClientError
)

// String returns "success", "failure" or "client_error".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case ClientError:
		return "client_error"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// DefaultClassifier is the classifier the interceptors use unless
// [WithClassifier] sets another. See the package documentation for the
// table and the reasons.
func DefaultClassifier(c codes.Code) Outcome {
	switch c {
	case codes.OK:
		return Success
	case codes.Unknown, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Internal, codes.Unavailable, codes.DataLoss:
		return Failure
	}
	// Canceled, InvalidArgument, NotFound, AlreadyExists, PermissionDenied,
	// FailedPrecondition, Aborted, OutOfRange, Unimplemented,
	// Unauthenticated, and codes unknown to this version.
	return ClientError
}

// attemptErr is the error an attempt returns to the policy when the call
// failed: the gRPC error unchanged, plus the marks that the policies read
// through small interfaces (resilience.IsNeutral, retry.IsPermanent,
// resilience.RetryAfter). One allocation carries all of them.
type attemptErr struct {
	err        error          // what gRPC returned
	st         *status.Status // err's status
	neutral    bool
	permanent  bool
	hasHint    bool
	retryAfter time.Duration
}

func (e *attemptErr) Error() string { return e.err.Error() }

func (e *attemptErr) Unwrap() error { return e.err }

// GRPCStatus makes the error a status error for status.FromError, should
// a policy return it wrapped in an error of its own.
func (e *attemptErr) GRPCStatus() *status.Status { return e.st }

// Neutral is read by resilience.IsNeutral.
func (e *attemptErr) Neutral() bool { return e.neutral }

// Permanent is read by retry.IsPermanent.
func (e *attemptErr) Permanent() bool { return e.permanent }

// RetryAfter implements resilience.RetryAfterHint with the server's pushback.
func (e *attemptErr) RetryAfter() (time.Duration, bool) { return e.retryAfter, e.hasHint }

var _ resilience.RetryAfterHint = (*attemptErr)(nil)

// classify turns the error of an attempt into the error the op returns to
// the policy. caller is the context given to the policy (the caller's, or
// the preset's overall timeout's); md the attempt's trailer; resendable
// whether the call may be sent again; sent the request message of a unary
// or server-streaming call (or nil), to tell whose message gRPC could not
// marshal.
func (o *options) classify(caller context.Context, err error, md metadata.MD, resendable bool, sent any) *attemptErr {
	st, _ := status.FromError(err)
	e := &attemptErr{err: err, st: st}
	d, pb := parsePushback(md[pushbackKey])
	e.retryAfter, e.hasHint = d, pb == pushbackDelay
	if ended(caller) {
		// The caller cancelled or its deadline passed: that says nothing
		// about the dependency, and there is no one left to retry for.
		e.neutral, e.permanent = true, true
		return e
	}
	c := st.Code()
	if o.classifier(c) != Failure || c == codes.OK || localError(c, st.Message(), sent) {
		e.neutral, e.permanent = true, true
		return e
	}
	e.permanent = !resendable || !o.isRetryable(c) || pb == pushbackStop
	return e
}

// localErrors are the beginnings of the messages of the errors that grpc-go
// raises itself, under codes that otherwise mean a failing server (Internal,
// ResourceExhausted), for a message it cannot encode, decode or compress, a
// message over a size limit, a stream used out of order, outgoing metadata
// it refuses to send, or per-call credentials that failed. They come the
// same whether the caller's side raised them or the server's side raised
// them about the caller's message: either way the call is at fault, not the
// dependency, and sending it again gives the same error. The exception is a
// reply the server cannot marshal (see localError); that of a client- or
// bidi-streaming call is still taken for the caller's, since its messages
// are not kept. Pinned by
// TestLocalErrorsOfThisGRPCVersion.
var localErrors = [...]string{
	marshalError,
	"grpc: error while compressing",
	"grpc: failed to unmarshal",
	"grpc: received message larger than max",
	"grpc: message too large",
	"grpc: message after decompression larger than max",
	"grpc: received message after decompression larger than max",
	"trying to send message larger than max",
	"SendMsg called after CloseSend",
	"no codec registered for content-subtype",
	"grpc: Compressor is not installed",
	// Outgoing metadata that gRPC refuses to send, and per-call
	// credentials that failed (their token source is another dependency).
	"there is an empty key in the header",
	"header key \"",
	"transport: per-RPC creds failed",
	"transport: received per-RPC creds error",
}

// localError reports whether a status of code c with message msg is one of
// grpc-go's own errors about the call (see localErrors). One of them is also
// the server's about its own reply: "error while marshaling" comes from the
// client's side when the request cannot be marshaled, and from the server's
// when its reply cannot (a handler that returned a string that is not
// UTF-8: the server is failing). For a unary or server-streaming call
// whose request (sent) is a proto.Message that marshals, it is therefore
// the server's; the callers pass sent only when the call uses grpc-go's own
// proto codec (protoCodec), whose verdict proto.Marshal repeats.
func localError(c codes.Code, msg string, sent any) bool {
	if c != codes.Internal && c != codes.ResourceExhausted {
		return false
	}
	for _, p := range localErrors {
		if strings.HasPrefix(msg, p) {
			return p != marshalError || !marshals(sent)
		}
	}
	return false
}

// marshalError is grpc-go's message for a message its codec cannot marshal.
const marshalError = "grpc: error while marshaling"

// isMarshalError reports whether err is gRPC's Internal error about a
// message that could not be marshaled.
func isMarshalError(err error) bool {
	st, _ := status.FromError(err)
	return st.Code() == codes.Internal && strings.HasPrefix(st.Message(), marshalError)
}

// marshals reports whether m is a proto.Message that marshals, as gRPC's
// default codec would marshal it; false when it is not one (another codec
// then sent it, whose verdict cannot be checked here).
func marshals(m any) bool {
	if _, ok := m.(nothingSent); ok {
		return true // no message of the caller's was marshaled
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return false
	}
	_, err := proto.Marshal(pm)
	return err == nil
}

// nothingSent is the sent of a stream whose caller sent no message: an
// "error while marshaling" is then the server's.
type nothingSent struct{}

// pushbackKey is the trailer with which a gRPC server tells the client how
// long to wait before it retries, in milliseconds (gRFC A6).
const pushbackKey = "grpc-retry-pushback-ms"

// pushback is what a grpc-retry-pushback-ms trailer asks for.
type pushback int

const (
	pushbackNone  pushback = iota // no trailer: retry as the policy decides
	pushbackDelay                 // wait the given delay before retrying
	pushbackStop                  // do not retry
)

// maxPushback is the largest delay a pushback can ask for: the largest
// whole number of milliseconds a time.Duration holds (about 292 years). A
// larger value is lowered to it rather than wrapping around.
const maxPushback = time.Duration(math.MaxInt64/int64(time.Millisecond)) * time.Millisecond

// parsePushback reads the values of the grpc-retry-pushback-ms trailer as
// gRPC's own retry does (gRFC A6): no value means no pushback; a single
// value that is a decimal integer, as strconv.ParseInt reads it (an
// optional sign, then digits), asks to wait that many milliseconds if it is
// not negative and not to retry at all if it is negative; anything else
// (malformed, empty, several values) means do not retry. Values beyond
// maxPushback are lowered to it; no value overflows.
func parsePushback(vals []string) (time.Duration, pushback) {
	switch len(vals) {
	case 0:
		return 0, pushbackNone
	case 1:
	default:
		return 0, pushbackStop
	}
	s := vals[0]
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, pushbackStop
	}
	const maxMs = int64(maxPushback / time.Millisecond)
	var ms int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, pushbackStop
		}
		if ms <= maxMs { // saturate: only whether it exceeds matters then
			ms = ms*10 + int64(c-'0')
		}
	}
	switch {
	case neg && ms != 0:
		return 0, pushbackStop
	case ms > maxMs:
		return maxPushback, pushbackDelay
	}
	return time.Duration(ms) * time.Millisecond, pushbackDelay
}

// ended reports whether ctx has ended, or its deadline has passed: gRPC may
// end a call for the deadline (the server's timer, or its own check of the
// deadline) before the context's timer has run, so that ctx.Err() is still
// nil.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// protoCodec reports whether a call with opts (the dial's default call
// options included, as gRPC gives them to interceptors) marshals with
// grpc-go's own proto codec, whose verdict proto.Marshal repeats: no codec
// chosen for the call, no content subtype but "proto" (the registry's
// name, matched exactly as gRPC looks it up), and "proto" not replaced in
// the registry. Options are matched as values and as pointers (the
// option types' methods have value receivers). A codec chosen by an
// interceptor chained inside this one is not seen.
func protoCodec(opts []grpc.CallOption) bool {
	subtype := ""
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.ForceCodecCallOption, grpc.ForceCodecV2CallOption, grpc.CustomCodecCallOption,
			*grpc.ForceCodecCallOption, *grpc.ForceCodecV2CallOption, *grpc.CustomCodecCallOption:
			return false
		case grpc.ContentSubtypeCallOption:
			subtype = o.ContentSubtype
		case *grpc.ContentSubtypeCallOption:
			if o == nil {
				return false // gRPC's before would panic: not a verdict to repeat
			}
			subtype = o.ContentSubtype
		}
	}
	if subtype != "" && subtype != "proto" {
		return false
	}
	t := reflect.TypeOf(encoding.GetCodecV2("proto"))
	if t == nil {
		return false
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "google.golang.org/grpc/encoding/proto"
}
