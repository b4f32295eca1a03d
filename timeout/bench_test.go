package timeout_test

import (
	"context"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/timeout"
)

func noop(context.Context) error { return nil }

// BenchmarkTimeout is the happy path: the op returns at once.
func BenchmarkTimeout(b *testing.B) {
	p, _ := timeout.New(timeout.Config{Duration: time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Do(ctx, noop)
	}
}

// BenchmarkContextWithTimeout is the bare standard-library equivalent, the
// baseline for BenchmarkTimeout.
func BenchmarkContextWithTimeout(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, cancel := context.WithTimeout(ctx, time.Second)
		_ = noop(c)
		cancel()
	}
}

// BenchmarkTimeoutCallerEarlier: the caller's deadline is earlier, so no
// timer or context is made; the target is 0 allocs/op.
func BenchmarkTimeoutCallerEarlier(b *testing.B) {
	p, _ := timeout.New(timeout.Config{Duration: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Do(ctx, noop)
	}
}

func BenchmarkTimeoutParallel(b *testing.B) {
	p, _ := timeout.New(timeout.Config{Duration: time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = p.Do(ctx, noop)
		}
	})
}
