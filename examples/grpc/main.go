// Command grpc shows a gRPC client made resilient with resilientgrpc's
// standard preset: two dependencies on 127.0.0.1, an inventory service that
// restarts (it answers Unavailable, with a pushback, before it is up) and a
// pricing service that is down.
//
// The client's interceptors run every unary call under
//
//	overall timeout → retry (with budget) → per-target breaker → per-target bulkhead → per-attempt timeout
//
// and every stream under the same chain without the timeouts. The program
// shows retries that honour the server's pushback, a client error returned
// at once, a server stream retried before its first message, and the
// pricing breaker opening while the inventory keeps working.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	inventory := &inventoryServer{}
	inventoryAddr, stopInventory, err := serve(inventory)
	if err != nil {
		return err
	}
	defer stopInventory()
	pricing := &pricingServer{}
	pricingAddr, stopPricing, err := serve(pricing)
	if err != nil {
		return err
	}
	defer stopPricing()

	// One preset for the whole client, whose connections share its
	// per-target retries, breakers and bulkheads.
	std, err := resilientgrpc.NewStandard(
		resilientgrpc.WithKeyFunc(resilientgrpc.TargetKey),
		// Open when half of at least 4 calls failed (the default waits for
		// 20), so that the demonstration is short.
		resilientgrpc.WithBreaker(breaker.Config{FailureRatio: 0.5, MinCalls: 4}),
		resilientgrpc.WithRetry(retry.Config{InitialDelay: 10 * time.Millisecond}),
		// A fresh budget has one retry to give (the floor's first second)
		// and this short demonstration needs more at once; a long-running
		// client keeps the default budget of 10 % of its calls.
		resilientgrpc.WithoutBudget(),
	)
	if err != nil {
		return err
	}
	dial := func(addr string) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, append(std.DialOptions(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
		)...) // DialOptions also turns gRPC's own retries off: the preset retries
	}
	inventoryConn, err := dial(inventoryAddr)
	if err != nil {
		return err
	}
	defer inventoryConn.Close()
	pricingConn, err := dial(pricingAddr)
	if err != nil {
		return err
	}
	defer pricingConn.Close()
	inventoryClient := healthpb.NewHealthClient(inventoryConn)
	pricingClient := healthpb.NewHealthClient(pricingConn)
	ctx := context.Background()

	// 1. The inventory is restarting: two Unavailable answers with a
	// pushback of 20 ms, then it serves.
	inventory.downFor.Store(2)
	start := time.Now()
	resp, err := inventoryClient.Check(ctx, &healthpb.HealthCheckRequest{Service: "inventory"})
	fmt.Printf("inventory Check: %v %v after %d server calls, waited at least the pushback: %v\n",
		resp.GetStatus(), status.Code(err), inventory.calls.Swap(0), time.Since(start) >= 40*time.Millisecond)

	// 2. A client error is returned at once: no retry, and the breaker
	// does not count it.
	_, err = inventoryClient.Check(ctx, &healthpb.HealthCheckRequest{Service: "no-such-service"})
	fmt.Printf("inventory Check of an unknown service: %v after %d server call\n", status.Code(err), inventory.calls.Swap(0))

	// 3. A server stream whose first attempt fails before any message is
	// retried, and the caller sees one stream.
	inventory.downFor.Store(1)
	watch, err := inventoryClient.Watch(ctx, &healthpb.HealthCheckRequest{Service: "inventory"})
	if err != nil {
		return err
	}
	n := 0
	for {
		if _, err = watch.Recv(); err != nil {
			break
		}
		n++
	}
	fmt.Printf("inventory Watch: %d messages, ended with %v, %d streams opened\n", n, err == io.EOF, inventory.streams.Swap(0))

	// 4. The pricing service is down: the retries fail, its breaker opens,
	// and then calls fail at once, without reaching it.
	for i := 1; i <= 3; i++ {
		_, err := pricingClient.Check(ctx, &healthpb.HealthCheckRequest{Service: "pricing"})
		fmt.Printf("pricing Check %d: %v, breaker open: %-5v  server saw %d\n",
			i, status.Code(err), errors.Is(err, breaker.ErrOpen), pricing.calls.Swap(0))
	}

	// 5. The inventory's breaker is its own: it keeps working.
	resp, err = inventoryClient.Check(ctx, &healthpb.HealthCheckRequest{Service: "inventory"})
	fmt.Printf("inventory Check: %v %v\n", resp.GetStatus(), status.Code(err))

	// 6. The per-target breakers, as a status page would show them.
	states := map[string]breaker.State{}
	std.Keys().Range(func(target string, p resilience.Policy) bool {
		states[target] = p.(*resilientgrpc.KeyPolicy).Breaker.State()
		return true
	})
	fmt.Printf("breakers: inventory %v, pricing %v\n", states[inventoryAddr], states[pricingAddr])
	return nil
}

// inventoryServer answers Unavailable, with a pushback, to its next downFor
// calls and streams, then serves; it does not know services other than
// "inventory".
type inventoryServer struct {
	healthpb.UnimplementedHealthServer
	downFor atomic.Int32
	calls   atomic.Int32
	streams atomic.Int32
}

func (s *inventoryServer) unavailable(setTrailer func(metadata.MD)) error {
	if s.downFor.Add(-1) < 0 {
		s.downFor.Store(0)
		return nil
	}
	setTrailer(metadata.Pairs("grpc-retry-pushback-ms", "20"))
	return status.Error(codes.Unavailable, "inventory: starting")
}

func (s *inventoryServer) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	s.calls.Add(1)
	if req.GetService() != "inventory" {
		return nil, status.Errorf(codes.NotFound, "inventory: no service %q", req.GetService())
	}
	if err := s.unavailable(func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (s *inventoryServer) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	s.streams.Add(1)
	if err := s.unavailable(stream.SetTrailer); err != nil {
		return err
	}
	for range 3 {
		if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
			return err
		}
	}
	return nil
}

// pricingServer is down.
type pricingServer struct {
	healthpb.UnimplementedHealthServer
	calls atomic.Int32
}

func (s *pricingServer) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	s.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "pricing: down")
}

// serve starts srv on a loopback port.
func serve(srv healthpb.HealthServer) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	return lis.Addr().String(), s.Stop, nil
}
