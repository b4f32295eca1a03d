package resilientgrpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
)

// TestCodecOptionShapesAreTheCallers: the caller's own codec cannot
// marshal its request (protojson refuses a Duration proto.Marshal accepts).
// The codec is chosen by forms of the call options that protoCodec does
// not see: a pointer to grpc's option struct (its methods have value
// receivers, so the pointer is a CallOption too), as a dial default. The
// caller's fault must not open the method's breaker.
func TestCodecOptionShapesAreTheCallers(t *testing.T) {
	for name, extra := range map[string][]grpc.DialOption{
		"pointer option as dial default": {grpc.WithDefaultCallOptions(&grpc.ForceCodecCallOption{Codec: jsonCodec{}})},
	} {
		t.Run(name, func(t *testing.T) {
			ts := &testService{unary: func(*testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
				return &testpb.SimpleResponse{}, nil
			}}
			std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
			cc := dial(t, serve(t, &healthServer{}, ts), append(std.DialOptions(), extra...)...)
			const method = "/grpc.testing.TestService/UnaryCall"
			bad := &durationpb.Duration{Seconds: 1 << 40} // out of protojson's range
			if _, err := proto.Marshal(bad); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				err := cc.Invoke(context.Background(), method, bad, new(durationpb.Duration))
				wantMarshalError(t, i+1, err)
			}
			if n := ts.calls.Load(); n != 0 {
				t.Fatalf("server saw %d calls; want 0", n)
			}
			kp := keyPolicies(t, std.Keys())[method]
			wantNoFailure(t, kp, "after 3 requests the caller's codec could not marshal")
		})
	}
}
