package resilientgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
)

// exampleServer is a Health service for the examples: Check returns what
// check returns, Watch sends n statuses.
type exampleServer struct {
	healthpb.UnimplementedHealthServer
	check func() error
	n     int
}

func (s *exampleServer) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (s *exampleServer) Watch(_ *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	for range s.n {
		if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
			return err
		}
	}
	return nil
}

// startExample serves srv on a loopback port and returns a client
// connection with opts, and a function that closes both.
func startExample(srv healthpb.HealthServer, opts ...grpc.DialOption) (*grpc.ClientConn, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		panic(err)
	}
	return conn, func() {
		_ = conn.Close()
		s.Stop()
	}
}

// A circuit breaker around every call: after two Unavailable answers it
// opens, and the third call fails at once, without reaching the server,
// with a status error that still matches breaker.ErrOpen.
func ExampleUnaryClientInterceptor() {
	var calls atomic.Int32
	srv := &exampleServer{check: func() error {
		calls.Add(1)
		return status.Error(codes.Unavailable, "overloaded")
	}}
	br, err := breaker.New(breaker.Config{Name: "health", ConsecutiveFailures: 2})
	if err != nil {
		panic(err)
	}
	conn, stop := startExample(srv, grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(br)))
	defer stop()

	client := healthpb.NewHealthClient(conn)
	for range 3 {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		fmt.Println(status.Code(err), errors.Is(err, breaker.ErrOpen))
	}
	fmt.Println("server calls:", calls.Load(), "breaker:", br.State())
	// Output:
	// Unavailable false
	// Unavailable false
	// Unavailable true
	// server calls: 2 breaker: open
}

// A bulkhead admits a stream when it opens and holds its slot until the
// stream ends; meanwhile a second stream is rejected with
// ResourceExhausted.
func ExampleStreamClientInterceptor() {
	bh, err := bulkhead.New(bulkhead.Config{Name: "health", MaxConcurrent: 1})
	if err != nil {
		panic(err)
	}
	conn, stop := startExample(&exampleServer{n: 2},
		grpc.WithChainStreamInterceptor(resilientgrpc.StreamClientInterceptor(bh)))
	defer stop()

	client := healthpb.NewHealthClient(conn)
	watch, err := client.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println("in flight while open:", bh.InFlight())
	_, err = client.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println("second stream:", status.Code(err), errors.Is(err, bulkhead.ErrFull))
	n := 0
	for {
		if _, err := watch.Recv(); err == io.EOF {
			break
		} else if err != nil {
			panic(err)
		}
		n++
	}
	fmt.Println("received:", n, "in flight after the end:", bh.InFlight())
	// Output:
	// in flight while open: 1
	// second stream: ResourceExhausted true
	// received: 2 in flight after the end: 0
}

// A breaker of your own for streams: StreamBreaker counts a stream as a
// success at its first message, so a breaker that lets a probe stream
// through closes as soon as the stream shows life, however long it lasts.
func ExampleStreamBreaker() {
	br, err := breaker.New(breaker.Config{Name: "health", ConsecutiveFailures: 1})
	if err != nil {
		panic(err)
	}
	conn, stop := startExample(&exampleServer{n: 3},
		grpc.WithChainStreamInterceptor(resilientgrpc.StreamClientInterceptor(resilientgrpc.StreamBreaker(br))),
		grpc.WithDisableRetry())
	defer stop()

	br.SetMode(breaker.ModeForcedOpen) // as if after an outage …
	br.SetMode(breaker.ModeNormal)     // … now half-open: the next stream is a probe
	fmt.Println("before the stream:", br.State())
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		panic(err)
	}
	if _, err := watch.Recv(); err != nil {
		panic(err)
	}
	fmt.Println("after the first message:", br.State())
	for {
		if _, err := watch.Recv(); err == io.EOF {
			break
		} else if err != nil {
			panic(err)
		}
	}
	// Output:
	// before the stream: half-open
	// after the first message: closed
}

// Errors that a policy makes leave the interceptor as status errors: here a
// breaker forced open.
func ExampleError() {
	br, err := breaker.New(breaker.Config{Name: "inventory"})
	if err != nil {
		panic(err)
	}
	if err := br.SetMode(breaker.ModeForcedOpen); err != nil {
		panic(err)
	}
	conn, stop := startExample(&exampleServer{check: func() error { return nil }},
		grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(br)))
	defer stop()

	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	var rerr *resilientgrpc.Error
	fmt.Println(status.Code(err), errors.Is(err, breaker.ErrOpen), errors.As(err, &rerr))
	// Output: Unavailable true true
}

// The standard preset retries the Unavailable answers that a dependency
// gives while it restarts, within a retry budget, and keeps a breaker and
// a bulkhead per method.
func ExampleNewStandard() {
	var calls atomic.Int32
	srv := &exampleServer{check: func() error {
		if calls.Add(1) < 3 {
			return status.Error(codes.Unavailable, "starting")
		}
		return nil
	}}
	std, err := resilientgrpc.NewStandard(
		resilientgrpc.WithRetry(retry.Config{InitialDelay: retry.NoDelay}),
		resilientgrpc.WithoutBudget(), // a fresh budget has one retry to give, this call needs two
	)
	if err != nil {
		panic(err)
	}
	conn, stop := startExample(srv, std.DialOptions()...)
	defer stop()

	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err, "after", calls.Load(), "calls")
	std.Keys().Range(func(method string, p resilience.Policy) bool {
		fmt.Println(method, p.(*resilientgrpc.KeyPolicy).Breaker.State())
		return true
	})
	// Output:
	// SERVING <nil> after 3 calls
	// /grpc.health.v1.Health/Check closed
}
