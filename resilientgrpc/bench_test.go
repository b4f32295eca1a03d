package resilientgrpc_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/telemetry"
)

type benchClient struct {
	name     string
	client   healthpb.HealthClient
	deadline bool // the caller sets a 30 s deadline on each call
}

// unaryBenchClients returns Health clients over loopback to one server:
// without an interceptor; the same with a 30 s deadline on each call (what
// a caller that bounds its calls pays gRPC, client and server, for the
// deadline); with UnaryClientInterceptor(Chain()) (the interceptor's own
// cost); with the standard preset without its timeouts; and with the
// standard preset.
func unaryBenchClients(b *testing.B) []benchClient {
	addr := serve(b, &healthServer{}, nil)
	std, noTimeouts := benchPresets(b)
	none := healthpb.NewHealthClient(dial(b, addr))
	return []benchClient{
		{name: "none", client: none},
		{name: "none+deadline", client: none, deadline: true},
		{name: "chain", client: healthpb.NewHealthClient(dial(b, addr,
			grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(resilience.Chain()))))},
		{name: "standard-no-timeouts", client: healthpb.NewHealthClient(dial(b, addr, noTimeouts.DialOptions()...))},
		{name: "standard", client: healthpb.NewHealthClient(dial(b, addr, std.DialOptions()...))},
	}
}

func (c benchClient) check(req *healthpb.HealthCheckRequest) error {
	ctx := context.Background()
	if c.deadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	_, err := c.client.Check(ctx, req)
	return err
}

// BenchmarkUnary is a unary call on loopback, one at a time. Compare the
// sub-benchmarks of one run: "none" is the baseline.
func BenchmarkUnary(b *testing.B) {
	for _, c := range unaryBenchClients(b) {
		b.Run(c.name, func(b *testing.B) {
			req := &healthpb.HealthCheckRequest{}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.check(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnaryParallel is BenchmarkUnary with GOMAXPROCS callers.
func BenchmarkUnaryParallel(b *testing.B) {
	for _, c := range unaryBenchClients(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := &healthpb.HealthCheckRequest{}
				for pb.Next() {
					if err := c.check(req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkUnaryAlternating compares, in one run, loopback calls without
// an interceptor ("none"), with a caller's context that can be cancelled
// but has no deadline ("none+cancel", what the preset's client-side
// timeouts give grpc-go), with a caller's 30 s deadline ("none+deadline"),
// through UnaryClientInterceptor(Chain()) ("chain", a control), through the
// standard preset without its timeouts ("standard-no-timeouts") and
// through the standard preset ("standard"), and reports each one's time
// relative to none's. On a machine whose load changes, sub-benchmarks that
// run one after another compare different moments, so the variants take
// turns, 16 calls at a time in an order shuffled for each turn; and they
// share one connection, called through the interceptor as gRPC's chain
// would call it, so that no variant has a connection (its server
// goroutines, its flow-control state) of its own. There is no parallel
// form: turns running at once in several goroutines would overlap, so a
// turn's time would not be its variant's alone. ns/op, B/op and allocs/op
// are those of one turn of every variant: 16 calls each.
func BenchmarkUnaryAlternating(b *testing.B) {
	cc := dial(b, serve(b, &healthServer{}, nil))
	std, noTimeouts := benchPresets(b)
	const method = "/grpc.health.v1.Health/Check"
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		return cc.Invoke(ctx, method, req, reply, opts...)
	}
	variants := []struct {
		name      string
		deadline  bool                        // the call's context has a 30 s deadline
		cancel    bool                        // the call's context can be cancelled (no deadline)
		intercept grpc.UnaryClientInterceptor // nil: none
	}{
		{name: "none"},
		{name: "none+cancel", cancel: true},
		{name: "none+deadline", deadline: true},
		{name: "chain", intercept: resilientgrpc.UnaryClientInterceptor(resilience.Chain())},
		{name: "standard-no-timeouts", intercept: noTimeouts.UnaryClientInterceptor()},
		{name: "standard", intercept: std.UnaryClientInterceptor()},
	}
	call := func(i int, req *healthpb.HealthCheckRequest) error {
		v := variants[i]
		ctx := context.Background()
		var cancel context.CancelFunc
		switch {
		case v.deadline:
			ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
		case v.cancel:
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
		}
		reply := new(healthpb.HealthCheckResponse)
		if v.intercept == nil {
			return cc.Invoke(ctx, method, req, reply)
		}
		return v.intercept(ctx, method, req, reply, cc, invoker)
	}
	// turn makes 16 calls of each variant, in an order drawn from rng, and
	// adds their times to total.
	turn := func(req *healthpb.HealthCheckRequest, rng *rand.Rand, total []int64) error {
		for _, i := range rng.Perm(len(variants)) {
			start := time.Now()
			for range 16 {
				if err := call(i, req); err != nil {
					return err
				}
			}
			total[i] += int64(time.Since(start))
		}
		return nil
	}
	report := func(b *testing.B, total []int64) {
		for i := 1; i < len(variants); i++ {
			b.ReportMetric(float64(total[i])/float64(total[0]), variants[i].name+"/none")
		}
	}
	// Warm up: the connection's setup and the first calls' allocations
	// outside the clock (they fell on whichever variant came first).
	if err := turn(&healthpb.HealthCheckRequest{}, rand.New(rand.NewPCG(0, 0)), make([]int64, len(variants))); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		req := &healthpb.HealthCheckRequest{}
		rng := rand.New(rand.NewPCG(1, 2))
		total := make([]int64, len(variants))
		b.ReportAllocs()
		for b.Loop() {
			if err := turn(req, rng, total); err != nil {
				b.Fatal(err)
			}
		}
		report(b, total)
	})
}

// BenchmarkServerStream is a server-streaming call of one message on
// loopback, for the cost of the stream interceptor's goroutine.
func BenchmarkServerStream(b *testing.B) {
	addr := serve(b, &healthServer{}, nil)
	std, err := resilientgrpc.NewStandard()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts []grpc.DialOption
	}{
		{"none", nil},
		{"chain", []grpc.DialOption{grpc.WithChainStreamInterceptor(resilientgrpc.StreamClientInterceptor(resilience.Chain()))}},
		{"standard", std.DialOptions()},
	} {
		client := healthpb.NewHealthClient(dial(b, addr, c.opts...))
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				w, err := client.Watch(ctx, watchReq)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := recvAll[healthpb.HealthCheckResponse](w); err == nil {
					b.Fatal("stream did not end")
				}
			}
		})
	}
}

// BenchmarkInterceptorOverhead is the interceptors' own cost per call,
// without a network: the invoker returns at once. It isolates what the
// loopback benchmarks measure amid gRPC's noise.
func BenchmarkInterceptorOverhead(b *testing.B) {
	std, noTimeouts := benchPresets(b)
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	for _, c := range []struct {
		name      string
		intercept grpc.UnaryClientInterceptor
	}{
		{"none", func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(ctx, method, req, reply, cc, opts...)
		}},
		{"chain", resilientgrpc.UnaryClientInterceptor(resilience.Chain())},
		{"standard-no-timeouts", noTimeouts.UnaryClientInterceptor()},
		{"standard", std.UnaryClientInterceptor()},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = c.intercept(ctx, "/svc/Method", nil, nil, nil, invoker)
				}
			})
		})
	}
}

