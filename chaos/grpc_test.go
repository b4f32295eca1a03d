package chaos_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience/chaos"
)

// grpcServer runs the standard health service on a loopback listener behind
// inj's interceptors. Calls that reach the service are counted in hits;
// done receives the error with which each call left the interceptors.
type grpcServer struct {
	client healthpb.HealthClient
	hits   chan struct{}
	done   chan error
}

func startGRPC(t *testing.T, inj *chaos.Injector) *grpcServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &grpcServer{hits: make(chan struct{}, 100), done: make(chan error, 100)}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(
			func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				resp, err := h(ctx, req)
				s.done <- err
				return resp, err
			},
			chaos.UnaryServerInterceptor(inj),
			func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				s.hits <- struct{}{}
				return h(ctx, req)
			}),
		grpc.ChainStreamInterceptor(
			func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				err := h(srv, ss)
				s.done <- err
				return err
			},
			chaos.StreamServerInterceptor(inj),
			func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				s.hits <- struct{}{}
				return h(srv, ss)
			}),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		hs.Shutdown() // ends Watch streams
		srv.Stop()
	})
	s.client = healthpb.NewHealthClient(conn)
	return s
}

func (s *grpcServer) hitCount() int { return len(s.hits) }

func TestUnaryStatusAndPushback(t *testing.T) {
	tests := []struct {
		fault    chaos.Fault
		code     codes.Code
		pushback []string
	}{
		{chaos.Fault{Status: 503, RetryAfter: 1500 * time.Millisecond}, codes.Unavailable, []string{"1500"}},
		{chaos.Fault{Code: codes.ResourceExhausted, RetryAfter: 1500 * time.Microsecond}, codes.ResourceExhausted, []string{"2"}}, // rounded up
		{chaos.Fault{Status: 429, RetryAfterValue: "-1"}, codes.ResourceExhausted, []string{"-1"}},
		{chaos.Fault{Status: 504}, codes.DeadlineExceeded, nil},
		{chaos.Fault{Reset: true}, codes.Unavailable, nil},
	}
	for _, tt := range tests {
		s := startGRPC(t, mustNew(t, chaos.Config{Faults: []chaos.Fault{tt.fault}}))
		var trailer metadata.MD
		_, err := s.client.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
		if got := status.Code(err); got != tt.code {
			t.Errorf("%v: got %v (%v), want %v", tt.fault, got, err, tt.code)
		}
		if got := trailer.Get("grpc-retry-pushback-ms"); !equal(got, tt.pushback) {
			t.Errorf("%v: got pushback %q, want %q", tt.fault, got, tt.pushback)
		}
		if s.hitCount() != 0 {
			t.Errorf("%v: the service was called", tt.fault)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStreamStatusAndPushback(t *testing.T) {
	s := startGRPC(t, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Status: 503, RetryAfter: 250 * time.Millisecond}}}))
	stream, err := s.client.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Recv: got %v, want Unavailable", err)
	}
	if got := stream.Trailer().Get("grpc-retry-pushback-ms"); !equal(got, []string{"250"}) {
		t.Errorf("got pushback %q, want [250]", got)
	}
	if s.hitCount() != 0 {
		t.Errorf("the service was called")
	}
}

func TestUnaryPassesCallsWithoutFault(t *testing.T) {
	inj := mustNew(t, chaos.Config{Faults: []chaos.Fault{{Latency: 20 * time.Millisecond}}})
	s := startGRPC(t, inj)
	start := time.Now()
	resp, err := s.client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("got %v, %v; want SERVING", resp, err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("took %v, want at least the 20ms latency", took)
	}
	if s.hitCount() != 1 || inj.Stats().Delays != 1 {
		t.Errorf("got %d hits and Stats %+v, want the service called once after a delay", s.hitCount(), inj.Stats())
	}

	var nilInj *chaos.Injector
	s = startGRPC(t, nilInj)
	if _, err := s.client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || s.hitCount() != 1 {
		t.Errorf("nil injector: got %v with %d hits, want the call through", err, s.hitCount())
	}
}

func TestGRPCHangEndsWhenClientGivesUp(t *testing.T) {
	s := startGRPC(t, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Hang: true}}}))
	for _, kind := range []string{"unary", "stream"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		var err error
		if kind == "unary" {
			_, err = s.client.Check(ctx, &healthpb.HealthCheckRequest{})
		} else {
			var stream healthpb.Health_WatchClient
			if stream, err = s.client.Watch(ctx, &healthpb.HealthCheckRequest{}); err == nil {
				_, err = stream.Recv()
			}
		}
		cancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("%s: client got %v, want DeadlineExceeded", kind, err)
		}
		select {
		case err := <-s.done:
			if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Canceled {
				t.Errorf("%s: interceptor returned %v, want the context's status", kind, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the hanging call did not end within 5s of the client giving up", kind)
		}
	}
	if s.hitCount() != 0 {
		t.Errorf("the service was called")
	}
}

func TestGRPCLatencyEndsWhenClientGivesUp(t *testing.T) {
	s := startGRPC(t, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Latency: time.Hour, Code: codes.Internal}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.client.Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("client got %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-s.done:
		if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Canceled {
			t.Errorf("interceptor returned %v, want the context's status", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the delayed call did not end within 5s of the client giving up")
	}
}
