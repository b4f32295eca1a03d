// Package replacedproto_test checks the one case of resilientgrpc's marshal
// rule that needs a test binary of its own: grpc-go's "proto" codec
// replaced in the registry. The replacement is registered at init, before
// any server or client goroutine reads the registry, as grpc-go asks of
// codec registration.
package replacedproto_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// refused is the Service of a request the replacement codec will not
// marshal, although proto.Marshal would.
const refused = "refused-by-the-codec"

// pickyProto is an application's replacement for grpc-go's "proto" codec:
// it encodes as grpc-go's does, but refuses requests of its own choosing.
type pickyProto struct{ orig encoding.CodecV2 }

func (c pickyProto) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*healthpb.HealthCheckRequest); ok && r.GetService() == refused {
		return nil, errors.New("the application's codec refuses this request")
	}
	return c.orig.Marshal(v)
}

func (c pickyProto) Unmarshal(data mem.BufferSlice, v any) error { return c.orig.Unmarshal(data, v) }

func (pickyProto) Name() string { return "proto" }

func init() { encoding.RegisterCodecV2(pickyProto{orig: encoding.GetCodecV2("proto")}) }

type health struct {
	healthpb.UnimplementedHealthServer
}

func (health) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestReplacedProtoCodecFailureIsTheCallers: when the registry's "proto"
// codec is not grpc-go's, proto.Marshal's verdict says nothing about it, so
// a marshal failure of the request is the caller's: neutral for the
// breaker, which stays closed, while the same call without the refusal
// goes through.
func TestReplacedProtoCodecFailureIsTheCallers(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	br, err := breaker.New(breaker.Config{ConsecutiveFailures: 1})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(br)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	client := healthpb.NewHealthClient(cc)

	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: refused})
	if st := status.Convert(err); st.Code() != codes.Internal {
		t.Fatalf("got %v, want gRPC's Internal about marshaling", err)
	}
	if c := br.Counts(); c.Failures != 0 || c.Neutral != 1 || br.State() != breaker.StateClosed {
		t.Errorf("breaker %v, counts %+v; want closed with one neutral outcome", br.State(), c)
	}
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a request the codec accepts: %v", err)
	}
}
