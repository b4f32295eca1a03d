package observe_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// A policy builds its recorder once, in New, and brackets each call with
// Start and Done. Here a manual reader collects what one success and one
// rejection produced.
func ExampleNewRecorder() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	rec := observe.NewRecorder(observe.KindBulkhead, "inventory",
		telemetry.Settings{MeterProvider: mp, Key: "https://user:pw@inventory.internal/items?id=7"})

	ctx := context.Background()
	s := rec.Start(ctx)
	err := error(nil) // the call succeeded
	rec.Done(ctx, s, observe.Classify(ctx, err))
	rec.Reject(ctx) // the next one found the bulkhead full

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				fmt.Printf("%s %s = %d\n", m.Name, attrs(p.Attributes), p.Value)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				fmt.Printf("%s %s count = %d\n", m.Name, attrs(p.Attributes), p.Count)
			}
		}
	}
	// Unordered output:
	// resilience.calls {resilience.key=inventory.internal resilience.outcome=success resilience.policy.kind=bulkhead resilience.policy.name=inventory} = 1
	// resilience.calls {resilience.key=inventory.internal resilience.outcome=rejected resilience.policy.kind=bulkhead resilience.policy.name=inventory} = 1
	// resilience.call.duration {resilience.key=inventory.internal resilience.outcome=success resilience.policy.kind=bulkhead resilience.policy.name=inventory} count = 1
	// resilience.call.duration {resilience.key=inventory.internal resilience.outcome=rejected resilience.policy.kind=bulkhead resilience.policy.name=inventory} count = 1
}

func attrs(set attribute.Set) string {
	var kv []string
	for _, a := range set.ToSlice() {
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	slices.Sort(kv)
	return "{" + strings.Join(kv, " ") + "}"
}

// State transitions, and only they, are logged when the policy's settings
// carry a logger.
func ExampleRecorder_StateChanged() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	rec := observe.NewRecorder(observe.KindBreaker, "payments", telemetry.Settings{Logger: logger})

	ctx := context.Background()
	rec.Done(ctx, rec.Start(ctx), observe.Classify(ctx, errors.New("503"))) // per call: not logged
	rec.StateChanged(ctx, observe.StateClosed, observe.StateOpen)
	// Output:
	// level=WARN msg="resilience: breaker state changed" resilience.policy.kind=breaker resilience.policy.name=payments resilience.previous_state=closed resilience.state=open
}
