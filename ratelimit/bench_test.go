package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience/ratelimit"
)

func noop(context.Context) error { return nil }

// A rate and burst that the benchmarks never exhaust, so every call takes
// the happy path.
const (
	plentyRate  = 1e12
	plentyBurst = 1 << 30
)

// BenchmarkLimiter is the happy path: a token is always there. The target is
// at most 1.2× BenchmarkRateLimiterAllow and 0 allocs/op.
func BenchmarkLimiter(b *testing.B) {
	l, _ := ratelimit.New(ratelimit.Config{Rate: plentyRate, Burst: plentyBurst})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Do(ctx, noop)
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
	l, _ := ratelimit.New(ratelimit.Config{Rate: plentyRate, Burst: plentyBurst})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = l.Do(ctx, noop)
		}
	})
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
	l, _ := ratelimit.New(ratelimit.Config{Rate: rate.Every(time.Hour), Burst: 1})
	ctx := context.Background()
	_ = l.Do(ctx, noop)
	b.ReportAllocs()
	for b.Loop() {
		if l.Do(ctx, noop) == nil {
			b.Fatal("admitted a call over the limit")
		}
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
