package observetest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
)

// TestCapturesMetricsEventsAndLogs is the pattern a policy's telemetry test
// follows.
func TestCapturesMetricsEventsAndLogs(t *testing.T) {
	sdk := observetest.New(t)
	rec := observe.NewRecorder(observe.KindBreaker, "b", sdk.Settings("host.example.com"))
	ctx, end := sdk.Span(context.Background())
	rec.Record(ctx, observe.Success, 3*time.Millisecond)
	rec.Reject(ctx, attribute.String(observe.AttrState, "open"))
	rec.StateChanged(ctx, observe.StateClosed, observe.StateOpen)
	events := end()

	got := sdk.Collect(t)
	p, ok := observetest.Find(got[observe.MetricCalls], map[string]string{
		observe.AttrKind: "breaker", observe.AttrName: "b", observe.AttrKey: "host.example.com", observe.AttrOutcome: "rejected",
	})
	if !ok || p.Value != 1 || p.Unit != "{call}" {
		t.Errorf("rejected calls: got %+v (found %v), want 1 {call}", p, ok)
	}
	if _, ok := observetest.Find(got[observe.MetricCalls], map[string]string{observe.AttrOutcome: "timeout"}); ok {
		t.Errorf("Find matched a point that does not exist")
	}
	if len(events) != 1 || events[0].Name != observe.EventBreakerRejected || events[0].Attrs[observe.AttrState] != "open" {
		t.Errorf("events: got %+v, want one %s with state open", events, observe.EventBreakerRejected)
	}
	wantLog := "WARN resilience: breaker state changed resilience.policy.kind=breaker resilience.policy.name=b resilience.key=host.example.com resilience.previous_state=closed resilience.state=open"
	if logs := sdk.Logs(); !slices.Equal(logs, []string{wantLog}) {
		t.Errorf("logs: got %q, want %q", logs, wantLog)
	}
	vals := sdk.Values(t, events)
	for _, want := range []string{"host.example.com", "rejected", "open", "closed"} {
		if !slices.Contains(vals, want) {
			t.Errorf("Values lacks %q: %q", want, vals)
		}
	}
}
