package timeout_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cascadeguard/resilience/telemetry"
	"github.com/cascadeguard/resilience/timeout"
)

// The policy's benchmarks run once per telemetry variant (see
// withTelemetry); the default configuration is telemetry=global. The
// telemetry target: global within 1.10× of disabled, with the same allocs:
//
//	go test -run '^$' -bench 'Timeout' -count 10 -benchtime 200ms ./timeout | tee /tmp/t.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /telemetry /tmp/t.txt

func noop(context.Context) error { return nil }

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

func newBench(b *testing.B, d time.Duration, tel telemetry.Settings) *timeout.Timeout {
	b.Helper()
	p, err := timeout.New(timeout.Config{Duration: d, Telemetry: tel})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkTimeout is the happy path: the op returns at once.
func BenchmarkTimeout(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		p := newBench(b, time.Second, tel)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Do(ctx, noop)
		}
	})
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
// timer or context is made; the target is 0 allocs/op. It is the shortest
// path of the policy, where telemetry weighs most.
func BenchmarkTimeoutCallerEarlier(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		p := newBench(b, time.Hour, tel)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Do(ctx, noop)
		}
	})
}

func BenchmarkTimeoutParallel(b *testing.B) {
	withTelemetry(b, func(b *testing.B, tel telemetry.Settings) {
		p := newBench(b, time.Second, tel)
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = p.Do(ctx, noop)
			}
		})
	})
}
