//go:build !race

package timeout_test

import (
	"context"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/telemetry"
	"github.com/cascadeguard/resilience/timeout"
)

// TestZeroAllocs holds the path that makes no timer (the caller's deadline
// is earlier) to zero allocations, with telemetry off, on the global
// provider and on an SDK. The race detector allocates on its own, hence the
// build tag.
func TestZeroAllocs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sdk := observetest.New(t)
	for _, tc := range []struct {
		name string
		tel  telemetry.Settings
	}{
		{"disabled", telemetry.Settings{Disabled: true}},
		{"global", telemetry.Settings{}},
		{"sdk", sdk.Settings("k")},
	} {
		p, err := timeout.New(timeout.Config{Duration: time.Hour, Telemetry: tc.tel})
		if err != nil {
			t.Fatal(err)
		}
		if got := testing.AllocsPerRun(1000, func() { _ = p.Do(ctx, noop) }); got != 0 {
			t.Errorf("%s: %v allocs per call, want 0", tc.name, got)
		}
	}
}
