package resilientgrpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
)

// jsonCodec is a gRPC codec over protojson ("application/grpc+json"), as a
// client that speaks JSON to its server uses with ForceCodec.
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)   { return protojson.Marshal(v.(proto.Message)) }
func (jsonCodec) Unmarshal(b []byte, v any) error { return protojson.Unmarshal(b, v.(proto.Message)) }
func (jsonCodec) Name() string                    { return "json" }

// TestCustomCodecMarshalFailureIsTheCallers: the caller's own codec
// (ForceCodec) cannot marshal the request (protojson refuses a Duration out
// of its range; proto.Marshal accepts it). grpc-go raises "grpc: error
// while marshaling" on the caller's side, before the server sees anything:
// the caller's fault, neutral. The check with proto.Marshal applies to
// grpc-go's own proto codec only.
func TestCustomCodecMarshalFailureIsTheCallers(t *testing.T) {
	ts := &testService{unary: func(*testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return &testpb.SimpleResponse{}, nil
	}}
	std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	cc := dial(t, serve(t, &healthServer{}, ts), std.DialOptions()...)
	const method = "/grpc.testing.TestService/UnaryCall"
	bad := &durationpb.Duration{Seconds: 1 << 40} // out of protojson's range
	if _, err := proto.Marshal(bad); err != nil {
		t.Fatalf("proto.Marshal: %v; the test needs a message it accepts", err)
	}
	for i := range 3 {
		err := cc.Invoke(context.Background(), method, bad, new(durationpb.Duration), grpc.ForceCodec(jsonCodec{}))
		wantMarshalError(t, i+1, err)
	}
	if n := ts.calls.Load(); n != 0 {
		t.Fatalf("server saw %d calls; want 0 (the client could not encode)", n)
	}
	kp := keyPolicies(t, std.Keys())[method]
	wantNoFailure(t, kp, "after 3 requests the caller's codec could not marshal")
}

// TestCustomCodecMarshalFailureOnAStreamIsTheCallers: the same for a
// server-streaming call, whose request the stream keeps and checks.
func TestCustomCodecMarshalFailureOnAStreamIsTheCallers(t *testing.T) {
	std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	cc := dial(t, serve(t, &healthServer{}, nil), std.DialOptions()...)
	const method = "/grpc.health.v1.Health/Watch"
	bad := &durationpb.Duration{Seconds: 1 << 40} // out of protojson's range
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
	for i := range 3 {
		s, err := cc.NewStream(context.Background(), desc, method, grpc.ForceCodec(jsonCodec{}))
		if err == nil {
			if err = s.SendMsg(bad); err == nil {
				err = s.RecvMsg(new(durationpb.Duration))
			}
		}
		wantMarshalError(t, i+1, err)
	}
	kp := keyPolicies(t, std.StreamKeys())[method]
	wantNoFailure(t, kp, "after 3 streams whose request the caller's codec could not marshal")
}
