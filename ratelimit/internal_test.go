package ratelimit

import (
	"encoding/json"
	"math"
	"testing"
)

// finite keeps every status value encodable: encoding/json refuses NaN and
// the infinities, and the status handler would answer 500.
func TestFinite(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{1.5, 1.5},
		{-3, -3},
		{math.MaxFloat64, math.MaxFloat64},
		{math.Inf(1), math.MaxFloat64},
		{math.Inf(-1), -math.MaxFloat64},
		{math.NaN(), 0},
	}
	for _, tt := range tests {
		got := finite(tt.in)
		if got != tt.want {
			t.Errorf("finite(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("finite(%v): json.Marshal: %v", tt.in, err)
		}
	}
}
