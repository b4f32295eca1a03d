package breaker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/telemetry"
)

// With no settings, a breaker reports to the global meter provider; here an
// explicit SDK provider with a manual reader stands in for the exporter an
// application installs. The logger gets one record per state change.
func Example_telemetry() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = provider.Shutdown(context.Background()) }()
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}))

	b, err := breaker.New(breaker.Config{
		Name:                "inventory",
		ConsecutiveFailures: 2,
		Telemetry:           telemetry.Settings{MeterProvider: provider, Logger: logger, Key: "inventory.internal:8443"},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return nil })
	for range 4 {
		_ = b.Do(ctx, func(context.Context) error { return errors.New("503") })
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				o, _ := p.Attributes.Value("resilience.outcome")
				s, _ := p.Attributes.Value("resilience.state")
				lines = append(lines, fmt.Sprintf("%s %s%s = %d", m.Name, o.AsString(), s.AsString(), p.Value))
			}
		case metricdata.Gauge[int64]:
			lines = append(lines, fmt.Sprintf("%s = %d", m.Name, d.DataPoints[0].Value))
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// level=WARN msg="resilience: breaker state changed" resilience.policy.kind=breaker resilience.policy.name=inventory resilience.key=inventory.internal:8443 resilience.previous_state=closed resilience.state=open
	// resilience.breaker.state = 2
	// resilience.breaker.transitions open = 1
	// resilience.calls failure = 2
	// resilience.calls rejected = 2
	// resilience.calls success = 1
}

// Status is what a status page shows for the breaker; register the breaker
// in a telemetry.Registry and serve it with telemetry.StatusHandler.
func ExampleBreaker_Status() {
	b, err := breaker.New(breaker.Config{Name: "payments", ConsecutiveFailures: 1})
	if err != nil {
		panic(err)
	}
	_ = b.Do(context.Background(), func(context.Context) error { return errors.New("503") })
	out, _ := json.Marshal(b.Status())
	fmt.Println(string(out))
	// Output:
	// {"kind":"breaker","name":"payments","breaker":{"state":"open","requests":0,"successes":0,"failures":0,"slow_calls":0,"neutral":0,"consecutive_failures":0}}
}