// BenchmarkStandardTelemetry is the standard preset's unary interceptor
// over an invoker that returns at once, with its telemetry disabled, with
// the default (the global providers; no SDK is installed in this binary)
// and with an SDK meter provider given by WithTelemetry (the SDK's cost).
// The bound: global within 1.10× of disabled, with no extra
// allocation.
func BenchmarkStandardTelemetry(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	var pair [2]grpc.UnaryClientInterceptor // disabled, global
	for i, c := range []struct {
		name string
		tel  telemetry.Settings
	}{
		{"disabled", telemetry.Settings{Disabled: true}},
		{"global", telemetry.Settings{}},
		{"sdk", telemetry.Settings{MeterProvider: mp}},
	} {
		std, err := resilientgrpc.NewStandard(resilientgrpc.WithTelemetry(c.tel))
		if err != nil {
			b.Fatal(err)
		}
		intercept := std.UnaryClientInterceptor()
		if i < 2 {
			pair[i] = intercept
		}
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = intercept(ctx, "/svc/Method", nil, nil, nil, invoker)
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = intercept(ctx, "/svc/Method", nil, nil, nil, invoker)
				}
			})
		})
	}
	// On a machine whose load changes, sub-benchmarks that run one after
	// another compare different moments: alternating calls each in turn
	// and reports global's time relative to disabled's.
	b.Run("alternating", func(b *testing.B) {
		ctx := context.Background()
		var total [2]time.Duration
		i := 0
		for b.Loop() {
			first := i & 1
			i++
			for k := range 2 {
				j := first ^ k
				start := time.Now()
				for range 16 {
					_ = pair[j](ctx, "/svc/Method", nil, nil, nil, invoker)
				}
				total[j] += time.Since(start)
			}
		}
		b.ReportMetric(float64(total[1])/float64(total[0]), "global/disabled")
	})
}

// benchPresets returns the standard preset with its defaults, and without
// its timeouts.
func benchPresets(b *testing.B) (std, noTimeouts *resilientgrpc.Standard) {
	b.Helper()
	std, err := resilientgrpc.NewStandard()
	if err != nil {
		b.Fatal(err)
	}
	noTimeouts, err = resilientgrpc.NewStandard(resilientgrpc.WithoutOverallTimeout(), resilientgrpc.WithoutAttemptTimeout())
	if err != nil {
		b.Fatal(err)
	}
	return std, noTimeouts
}
