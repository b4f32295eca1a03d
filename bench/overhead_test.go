package bench_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
)

// The overhead benchmarks: each group's contenders run a call that does
// nothing (or, for OpenBreaker, are rejected), serially and from
// GOMAXPROCS goroutines. Names are Benchmark<Group>/<serial|parallel>/<contender>,
// which is what cmd/ratios groups by:
//
//	go test -run '^$' -bench . -count 6 | tee new.txt
//	go run ./cmd/ratios new.txt

func noop(context.Context) error { return nil }

// BenchmarkBreaker: a closed breaker whose call succeeds. Target: ours ≤
// 1.15× gobreaker.
func BenchmarkBreaker(b *testing.B) { benchGroup(b, breakerGroup()) }

// BenchmarkBulkhead: a bulkhead with free slots.
func BenchmarkBulkhead(b *testing.B) { benchGroup(b, bulkheadGroup()) }

// BenchmarkRetry: a retry whose first attempt succeeds.
func BenchmarkRetry(b *testing.B) { benchGroup(b, retryGroup()) }

// BenchmarkTimeout: a call that returns long before its deadline.
func BenchmarkTimeout(b *testing.B) { benchGroup(b, timeoutGroup()) }

// BenchmarkChain: timeout → retry → breaker → bulkhead around a call that
// succeeds. Targets: ours ≤ 0.30× failsafe and ≤ 6 allocs/op.
func BenchmarkChain(b *testing.B) { benchGroup(b, chainGroup()) }

// BenchmarkOpenBreaker: an open breaker rejecting a call.
func BenchmarkOpenBreaker(b *testing.B) { benchGroup(b, openGroup()) }

func benchGroup(b *testing.B, g group) {
	b.Run("serial", func(b *testing.B) {
		for _, c := range g.contenders {
			b.Run(c.name, func(b *testing.B) {
				p := c.build(b)
				before := runtime.NumGoroutine()
				benchSerial(b, p, g.rejects)
				settle(b, before)
			})
		}
	})
	b.Run("parallel", func(b *testing.B) {
		for _, c := range g.contenders {
			b.Run(c.name, func(b *testing.B) {
				p := c.build(b)
				before := runtime.NumGoroutine()
				benchParallel(b, p, g.rejects)
				settle(b, before)
			})
		}
	})
}

// benchSerial runs p from one goroutine. Each call's error is checked against
// the expectation (nil, or a rejection), so that a contender that misbehaves
// under load fails the benchmark instead of looking fast.
// settle waits, off the clock, until the goroutines a contender left behind
// have ended (hystrix-go finishes each call on goroutines that outlive DoC),
// so that their work is not billed to the next benchmark. It gives up after
// a few seconds, quietly: a lasting excess is goleak's business.
func settle(b *testing.B, goroutines int) {
	b.StopTimer()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		runtime.Gosched()
	}
}

func benchSerial(b *testing.B, p resilience.Policy, rejects bool) {
	ctx := context.Background()
	bad := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Do(ctx, noop); (err != nil) != rejects {
			bad++
		}
	}
	if bad > 0 {
		b.Errorf("%d of %d calls: rejected %v, want %v", bad, b.N, !rejects, rejects)
	}
}

func benchParallel(b *testing.B, p resilience.Policy, rejects bool) {
	ctx := context.Background()
	var bad atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := int64(0)
		for pb.Next() {
			if err := p.Do(ctx, noop); (err != nil) != rejects {
				n++
			}
		}
		bad.Add(n)
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Errorf("%d of %d calls: rejected %v, want %v", n, b.N, !rejects, rejects)
	}
}
