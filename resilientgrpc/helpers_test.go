package resilientgrpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
)

// healthServer is a Health service whose answers each test chooses. n is
// the call's number, from 1, per method.
type healthServer struct {
	healthpb.UnimplementedHealthServer
	checks  atomic.Int32
	watches atomic.Int32
	check   func(ctx context.Context, n int32) (*healthpb.HealthCheckResponse, error)
	watch   func(req *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error
}

func (h *healthServer) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	n := h.checks.Add(1)
	if h.check == nil {
		return serving(), nil
	}
	return h.check(ctx, n)
}

func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer) error {
	n := h.watches.Add(1)
	if h.watch == nil {
		return s.Send(serving())
	}
	return h.watch(req, s, n)
}

func serving() *healthpb.HealthCheckResponse {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
}

// fail returns a Check that fails with code, setting the pushback trailer
// to the given values, if any.
func fail(code codes.Code, pushback ...string) func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
	return func(ctx context.Context, _ int32) (*healthpb.HealthCheckResponse, error) {
		if len(pushback) > 0 {
			md := metadata.MD{}
			md.Append("grpc-retry-pushback-ms", pushback...)
			_ = grpc.SetTrailer(ctx, md)
		}
		return nil, status.Error(code, "injected "+code.String())
	}
}

// hang returns a Check that waits until its context ends, closing entered
// (if not nil) when it starts.
func hang(entered chan<- struct{}) func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
	var once sync.Once
	return func(ctx context.Context, _ int32) (*healthpb.HealthCheckResponse, error) {
		if entered != nil {
			once.Do(func() { close(entered) })
		}
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// canceled returns a channel closed when ctx is cancelled, but not when
// its deadline passes.
func canceled(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		<-ctx.Done()
		if errors.Is(ctx.Err(), context.Canceled) {
			close(ch)
		}
	}()
	return ch
}

// testService is the interop TestService, for client-streaming and
// bidirectional calls.
type testService struct {
	testpb.UnimplementedTestServiceServer
	calls      atomic.Int32
	fullDuplex func(testpb.TestService_FullDuplexCallServer) error
	input      func(testpb.TestService_StreamingInputCallServer) error
	unary      func(*testpb.SimpleRequest) (*testpb.SimpleResponse, error)
}

func (t *testService) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	t.calls.Add(1)
	return t.unary(req)
}

func (t *testService) FullDuplexCall(s testpb.TestService_FullDuplexCallServer) error {
	t.calls.Add(1)
	return t.fullDuplex(s)
}

func (t *testService) StreamingInputCall(s testpb.TestService_StreamingInputCallServer) error {
	t.calls.Add(1)
	return t.input(s)
}

// serve starts a gRPC server on a loopback port with h (and ts, if not
// nil) and returns its address. The server stops when the test ends.
func serve(t testing.TB, h *healthServer, ts *testService) string {
	t.Helper()
	return serveWith(t, h, ts)
}

// serveWith is serve with server options.
func serveWith(t testing.TB, h *healthServer, ts *testService, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, h)
	if ts != nil {
		testpb.RegisterTestServiceServer(s, ts)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String()
}

// dial returns a client for addr with gRPC's own retries off, so that the
// attempts counted are the interceptor's. It is closed when the test ends,
// before the server stops.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableRetry(),
	}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// unaryClient starts a server with h and returns a Health client whose
// calls go through UnaryClientInterceptor(p, opts...).
func unaryClient(t testing.TB, h *healthServer, p resilience.Policy, opts ...resilientgrpc.Option) healthpb.HealthClient {
	t.Helper()
	addr := serve(t, h, nil)
	return healthpb.NewHealthClient(dial(t, addr, interceptors(p, opts...)...))
}

// interceptors returns the dial options that install both interceptors
// with p.
func interceptors(p resilience.Policy, opts ...resilientgrpc.Option) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(p, opts...)),
		grpc.WithChainStreamInterceptor(resilientgrpc.StreamClientInterceptor(p, opts...)),
	}
}

// hideDeadline returns dial options that install, inside the interceptors
// installed before them, interceptors that keep the call's deadline from
// gRPC, and thus from the server. The call still ends when the deadline
// passes, with DeadlineExceeded, but by the client's context alone: the
// server's own deadline timer would race the client's, and when it wins the
// call ends before the context reports its deadline (which
// timeout.Timeout does not then recognise as its own).
func hideDeadline() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(noDeadline{ctx}, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(noDeadline{ctx}, desc, cc, method, opts...)
		}),
	}
}

// noDeadline is its context without the deadline.
type noDeadline struct{ context.Context }

func (noDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// signal returns a policy that closes the returned channel each time Do
// returns (once), put outermost to learn when a stream's policy is done.
func signal() (resilience.Policy, <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		defer once.Do(func() { close(ch) })
		return op(ctx)
	}), ch
}

// recvAll reads a stream to its end and returns the messages and the final
// error.
func recvAll[T any](s interface{ Recv() (*T, error) }) ([]*T, error) {
	var got []*T
	for {
		m, err := s.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

func mustBudget(t testing.TB) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantMarshalError checks that call n failed with gRPC's Internal "error
// while marshaling" (raised on either side).
func wantMarshalError(t *testing.T, n int, err error) {
	t.Helper()
	if st := status.Convert(err); st.Code() != codes.Internal || !strings.HasPrefix(st.Message(), "grpc: error while marshaling") {
		t.Fatalf("call %d: got %v, want gRPC's Internal about marshaling", n, err)
	}
}

// wantBreakerOpen checks that kp's breaker opened after what: the
// failures were the server's.
func wantBreakerOpen(t *testing.T, kp *resilientgrpc.KeyPolicy, what string) {
	t.Helper()
	if st := kp.Breaker.State(); st != breaker.StateOpen {
		t.Errorf("%s: breaker %v (counts %+v), want open", what, st, kp.Breaker.Counts())
	}
}

// wantNoFailure checks that kp's breaker counted no failure after what and
// stayed closed: the failures were the caller's.
func wantNoFailure(t *testing.T, kp *resilientgrpc.KeyPolicy, what string) {
	t.Helper()
	if c := kp.Breaker.Counts(); c.Failures != 0 || kp.Breaker.State() != breaker.StateClosed {
		t.Errorf("%s: breaker %v, counts %+v; want closed, no failure", what, kp.Breaker.State(), c)
	}
}

// sendOneThenWait is a Watch handler that sends one message and then waits
// until the caller abandons the stream, ending it with the caller's
// cancellation.
func sendOneThenWait(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
	if err := s.Send(serving()); err != nil {
		return err
	}
	<-s.Context().Done()
	return status.FromContextError(s.Context().Err()).Err()
}

// failFirstWithTrailer is a Watch handler that sets the trailer
// "attempt: n" on the n-th stream, fails the first with Unavailable and
// sends one message on the others.
func failFirstWithTrailer(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
	s.SetTrailer(metadata.Pairs("attempt", string('0'+rune(n))))
	if n == 1 {
		return status.Error(codes.Unavailable, "down")
	}
	return s.Send(serving())
}
