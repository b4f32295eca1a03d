package resilienthttp

import (
	"testing"

	"github.com/cascadeguard/resilience/internal/preset"
)

// The exported defaults are spelled out here for the documentation; the
// preset that both adapters share must use the same values.
func TestDefaultsMatchThePreset(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"DefaultOverallTimeout", int64(DefaultOverallTimeout), int64(preset.DefaultOverallTimeout)},
		{"DefaultAttemptTimeout", int64(DefaultAttemptTimeout), int64(preset.DefaultAttemptTimeout)},
		{"DefaultBreakerOpenFor", int64(DefaultBreakerOpenFor), int64(preset.DefaultBreakerOpenFor)},
		{"DefaultBreakerProbeFailAfter", int64(DefaultBreakerProbeFailAfter), int64(preset.DefaultBreakerProbeFailAfter)},
		{"DefaultBreakerConsecutiveFailures", DefaultBreakerConsecutiveFailures, preset.DefaultBreakerConsecutiveFailures},
		{"DefaultBreakerWindow", int64(DefaultBreakerWindow), int64(preset.DefaultBreakerWindow)},
		{"DefaultMaxInFlightPerHost", DefaultMaxInFlightPerHost, preset.DefaultMaxInFlightPerKey},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want the preset's %d", c.name, c.got, c.want)
		}
	}
}
