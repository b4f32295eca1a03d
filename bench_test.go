package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
)

func passThrough() resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
}

func noop(context.Context) error { return nil }

// BenchmarkChain measures a 4-deep chain of pass-through policies; the
// target is 0 allocs/op.
func BenchmarkChain(b *testing.B) {
	p := resilience.Chain(passThrough(), passThrough(), passThrough(), passThrough())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Do(ctx, noop)
	}
}

// BenchmarkChainParallel is BenchmarkChain from GOMAXPROCS goroutines.
func BenchmarkChainParallel(b *testing.B) {
	p := resilience.Chain(passThrough(), passThrough(), passThrough(), passThrough())
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = p.Do(ctx, noop)
		}
	})
}

// BenchmarkNestedClosures is the naive composition Chain avoids, for the
// ratio: each level allocates a closure that binds the next level.
func BenchmarkNestedClosures(b *testing.B) {
	ps := []resilience.Policy{passThrough(), passThrough(), passThrough(), passThrough()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = nested(ctx, ps, noop)
	}
}

func nested(ctx context.Context, ps []resilience.Policy, op func(context.Context) error) error {
	if len(ps) == 0 {
		return op(ctx)
	}
	return ps[0].Do(ctx, func(ctx context.Context) error { return nested(ctx, ps[1:], op) })
}

func BenchmarkDo(b *testing.B) {
	p := resilience.Chain(passThrough(), passThrough())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = resilience.Do(ctx, p, func(context.Context) (int, error) { return 1, nil })
	}
}

func BenchmarkIsNeutral(b *testing.B) {
	err := fmt.Errorf("wrapped: %w", errors.New("plain"))
	b.ReportAllocs()
	for b.Loop() {
		_ = resilience.IsNeutral(err)
	}
}

func BenchmarkRetryAfter(b *testing.B) {
	err := fmt.Errorf("wrapped: %w", errors.Join(errors.New("a"), hinted{time.Second, true}))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = resilience.RetryAfter(err)
	}
}
