package resilientgrpc_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
)

// The "json" codec in gRPC's registry, for calls that choose it by content
// subtype ("application/grpc+json"). Registered at init, as gRPC requires;
// no other test uses the subtype.
func init() { encoding.RegisterCodec(jsonCodec{}) }

// jsonCodecV2 is jsonCodec as an encoding.CodecV2, for ForceCodecV2.
type jsonCodecV2 struct{}

func (jsonCodecV2) Marshal(v any) (mem.BufferSlice, error) {
	b, err := jsonCodec{}.Marshal(v)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}
func (jsonCodecV2) Unmarshal(data mem.BufferSlice, v any) error {
	return jsonCodec{}.Unmarshal(data.Materialize(), v)
}
func (jsonCodecV2) Name() string { return "json" }

// jsonCodecV0 is jsonCodec as a grpc.Codec, for CallCustomCodec.
type jsonCodecV0 struct{ jsonCodec }

func (jsonCodecV0) String() string { return "json" }

// TestEveryCodecOptionFormIsTheCallers: the caller's own codec cannot
// marshal its request (protojson refuses a Duration that proto.Marshal
// accepts), whichever call option chose the codec: ForceCodec,
// ForceCodecV2 or CallCustomCodec, as values or as pointers (their methods
// have value receivers), per call or as dial defaults, or a content
// subtype other than "proto". None of these is grpc-go's proto codec, whose
// verdict proto.Marshal repeats: the caller's fault, which must not open
// the breaker, on unary calls and on server-streaming calls alike.
func TestEveryCodecOptionFormIsTheCallers(t *testing.T) {
	forms := map[string]grpc.CallOption{
		"ForceCodec value":                grpc.ForceCodecCallOption{Codec: jsonCodec{}},
		"ForceCodec pointer":              &grpc.ForceCodecCallOption{Codec: jsonCodec{}},
		"ForceCodecV2 value":              grpc.ForceCodecV2CallOption{CodecV2: jsonCodecV2{}},
		"ForceCodecV2 pointer":            &grpc.ForceCodecV2CallOption{CodecV2: jsonCodecV2{}},
		"CallCustomCodec value":           grpc.CustomCodecCallOption{Codec: jsonCodecV0{}},
		"CallCustomCodec pointer":         &grpc.CustomCodecCallOption{Codec: jsonCodecV0{}},
		"content subtype json":            grpc.CallContentSubtype("json"),
		"content subtype json as pointer": &grpc.ContentSubtypeCallOption{ContentSubtype: "json"},
	}
	bad := &durationpb.Duration{Seconds: 1 << 40} // out of protojson's range
	if _, err := proto.Marshal(bad); err != nil {
		t.Fatalf("proto.Marshal: %v; the test needs a message it accepts", err)
	}
	const unaryMethod = "/grpc.testing.TestService/UnaryCall"
	const streamMethod = "/grpc.health.v1.Health/Watch"
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
	ts := &testService{unary: func(*testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return &testpb.SimpleResponse{}, nil
	}}
	addr := serve(t, &healthServer{}, ts)
	for name, opt := range forms {
		for _, asDefault := range []bool{false, true} {
			where := "per call"
			if asDefault {
				where = "dial default"
			}
			t.Run(name+", "+where, func(t *testing.T) {
				std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
				dopts := std.DialOptions()
				var copts []grpc.CallOption
				if asDefault {
					dopts = append(dopts, grpc.WithDefaultCallOptions(opt))
				} else {
					copts = []grpc.CallOption{opt}
				}
				cc := dial(t, addr, dopts...)
				for i := range 3 {
					err := cc.Invoke(context.Background(), unaryMethod, bad, new(durationpb.Duration), copts...)
					wantMarshalError(t, i+1, err)
					s, err := cc.NewStream(context.Background(), desc, streamMethod, copts...)
					if err == nil {
						if err = s.SendMsg(bad); err == nil {
							err = s.RecvMsg(new(durationpb.Duration))
						}
					}
					wantMarshalError(t, i+1, err)
				}
				wantNoFailure(t, keyPolicies(t, std.Keys())[unaryMethod], "unary calls whose request the caller's codec could not marshal")
				wantNoFailure(t, keyPolicies(t, std.StreamKeys())[streamMethod], "streams whose request the caller's codec could not marshal")
			})
		}
	}
}

// TestServerStreamOpenErrorRetried: a server-streaming call whose stream
// cannot be opened (NewStream fails, as it does when no connection is
// ready) sent nothing, and is retried like any other retryable failure.
func TestServerStreamOpenErrorRetried(t *testing.T) {
	var opens atomic.Int32
	failFirstOpen := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if opens.Add(1) == 1 {
			return nil, status.Error(codes.Unavailable, "no connection ready")
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
	h := &healthServer{}
	opts := append(interceptors(newRetry(t, retry.Config{MaxAttempts: 3})), grpc.WithChainStreamInterceptor(failFirstOpen))
	w, err := healthpb.NewHealthClient(dial(t, serve(t, h, nil), opts...)).Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatalf("Watch: %v, want the open retried", err)
	}
	if msgs, err := recvAll[healthpb.HealthCheckResponse](w); len(msgs) != 1 || err != io.EOF {
		t.Errorf("got %d messages and %v, want 1 and io.EOF", len(msgs), err)
	}
	if got := opens.Load(); got != 2 {
		t.Errorf("opens = %d, want 2", got)
	}
}

