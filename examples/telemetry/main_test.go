package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program shows the breaker opening and closing in the log, the metrics
// of both policies and the status page, and never the request's query.
func TestRunShowsTelemetry(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		var out bytes.Buffer
		if err := run(context.Background(), &out, asJSON); err != nil {
			t.Fatalf("run(json=%v): %v", asJSON, err)
		}
		got := out.String()
		for _, want := range []string{
			"resilience.previous_state=closed resilience.state=open",
			"resilience.previous_state=half_open resilience.state=closed",
			"resilience.calls",
			"resilience.retry.attempts",
			"resilience.breaker.transitions",
			`"name": "inventory-breaker"`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("json=%v: output lacks %q", asJSON, want)
			}
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "item=42") {
			t.Errorf("json=%v: the request's query reached the output", asJSON)
		}
	}
}
