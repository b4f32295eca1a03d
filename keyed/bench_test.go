package keyed_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/keyed"
)

func noop(context.Context) error { return nil }

func passThrough(string) (resilience.Policy, error) {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) }), nil
}

// benchKeys returns n host-like keys.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "host-" + strconv.Itoa(i) + ".example.internal:443"
	}
	return keys
}

// warm returns a Keyed holding an instance for each key.
func warm(b *testing.B, keys []string) *keyed.Keyed {
	k := mustNew(b, keyed.Config{}, passThrough)
	for _, key := range keys {
		if _, err := k.Policy(key); err != nil {
			b.Fatal(err)
		}
	}
	return k
}

// BenchmarkDirect is the baseline: the instance's policy called directly.
func BenchmarkDirect(b *testing.B) {
	p, _ := passThrough("h")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Do(ctx, noop)
	}
}

// BenchmarkDo: an existing key, from a context built once; the target is
// 0 allocs/op.
func BenchmarkDo(b *testing.B) {
	keys := benchKeys(100)
	k := warm(b, keys)
	ctx := keyed.WithKey(context.Background(), keys[42])
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Do(ctx, noop)
	}
}

// BenchmarkPolicy: an existing key through Policy(key).Do, as the HTTP
// transport does; the target is 0 allocs/op.
func BenchmarkPolicy(b *testing.B) {
	keys := benchKeys(100)
	k := warm(b, keys)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p, _ := k.Policy(keys[i%len(keys)])
		_ = p.Do(ctx, noop)
		i++
	}
}

// BenchmarkDirectParallel is the baseline for the parallel benchmarks.
func BenchmarkDirectParallel(b *testing.B) {
	p, _ := passThrough("h")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = p.Do(ctx, noop)
		}
	})
}

// BenchmarkDoParallelSameKey: every goroutine calls the same key, the
// worst case for contention on one instance's counters.
func BenchmarkDoParallelSameKey(b *testing.B) {
	keys := benchKeys(100)
	k := warm(b, keys)
	ctx := keyed.WithKey(context.Background(), keys[42])
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = k.Do(ctx, noop)
		}
	})
}

// BenchmarkPolicyParallelManyKeys: goroutines spread over 100 keys.
func BenchmarkPolicyParallelManyKeys(b *testing.B) {
	keys := benchKeys(100)
	k := warm(b, keys)
	ctx := context.Background()
	var seed atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(37))
		for pb.Next() {
			p, _ := k.Policy(keys[i%len(keys)])
			_ = p.Do(ctx, noop)
			i++
		}
	})
}

// BenchmarkNewKeyChurn: every call is for a key never seen (or long
// evicted), with the table full: the factory runs and instances are
// evicted to make room, as under a flood of attacker-chosen hosts.
func BenchmarkNewKeyChurn(b *testing.B) {
	keys := benchKeys(1 << 16)
	k := mustNew(b, keyed.Config{MaxKeys: 1024}, passThrough)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p, _ := k.Policy(keys[i&(1<<16-1)])
		_ = p.Do(ctx, noop)
		i++
	}
}

// BenchmarkNewKeyChurnAllRetained: the same flood when every instance must
// be kept: new keys go to the overflow instance.
func BenchmarkNewKeyChurnAllRetained(b *testing.B) {
	keys := benchKeys(1 << 16)
	k := mustNew(b, keyed.Config{MaxKeys: 1024}, func(key string) (resilience.Policy, error) {
		p := &instance{key: key}
		p.retain.Store(true)
		return p, nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p, _ := k.Policy(keys[i&(1<<16-1)])
		_ = p.Do(ctx, noop)
		i++
	}
}
