package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/telemetry"
)

// The baselines are raw gobreaker v2 CircuitBreakers in their default
// configuration (no rolling window: the cheapest gobreaker there is). Compare
// each Breaker benchmark with the Gobreaker one of the same shape, in the
// same run:
//
//	go test -run '^$' -bench . -count 10 -benchtime 200ms ./breaker
//
// The benchmarks of the breaker's hot paths run once per telemetry variant
// (see withTelemetry); the default configuration is telemetry=global. The
// telemetry target: global within 1.10× of disabled, with the same allocs:
//
//	go test -run '^$' -bench 'Breaker' -count 10 -benchtime 200ms ./breaker | tee /tmp/b.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /telemetry /tmp/b.txt

// withTelemetry runs bench once per telemetry variant, as sub-benchmarks:
// telemetry=disabled (Settings.Disabled), telemetry=global (the zero
// Settings: the global meter provider, with no SDK installed in this
// binary) and telemetry=sdk (an SDK meter provider with a manual reader:
// the cost of recording for real). No benchmark or test of this package
// installs a global SDK in-process, so global is the no-SDK path.
func withTelemetry(b *testing.B, bench func(b *testing.B, tel telemetry.Settings)) {
	for _, variant := range []string{"disabled", "global", "sdk"} {
		b.Run("telemetry="+variant, func(b *testing.B) {
			var tel telemetry.Settings
			switch variant {
			case "disabled":
				tel.Disabled = true
			case "sdk":
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
				tel.MeterProvider = mp
			}
			bench(b, tel)
		})
	}
}

func noop(context.Context) error { return nil }

func gobreakerNoop() (any, error) { return nil, nil }

var errBench = errors.New("bench: failure")

func newBench(b *testing.B, cfg breaker.Config) *breaker.Breaker {
	b.Helper()
	br, err := breaker.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// openBreaker returns a breaker tripped open for an hour.
func openBreaker(b *testing.B, tel telemetry.Settings) *breaker.Breaker {
	br := newBench(b, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Hour, Telemetry: tel})
	_ = br.Do(context.Background(), func(context.Context) error { return errBench })
	if br.State() != breaker.StateOpen {
		b.Fatalf("state %v, want open", br.State())
	}
	return br
}

// openGobreaker returns a gobreaker tripped open for an hour.
func openGobreaker(b *testing.B) *gobreaker.CircuitBreaker[any] {
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Timeout:     time.Hour,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
	})
	_, _ = cb.Execute(func() (any, error) { return nil, errBench })
	if cb.State() != gobreaker.StateOpen {
		b.Fatalf("gobreaker state %v, want open", cb.State())
	}
	return cb
}

// BenchmarkBreakerSuccess is the happy path: closed, op succeeds at once.
// Target: telemetry=global at most 1.15× BenchmarkGobreakerExecute, 0
// allocs/op.
func BenchmarkBreakerSuccess(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		br := newBench(b, breaker.Config{Telemetry: tel})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, noop)
		}
	})
}

func BenchmarkGobreakerExecute(b *testing.B) {
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = cb.Execute(gobreakerNoop)
	}
}

// BenchmarkBreakerRejectOpen rejects while open. Target: telemetry=global at
// most 1.2× BenchmarkGobreakerRejectOpen, 0 allocs/op. With telemetry, a
// rejection also looks for a recording span in the context, for the
// resilience.breaker.rejected event.
func BenchmarkBreakerRejectOpen(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		br := openBreaker(b, tel)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, noop)
		}
	})
}

func BenchmarkGobreakerRejectOpen(b *testing.B) {
	cb := openGobreaker(b)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = cb.Execute(gobreakerNoop)
	}
}

func BenchmarkBreakerSuccessParallel(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		br := newBench(b, breaker.Config{Telemetry: tel})
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = br.Do(ctx, noop)
			}
		})
	})
}

func BenchmarkGobreakerExecuteParallel(b *testing.B) {
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = cb.Execute(gobreakerNoop)
		}
	})
}

func BenchmarkBreakerRejectOpenParallel(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		br := openBreaker(b, tel)
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = br.Do(ctx, noop)
			}
		})
	})
}

func BenchmarkGobreakerRejectOpenParallel(b *testing.B) {
	cb := openGobreaker(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = cb.Execute(gobreakerNoop)
		}
	})
}

// BenchmarkBreakerFailure: closed, op fails (neither rule trips: the
// consecutive rule is off and the ratio never reaches 1.0 with the one
// success made first).
func BenchmarkBreakerFailure(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		br := newBench(b, breaker.Config{FailureRatio: 1, MinCalls: 1, Telemetry: tel})
		ctx := context.Background()
		_ = br.Do(ctx, noop)
		fail := func(context.Context) error { return errBench }
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, fail)
		}
		if br.State() != breaker.StateClosed {
			b.Fatalf("state %v, want closed", br.State())
		}
	})
}

// BenchmarkBreakerAllow is the two-step path used by stream adapters; it
// allocates the done function. BenchmarkGobreakerTwoStep is gobreaker's
// equivalent, which also allocates: any design that built Do on gobreaker's
// two-step breaker (the only gobreaker type with a two-step API) would pay
// that allocation on every Do.
func BenchmarkBreakerAllow(b *testing.B) {
	br := newBench(b, breaker.Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow(ctx)
		if err == nil {
			done(nil)
		}
	}
}

func BenchmarkGobreakerTwoStep(b *testing.B) {
	cb := gobreaker.NewTwoStepCircuitBreaker[any](gobreaker.Settings{})
	b.ReportAllocs()
	for b.Loop() {
		done, err := cb.Allow()
		if err == nil {
			done(nil)
		}
	}
}