// TestStreamTrailerIsTheLastAttempts: a retried stream's Trailer method is
// that of the attempt that served the caller, not the replaced one's.
func TestStreamTrailerIsTheLastAttempts(t *testing.T) {
	h := &healthServer{watch: failFirstWithTrailer}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := recvAll[healthpb.HealthCheckResponse](w); len(msgs) != 1 || err != io.EOF {
		t.Fatalf("got %d messages and %v, want 1 and io.EOF", len(msgs), err)
	}
	if got := w.Trailer().Get("attempt"); len(got) != 1 || got[0] != "2" {
		t.Errorf("Trailer() attempt = %q, want [2]", got)
	}
}

// TestStreamContextTakenAfterTheEndIsDone: a stream's Context asked for
// only after the stream ended is already done.
func TestStreamContextTakenAfterTheEndIsDone(t *testing.T) {
	client := unaryClient(t, &healthServer{}, newRetry(t, retry.Config{MaxAttempts: 2}))
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvAll[healthpb.HealthCheckResponse](w); err != io.EOF {
		t.Fatalf("stream ended with %v, want io.EOF", err)
	}
	select {
	case <-w.Context().Done():
	default:
		t.Errorf("the Context of an ended stream, first asked for after its end: not done, want done")
	}
}

// TestClientAndBidiStreamMarshalFailureIsTheCallers: a client-streaming or
// bidirectional call whose caller's message cannot be marshaled (a string
// that is not UTF-8; a value that is not a proto.Message) fails with
// gRPC's "error while marshaling", the caller's fault: such a call's
// messages are not kept, so the words cannot be told apart from the
// server's and are taken for the caller's. Ten of them must not open the
// method's breaker.
func TestClientAndBidiStreamMarshalFailureIsTheCallers(t *testing.T) {
	ts := &testService{
		fullDuplex: func(s testpb.TestService_FullDuplexCallServer) error {
			_, err := s.Recv()
			return err
		},
		input: func(s testpb.TestService_StreamingInputCallServer) error {
			_, err := s.Recv()
			return err
		},
	}
	for _, tt := range []struct {
		method string
		desc   *grpc.StreamDesc
		msg    any
	}{
		{"/grpc.testing.TestService/FullDuplexCall", &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
			&testpb.StreamingOutputCallRequest{ResponseStatus: &testpb.EchoStatus{Message: "\xff"}}}, // not UTF-8
		{"/grpc.testing.TestService/StreamingInputCall", &grpc.StreamDesc{ClientStreams: true}, "not a proto.Message"},
	} {
		t.Run(tt.method, func(t *testing.T) {
			std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
			cc := dial(t, serve(t, &healthServer{}, ts), std.DialOptions()...)
			for i := range 10 {
				s, err := cc.NewStream(context.Background(), tt.desc, tt.method)
				if err != nil {
					t.Fatal(err)
				}
				if err = s.SendMsg(tt.msg); err == nil {
					err = s.RecvMsg(new(testpb.StreamingOutputCallResponse))
				}
				wantMarshalError(t, i+1, err)
			}
			wantNoFailure(t, keyPolicies(t, std.StreamKeys())[tt.method], "after 10 streams whose message the caller could not marshal")
		})
	}
}

// TestStreamOpRunConcurrentlyIsRefused: a policy that runs a stream's op
// again while it runs (hedging) gets a neutral, permanent error for the
// second run, which opens no second stream: a stream cannot be shared.
func TestStreamOpRunConcurrentlyIsRefused(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		entered <- struct{}{}
		if err := s.Send(serving()); err != nil {
			return err
		}
		select {
		case <-release:
		case <-s.Context().Done():
		}
		return nil
	}}
	second := make(chan error, 1)
	hedge := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		first := make(chan error, 1)
		go func() { first <- op(ctx) }()
		<-entered // the first run's stream is open
		second <- op(ctx)
		return <-first
	})
	client := unaryClient(t, h, hedge)
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	err = <-second
	close(release)
	if err == nil || !resilience.IsNeutral(err) || !retry.IsPermanent(err) {
		t.Errorf("the op run while it runs: %v (neutral %v, permanent %v), want a neutral, permanent error",
			err, resilience.IsNeutral(err), retry.IsPermanent(err))
	}
	if msgs, err := recvAll[healthpb.HealthCheckResponse](w); len(msgs) != 1 || err != io.EOF {
		t.Errorf("got %d messages and %v, want the first run's 1 and io.EOF", len(msgs), err)
	}
	if got := h.watches.Load(); got != 1 {
		t.Errorf("server streams = %d, want 1", got)
	}
}
