package observe

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/semaphore"

	"github.com/cascadeguard/resilience/telemetry"
)

// The benchmarks compare one recorder in three set-ups, in the same run:
//
//	disabled   a nil *Recorder (Settings.Disabled): the baseline
//	global     the global provider with no SDK installed: the default
//	sdk        an explicit SDK provider with a manual reader
//
// around three stand-in policies: a pass-through (a retry's success path, a
// few ns), a semaphore bulkhead (tens of ns) and a rejection. Phase 2
// repeats the comparison on the real policies.

func succeed(context.Context) error { return nil }

var errBoom = errors.New("boom")

// recorders returns the three set-ups for a kind. The SDK provider is
// explicit: installing it globally would change the global case for every
// later benchmark in the binary.
func recorders(b *testing.B, kind Kind) []struct {
	name string
	rec  *Recorder
} {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	if globalLive.Load() {
		b.Fatal("an SDK is installed globally: the global case would not measure the no-SDK path")
	}
	return []struct {
		name string
		rec  *Recorder
	}{
		{"disabled", NewRecorder(kind, "bench", telemetry.Settings{Disabled: true})},
		{"global", NewRecorder(kind, "bench", telemetry.Settings{Key: "k"})},
		{"sdk", NewRecorder(kind, "bench", telemetry.Settings{MeterProvider: mp, Key: "k"})},
	}
}

// passThrough is a policy whose own work is nothing: the worst case for
// relative overhead (a retry whose first attempt succeeds).
//
//go:noinline
func passThrough(r *Recorder, ctx context.Context, op func(context.Context) error) error {
	st := r.Start(ctx)
	err := op(ctx)
	r.Done(ctx, st, Classify(ctx, err))
	return err
}

//go:noinline
func passThroughBare(ctx context.Context, op func(context.Context) error) error {
	return op(ctx)
}

// bulkheadLike admits through a semaphore, like a bulkhead's success path.
//
//go:noinline
func bulkheadLike(r *Recorder, sem *semaphore.Weighted, ctx context.Context, op func(context.Context) error) error {
	st := r.Start(ctx)
	if !sem.TryAcquire(1) {
		r.Reject(ctx)
		return errBoom
	}
	err := op(ctx)
	sem.Release(1)
	r.Done(ctx, st, Classify(ctx, err))
	return err
}

func BenchmarkPassThrough(b *testing.B) {
	ctx := context.Background()
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = passThroughBare(ctx, succeed)
		}
	})
	for _, c := range recorders(b, KindRetry) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = passThrough(c.rec, ctx, succeed)
			}
		})
	}
}

func BenchmarkPassThroughParallel(b *testing.B) {
	ctx := context.Background()
	for _, c := range recorders(b, KindRetry) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = passThrough(c.rec, ctx, succeed)
				}
			})
		})
	}
}

func BenchmarkBulkheadLike(b *testing.B) {
	ctx := context.Background()
	for _, c := range recorders(b, KindBulkhead) {
		b.Run(c.name, func(b *testing.B) {
			sem := semaphore.NewWeighted(1 << 20)
			b.ReportAllocs()
			for b.Loop() {
				_ = bulkheadLike(c.rec, sem, ctx, succeed)
			}
		})
	}
}

func BenchmarkBulkheadLikeParallel(b *testing.B) {
	ctx := context.Background()
	for _, c := range recorders(b, KindBulkhead) {
		b.Run(c.name, func(b *testing.B) {
			sem := semaphore.NewWeighted(1 << 20)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = bulkheadLike(c.rec, sem, ctx, succeed)
				}
			})
		})
	}
}

// recordKnown is a policy that times its calls itself, like the breaker,
// and reports the duration with Record.
//
//go:noinline
func recordKnown(r *Recorder, ctx context.Context, op func(context.Context) error, d time.Duration) error {
	err := op(ctx)
	r.Record(ctx, Classify(ctx, err), d)
	return err
}

func BenchmarkRecordKnownDuration(b *testing.B) {
	ctx := context.Background()
	for _, c := range recorders(b, KindBreaker) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = recordKnown(c.rec, ctx, succeed, time.Millisecond)
			}
		})
	}
}

// BenchmarkFailure is a failed call: the outcome is recorded (and, with no
// SDK, the recorder checks for one).
func BenchmarkFailure(b *testing.B) {
	ctx := context.Background()
	fail := func(context.Context) error { return errBoom }
	for _, c := range recorders(b, KindBreaker) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = passThrough(c.rec, ctx, fail)
			}
		})
	}
}

// BenchmarkReject is a rejection (an open breaker under load) with no
// recording span: an outcome plus the span check.
func BenchmarkReject(b *testing.B) {
	ctx := context.Background()
	for _, c := range recorders(b, KindBreaker) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.rec.Reject(ctx)
			}
		})
	}
}

// BenchmarkRetryScheduled is the bookkeeping of one retry, without a span.
func BenchmarkRetryScheduled(b *testing.B) {
	ctx := context.Background()
	for _, c := range recorders(b, KindRetry) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.rec.RetryScheduled(ctx, 2, 100*time.Millisecond, ReasonError)
			}
		})
	}
}

// BenchmarkNewRecorder is the construction cost a keyed instance pays once.
func BenchmarkNewRecorder(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewRecorder(KindBreaker, "bench", telemetry.Settings{Key: "k"})
	}
}
