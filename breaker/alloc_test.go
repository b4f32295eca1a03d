//go:build !race

package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
)

// TestZeroAllocs holds the hot paths to zero allocations (the benchmarks
// report the same; this fails the build when it regresses). The race
// detector allocates on its own, hence the build tag.
func TestZeroAllocs(t *testing.T) {
	ctx := context.Background()
	closed := mustNew(t, breaker.Config{SlowCall: time.Hour})
	open := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Hour})
	tripOpen(t, open)
	shadow := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Hour, Mode: breaker.ModeShadow})
	_ = shadow.Do(ctx, fail)
	wantState(t, shadow, breaker.StateOpen)
	forced := mustNew(t, breaker.Config{Mode: breaker.ModeForcedOpen})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// The same with an SDK recording for real: measurements use prebuilt
	// attribute sets.
	sdk := observetest.New(t)
	sdkClosed := mustNew(t, breaker.Config{SlowCall: time.Hour, Telemetry: sdk.Settings("k")})
	sdkOpen := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Hour, Telemetry: sdk.Settings("k")})
	tripOpen(t, sdkOpen)

	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"success", func() { _ = closed.Do(ctx, succeed) }},
		{"reject while open", func() { _ = open.Do(ctx, succeed) }},
		{"reject while forced open", func() { _ = forced.Do(ctx, succeed) }},
		{"shadow would-reject", func() { _ = shadow.Do(ctx, succeed) }},
		{"caller cancelled", func() { _ = closed.Do(cancelled, func(ctx context.Context) error { return ctx.Err() }) }},
		{"State Counts Retain", func() { _, _, _ = open.State(), open.Counts(), open.Retain() }},
		{"success, SDK", func() { _ = sdkClosed.Do(ctx, succeed) }},
		{"failure, SDK", func() { _ = sdkClosed.Do(ctx, fail) }},
		{"reject while open, SDK", func() { _ = sdkOpen.Do(ctx, succeed) }},
	} {
		if got := testing.AllocsPerRun(1000, tc.f); got != 0 {
			t.Errorf("%s: %v allocs per call, want 0", tc.name, got)
		}
	}
}
