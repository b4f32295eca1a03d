package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/ratelimit"
)

// TestNewRejectsSmallestNegatives: Burst and MaxWait must not be negative,
// down to -1 and -1ns: a Burst of -1 would make a limiter that refuses
// every call.
func TestNewRejectsSmallestNegatives(t *testing.T) {
	tests := []struct {
		cfg   ratelimit.Config
		field string
		value string
	}{
		{ratelimit.Config{Rate: 1, Burst: -1}, "Burst", "-1"},
		{ratelimit.Config{Rate: 1, MaxWait: -time.Nanosecond}, "MaxWait", "-1ns"},
	}
	for _, tt := range tests {
		l, err := ratelimit.New(tt.cfg)
		if err == nil || l != nil {
			t.Errorf("New(%+v): got (%v, %v), want an error", tt.cfg, l, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.field) || !strings.Contains(msg, tt.value) {
			t.Errorf("New(%+v): error %q does not name %s and %s", tt.cfg, msg, tt.field, tt.value)
		}
	}
}
