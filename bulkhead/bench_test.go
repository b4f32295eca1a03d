package bulkhead_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/semaphore"

	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/telemetry"
)

func noop(context.Context) error { return nil }

// yield is an op that lets other goroutines run while it holds its slot, so
// that parallel callers actually contend for the slots.
func yield(context.Context) error {
	runtime.Gosched()
	return nil
}

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

// BenchmarkBulkhead is the uncontended path: a slot is always free. The
// target is at most 1.3× BenchmarkSemaphoreWeighted (tel=global) and 0
// allocs/op.
func BenchmarkBulkhead(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 100, MaxQueue: 100, Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = bh.Do(ctx, noop)
			}
		})
	}
}

// BenchmarkSemaphoreWeighted is the baseline for BenchmarkBulkhead:
// golang.org/x/sync/semaphore's Acquire and Release around the same op.
func BenchmarkSemaphoreWeighted(b *testing.B) {
	sem := semaphore.NewWeighted(100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if sem.Acquire(ctx, 1) == nil {
			_ = noop(ctx)
			sem.Release(1)
		}
	}
}

// BenchmarkChannelSemaphore is the other common idiom, a buffered channel,
// for comparison.
func BenchmarkChannelSemaphore(b *testing.B) {
	sem := make(chan struct{}, 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		select {
		case sem <- struct{}{}:
			_ = noop(ctx)
			<-sem
		case <-ctx.Done():
		}
	}
}

// BenchmarkBulkheadRejected is the shedding path: every slot is taken and
// there is no queue. The target is 0 allocs/op.
func BenchmarkBulkheadRejected(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1, Telemetry: tc.tel})
			ctx := context.Background()
			release, held := make(chan struct{}), make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = bh.Do(ctx, func(context.Context) error { close(held); <-release; return nil })
			}()
			<-held
			b.ReportAllocs()
			for b.Loop() {
				if bh.Do(ctx, noop) == nil {
					b.Fatal("admitted a call while full")
				}
			}
			close(release)
			<-done
		})
	}
}

// BenchmarkBulkheadParallel: GOMAXPROCS goroutines, more slots than callers,
// so they contend only on the bulkhead's state.
func BenchmarkBulkheadParallel(b *testing.B) {
	for _, tc := range telemetryCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1024, MaxQueue: 1024, Telemetry: tc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = bh.Do(ctx, noop)
				}
			})
		})
	}
}

func BenchmarkSemaphoreWeightedParallel(b *testing.B) {
	sem := semaphore.NewWeighted(1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if sem.Acquire(ctx, 1) == nil {
				_ = noop(ctx)
				sem.Release(1)
			}
		}
	})
}

// contendedParallelism × GOMAXPROCS goroutines share contendedSlots slots,
// so most calls queue.
const (
	contendedSlots       = 2
	contendedParallelism = 8
)

// BenchmarkBulkheadContended: many more callers than slots; most calls wait
// in the queue and are handed a slot. Allocations here are the queued path's.
func BenchmarkBulkheadContended(b *testing.B) {
	bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: contendedSlots, MaxQueue: 1 << 20})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(contendedParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = bh.Do(ctx, yield)
		}
	})
}

func BenchmarkSemaphoreWeightedContended(b *testing.B) {
	sem := semaphore.NewWeighted(contendedSlots)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(contendedParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if sem.Acquire(ctx, 1) == nil {
				_ = yield(ctx)
				sem.Release(1)
			}
		}
	})
}

// BenchmarkBulkheadQueued measures the queued path alone: two goroutines
// share one slot and each waits in the queue until the other hands it the
// slot. Every iteration is two queued calls, so the allocations of one
// queued call are half of allocs/op.
func BenchmarkBulkheadQueued(b *testing.B) {
	for _, bc := range []struct {
		name    string
		maxWait time.Duration
	}{
		{"NoMaxWait", 0},
		{"MaxWait", time.Minute}, // adds a timer per queued call
	} {
		b.Run(bc.name, func(b *testing.B) {
			bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: bc.maxWait})
			ctx := context.Background()
			var stop atomic.Bool
			// Hold the slot until the other goroutine is queued.
			handOver := func(context.Context) error {
				for bh.Queued() == 0 && !stop.Load() {
					runtime.Gosched()
				}
				return nil
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for !stop.Load() {
					_ = bh.Do(ctx, handOver)
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				_ = bh.Do(ctx, handOver)
			}
			stop.Store(true)
			<-done
		})
	}
}
