package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/chaos"
)

// TestShorthandIgnoresLoop: Loop does not apply to the short form, Faults:
// a Config with both is valid, and its one phase holds forever.
func TestShorthandIgnoresLoop(t *testing.T) {
	inj, err := chaos.New(chaos.Config{Loop: true, Seed: 1, Faults: []chaos.Fault{{Status: 503}}})
	if err != nil {
		t.Fatalf("New(Faults, Loop): %v, want no error", err)
	}
	if got := pattern(inj, 5); got != "xxxxx" {
		t.Errorf("faults: got %q, want %q", got, "xxxxx")
	}
	if got := inj.PhaseAt(inj.StartTime().Add(1000 * time.Hour)); got != "phase 1" {
		t.Errorf("PhaseAt(start+1000h) = %q, want %q", got, "phase 1")
	}
}

// TestNewRejectsMoreBadFaults: Hang excludes Jitter as it does Latency, and
// RetryAfterValue must be printable ASCII (a gRPC trailer cannot carry
// anything else).
func TestNewRejectsMoreBadFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault chaos.Fault
		want  []string
	}{
		{"hang with jitter", chaos.Fault{Hang: true, Jitter: time.Millisecond}, []string{"Faults[0]", "Hang cannot be combined"}},
		{"non-ASCII retry-after value", chaos.Fault{Status: 503, RetryAfterValue: "5\u00a0s"}, []string{"Faults[0].RetryAfterValue", "printable ASCII"}},
	}
	for _, tt := range tests {
		inj, err := chaos.New(chaos.Config{Faults: []chaos.Fault{tt.fault}})
		if err == nil || inj != nil {
			t.Errorf("%s: New = (%v, %v), want an error", tt.name, inj, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
	}
}
