package resilientgrpc

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestParsePushback(t *testing.T) {
	tests := []struct {
		vals []string
		d    time.Duration
		want pushback
	}{
		{nil, 0, pushbackNone},
		{[]string{}, 0, pushbackNone},
		{[]string{"0"}, 0, pushbackDelay},
		{[]string{"-0"}, 0, pushbackDelay}, // strconv reads it as 0, as gRPC does
		{[]string{"+15"}, 15 * time.Millisecond, pushbackDelay},
		{[]string{"250"}, 250 * time.Millisecond, pushbackDelay},
		{[]string{"007"}, 7 * time.Millisecond, pushbackDelay},
		{[]string{"9223372036854"}, 9223372036854 * time.Millisecond, pushbackDelay}, // largest that fits
		{[]string{"9223372036855"}, maxPushback, pushbackDelay},
		{[]string{"9223372036854775807"}, maxPushback, pushbackDelay},
		{[]string{"99999999999999999999999999"}, maxPushback, pushbackDelay}, // beyond int64: capped, no wrap
		{[]string{"-1"}, 0, pushbackStop},
		{[]string{"-99999999999999999999999999"}, 0, pushbackStop},
		{[]string{""}, 0, pushbackStop},
		{[]string{"+"}, 0, pushbackStop},
		{[]string{"-"}, 0, pushbackStop},
		{[]string{"abc"}, 0, pushbackStop},
		{[]string{"1.5"}, 0, pushbackStop},
		{[]string{" 10"}, 0, pushbackStop},
		{[]string{"10 "}, 0, pushbackStop},
		{[]string{"1_000"}, 0, pushbackStop},
		{[]string{"0x10"}, 0, pushbackStop},
		{[]string{"10ms"}, 0, pushbackStop},
		{[]string{"10", "20"}, 0, pushbackStop}, // several values: do not retry, as gRPC
	}
	for _, tt := range tests {
		d, got := parsePushback(tt.vals)
		if d != tt.d || got != tt.want {
			t.Errorf("parsePushback(%q) = %v, %v; want %v, %v", tt.vals, d, got, tt.d, tt.want)
		}
	}
}

// FuzzParsePushback checks parsePushback against strconv.ParseInt, which is
// how gRPC reads the trailer, and that no value overflows.
func FuzzParsePushback(f *testing.F) {
	for _, s := range []string{"0", "-0", "+1", "-1", "100", "abc", "", "9223372036854775808", "-9223372036854775809", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, got := parsePushback([]string{s})
		if got == pushbackNone {
			t.Fatalf("parsePushback(%q) = none for one value", s)
		}
		if got == pushbackStop && d != 0 {
			t.Fatalf("parsePushback(%q) = stop with delay %v", s, d)
		}
		if d < 0 || d > maxPushback || d%time.Millisecond != 0 {
			t.Fatalf("parsePushback(%q) delay %v outside [0, %v] or not whole milliseconds", s, d, maxPushback)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		var want pushback
		var wantD time.Duration
		switch {
		case err == nil && n >= 0:
			want, wantD = pushbackDelay, maxPushback
			if n <= int64(maxPushback/time.Millisecond) {
				wantD = time.Duration(n) * time.Millisecond
			}
		case errors.Is(err, strconv.ErrRange) && s[0] != '-' && integer(s):
			// strconv reports the overflow before it reads the rest, so
			// check the syntax apart.
			want, wantD = pushbackDelay, maxPushback
		default: // negative, malformed
			want = pushbackStop
		}
		if got != want || d != wantD {
			t.Fatalf("parsePushback(%q) = %v, %v; want %v, %v", s, d, got, wantD, want)
		}
	})
}

// integer reports whether s is an optional sign followed by ASCII digits.
func integer(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
