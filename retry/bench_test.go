package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// succeed is called through a variable so that neither the baseline nor the
// policy can inline it.
var succeed = func(context.Context) error { return nil }

var errBench = errors.New("unavailable")

// BenchmarkBareCall is the baseline: calling the closure directly.
func BenchmarkBareCall(b *testing.B) {
	ctx := context.Background()
	op := succeed
	b.ReportAllocs()
	for b.Loop() {
		_ = op(ctx)
	}
}

// telemetryCases are the telemetry set-ups that the benchmarks of the
// success path and of one retry run in, side by side in one run:
//
//	tel=disabled  Telemetry.Disabled: the baseline
//	tel=global    the default: the global meter provider, no SDK installed
//	tel=sdk       an explicit SDK meter provider with a manual reader
//
// The target is tel=global within 1.10× of tel=disabled with the same
// allocations on the success path; tel=sdk is the cost of an installed SDK.
// Nothing in this test binary installs a global SDK: tel=global would stop
// measuring the path with none.
func telemetryCases(b *testing.B) []struct {
	name string
	tel  telemetry.Settings
} {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return []struct {
		name string
		tel  telemetry.Settings
	}{
		{"tel=disabled", telemetry.Settings{Disabled: true}},
		{"tel=global", telemetry.Settings{Key: "api.example.com"}},
		{"tel=sdk", telemetry.Settings{MeterProvider: mp, Key: "api.example.com"}},
	}
}

// BenchmarkRetrySuccess is the happy path: the first attempt succeeds. The
// target is at most 50 ns/op and 0 allocs/op.
func BenchmarkRetrySuccess(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := retry.New(retry.Config{Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Do(ctx, succeed)
			}
		})
	}
}

func BenchmarkRetrySuccessParallel(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := retry.New(retry.Config{Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = r.Do(ctx, succeed)
				}
			})
		})
	}
}

var sinceSink time.Duration

// BenchmarkMonotonicClock is the baseline for the budget benchmarks: a
// budget deposit reads the monotonic clock once (time.Since), and that read
// is most of its cost.
func BenchmarkMonotonicClock(b *testing.B) {
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		sinceSink = time.Since(start)
	}
}

// BenchmarkRetrySuccessBudget adds a budget deposit to the happy path.
func BenchmarkRetrySuccessBudget(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			budget, _ := retry.NewBudget(retry.BudgetConfig{})
			r, _ := retry.New(retry.Config{Budget: budget, Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Do(ctx, succeed)
			}
		})
	}
}

// BenchmarkRetrySuccessBudgetParallel: all goroutines deposit into one
// shared budget.
func BenchmarkRetrySuccessBudgetParallel(b *testing.B) {
	budget, _ := retry.NewBudget(retry.BudgetConfig{})
	r, _ := retry.New(retry.Config{Budget: budget})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = r.Do(ctx, succeed)
		}
	})
}

// failOnce returns an op that fails every odd call and succeeds every even
// one, so each Do succeeds on its second attempt.
func failOnce() func(context.Context) error {
	n := 0
	return func(context.Context) error {
		n++
		if n%2 == 1 {
			return errBench
		}
		return nil
	}
}

// BenchmarkRetrySecondAttempt: the first attempt fails, the second, after a
// zero delay, succeeds. This is the retry path's cost (allocations reported).
func BenchmarkRetrySecondAttempt(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay, Telemetry: tc.tel})
			ctx := context.Background()
			op := failOnce()
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Do(ctx, op)
			}
		})
	}
}

// BenchmarkRetrySecondAttemptBackoff computes a backoff delay (jittered, from
// backoff/v4) and sleeps it; the delay is 1ns, so this measures the timer.
func BenchmarkRetrySecondAttemptBackoff(b *testing.B) {
	r, _ := retry.New(retry.Config{InitialDelay: 1, MaxDelay: 1, Jitter: retry.NoJitter})
	ctx := context.Background()
	op := failOnce()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Do(ctx, op)
	}
}

func BenchmarkRetrySecondAttemptParallel(b *testing.B) {
	r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		op := failOnce()
		for pb.Next() {
			_ = r.Do(ctx, op)
		}
	})
}

// BenchmarkRetrySecondAttemptBudget withdraws a retry from a budget that
// always has one (Ratio 1: each call earns a full retry).
func BenchmarkRetrySecondAttemptBudget(b *testing.B) {
	budget, _ := retry.NewBudget(retry.BudgetConfig{Ratio: 1})
	r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay, Budget: budget})
	ctx := context.Background()
	op := failOnce()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Do(ctx, op)
	}
}

func BenchmarkRetrySecondAttemptBudgetParallel(b *testing.B) {
	budget, _ := retry.NewBudget(retry.BudgetConfig{Ratio: 1})
	r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay, Budget: budget})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		op := failOnce()
		for pb.Next() {
			_ = r.Do(ctx, op)
		}
	})
}

// BenchmarkRetryBudgetExhausted: every call fails and the budget refuses the
// retry (the cost of a refusal, including the *Error).
func BenchmarkRetryBudgetExhausted(b *testing.B) {
	budget, _ := retry.NewBudget(retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1e-9})
	r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay, Budget: budget})
	ctx := context.Background()
	fail := func(context.Context) error { return errBench }
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Do(ctx, fail)
	}
}
