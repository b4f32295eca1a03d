package ratelimit_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/telemetry"
)

func noop(context.Context) error { return nil }

// A rate and burst that the benchmarks never exhaust, so every call takes
// the happy path.
const (
	plentyRate  = 1e12
	plentyBurst = 1 << 30
)

// telemetryCases are the telemetry set-ups that the benchmarks of the
// success and rejection paths run in, side by side in one run:
//
//	tel=disabled  Telemetry.Disabled: the baseline
//	tel=global    the default: the global meter provider, no SDK installed
//	tel=sdk       an explicit SDK meter provider with a manual reader
//
// The target is tel=global within 1.10× of tel=disabled with the same
// allocations; tel=sdk is the cost of an installed SDK. Nothing in this
// test binary installs a global SDK: tel=global would stop measuring the
// path with none.
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

// BenchmarkLimiter is the happy path: a token is always there. The target is
// at most 1.2× BenchmarkRateLimiterAllow (tel=global) and 0 allocs/op.
func BenchmarkLimiter(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := ratelimit.New(ratelimit.Config{Rate: plentyRate, Burst: plentyBurst, Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = l.Do(ctx, noop)
			}
		})
	}
}

// BenchmarkRateLimiterAllow is the baseline for BenchmarkLimiter: the bare
// x/time/rate limiter with the same rate and burst around the same op.
func BenchmarkRateLimiterAllow(b *testing.B) {
	lim := rate.NewLimiter(plentyRate, plentyBurst)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if lim.Allow() {
			_ = noop(ctx)
		}
	}
}

func BenchmarkLimiterParallel(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := ratelimit.New(ratelimit.Config{Rate: plentyRate, Burst: plentyBurst, Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = l.Do(ctx, noop)
				}
			})
		})
	}
}

func BenchmarkRateLimiterAllowParallel(b *testing.B) {
	lim := rate.NewLimiter(plentyRate, plentyBurst)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if lim.Allow() {
				_ = noop(ctx)
			}
		}
	})
}

// BenchmarkLimiterRejected is the shedding path with no MaxWait: the bucket
// is empty. The target is 0 allocs/op.
func BenchmarkLimiterRejected(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := ratelimit.New(ratelimit.Config{Rate: rate.Every(time.Hour), Burst: 1, Telemetry: tc.tel})
			ctx := context.Background()
			_ = l.Do(ctx, noop)
			b.ReportAllocs()
			for b.Loop() {
				if l.Do(ctx, noop) == nil {
					b.Fatal("admitted a call over the limit")
				}
			}
		})
	}
}

// BenchmarkLimiterRejectedAfterReserve: MaxWait is set but the next token is
// too far off, so each call reserves and gives the reservation back.
func BenchmarkLimiterRejectedAfterReserve(b *testing.B) {
	l, _ := ratelimit.New(ratelimit.Config{Rate: rate.Every(time.Hour), Burst: 1, MaxWait: time.Second})
	ctx := context.Background()
	_ = l.Do(ctx, noop)
	b.ReportAllocs()
	for b.Loop() {
		if l.Do(ctx, noop) == nil {
			b.Fatal("admitted a call over the limit")
		}
	}
}

// BenchmarkLimiterWait is the waiting path: every call waits about 1µs for
// its token on a timer. Its time is mostly the timer's; its allocations are
// those of the waiting path.
func BenchmarkLimiterWait(b *testing.B) {
	l, _ := ratelimit.New(ratelimit.Config{Rate: 1e6, Burst: 1, MaxWait: time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Do(ctx, noop)
	}
}
