package chaos_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience/chaos"
)

// A dependency that fails in phases: healthy, then 503s, then hanging, then
// healthy again. The schedule holds its last phase.
func Example() {
	start := time.Now()
	inj, err := chaos.New(chaos.Config{
		Seed:  1,
		Start: start,
		Phases: []chaos.Phase{
			{Name: "healthy", Duration: 10 * time.Second},
			{Name: "503s", Duration: 10 * time.Second, Faults: []chaos.Fault{
				{Probability: 0.9, Status: 503, RetryAfter: time.Second},
			}},
			{Name: "hanging", Duration: 10 * time.Second, Faults: []chaos.Fault{{Hang: true}}},
			{Name: "recovered", Faults: []chaos.Fault{{Latency: 2 * time.Millisecond, Jitter: time.Millisecond}}},
		},
	})
	if err != nil {
		panic(err)
	}
	for _, at := range []time.Duration{0, 9 * time.Second, 10 * time.Second, 25 * time.Second, time.Hour} {
		fmt.Printf("%-6v %s\n", at, inj.PhaseAt(start.Add(at)))
	}
	// Output:
	// 0s     healthy
	// 9s     healthy
	// 10s    503s
	// 25s    hanging
	// 1h0m0s recovered
}

// Server-side injection: with a fixed seed, the same requests fail on every
// run.
func ExampleHandler() {
	inj, err := chaos.New(chaos.Config{
		Seed:   8,
		Faults: []chaos.Fault{{Probability: 0.3, Status: 503, RetryAfter: 2 * time.Second}},
	})
	if err != nil {
		panic(err)
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
	srv := httptest.NewServer(chaos.Handler(backend, inj))
	defer srv.Close()

	var statuses []int
	for range 10 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	s := inj.Stats()
	fmt.Println(statuses)
	fmt.Printf("%d requests, %d answered with an error\n", s.Requests, s.Errors)
	// Output:
	// [200 200 503 200 503 200 200 200 503 200]
	// 10 requests, 3 answered with an error
}

// Client-side injection: the Transport answers 503 with Retry-After itself;
// the server never sees the request.
func ExampleTransport() {
	var hits atomic.Int32 // the server runs handlers in goroutines of its own
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()

	inj, err := chaos.New(chaos.Config{Faults: []chaos.Fault{{Status: 503, RetryAfter: 2 * time.Second}}})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: chaos.Transport(http.DefaultTransport, inj)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println("Retry-After:", resp.Header.Get("Retry-After"))
	fmt.Print(string(body))
	fmt.Println("server hits:", hits.Load())
	// Output:
	// 503 Service Unavailable
	// Retry-After: 2
	// chaos: injected 503 Service Unavailable
	// server hits: 0
}

// A gRPC server that answers Unavailable with a pushback of 1.5 s.
func ExampleUnaryServerInterceptor() {
	inj, err := chaos.New(chaos.Config{Faults: []chaos.Fault{{Status: 503, RetryAfter: 1500 * time.Millisecond}}})
	if err != nil {
		panic(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(chaos.UnaryServerInterceptor(inj)))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	var trailer metadata.MD
	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	fmt.Println(status.Code(err), trailer.Get("grpc-retry-pushback-ms"))
	// Output: Unavailable [1500]
}

// Next can inject faults into any kind of call. The faults of a phase
// exclude each other; with a fixed seed the sequence is always the same.
func ExampleInjector_Next() {
	inj, err := chaos.New(chaos.Config{Seed: 3, Faults: []chaos.Fault{
		{Probability: 0.2, Status: 503},
		{Probability: 0.1, Reset: true},
	}})
	if err != nil {
		panic(err)
	}
	for n := range 6 {
		if f, ok := inj.Next(); ok {
			fmt.Printf("request %d: %v\n", n, f)
		} else {
			fmt.Printf("request %d: no fault\n", n)
		}
	}
	// Output:
	// request 0: 20% 503 Unavailable
	// request 1: no fault
	// request 2: 10% reset
	// request 3: 20% 503 Unavailable
	// request 4: no fault
	// request 5: no fault
}

func ExamplePhase_String() {
	fmt.Println(chaos.Phase{Name: "flaky", Duration: time.Minute, Faults: []chaos.Fault{
		{Probability: 0.1, Status: 429, RetryAfter: 5 * time.Second},
		{Probability: 0.05, Reset: true},
		{Probability: 0.2, Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond},
	}})
	// Output: flaky 1m0s: 10% 429 Retry-After 5s; 5% reset; 20% delay 100ms-150ms
}

func ExampleNew_badConfig() {
	_, err := chaos.New(chaos.Config{Phases: []chaos.Phase{
		{Duration: time.Second, Faults: []chaos.Fault{{Probability: 1.5, Status: 503}}},
	}})
	fmt.Println(err)
	// Output: chaos: Phases[0].Faults[0].Probability 1.5 is outside [0, 1]
}
