package timeout_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/telemetry"
	"github.com/cascadeguard/resilience/timeout"
)

// slowTimeoutErr is what an inner per-attempt timeout returns: it reports
// Timeout() true, but the outer policy's own deadline did not fire.
type slowTimeoutErr struct{}

func (slowTimeoutErr) Error() string { return "inner timeout" }
func (slowTimeoutErr) Timeout() bool { return true }

// TestTelemetryOutcomes drives each kind of call through a Timeout and
// checks resilience.calls and resilience.call.duration by outcome, and that
// the resilience.timeout event goes to the caller's span only when this
// policy's own deadline ended the call.
func TestTelemetryOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		caller  func() (context.Context, context.CancelFunc) // nil: Background
		op      func(context.Context) error
		outcome string
		event   bool
	}{
		{"success", nil, func(context.Context) error { time.Sleep(40 * time.Millisecond); return nil }, "success", false}, // sleep-ok: fake time inside a synctest bubble
		{"own deadline fires", nil, waitDone, "timeout", true},
		{"op error after the deadline", nil, func(ctx context.Context) error {
			<-ctx.Done()
			return errors.New("read: use of closed connection")
		}, "timeout", true},
		{"success after the deadline", nil, func(ctx context.Context) error { <-ctx.Done(); return nil }, "success", false},
		{"failure", nil, func(context.Context) error { time.Sleep(time.Millisecond); return errors.New("refused") }, "failure", false}, // sleep-ok: fake time inside a synctest bubble
		{"client error", nil, func(context.Context) error { return resilience.MarkNeutral(errors.New("404")) }, "neutral", false},
		{"inner timeout", nil, func(context.Context) error { return slowTimeoutErr{} }, "timeout", false},
		{"caller cancels", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, waitDone, "neutral", false},
		{"caller's earlier deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, waitDone, "neutral", false},
		{"caller's later deadline, ours fires", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}, waitDone, "timeout", true},
		{"caller's earlier deadline, success", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil }, "success", false}, // sleep-ok: fake time inside a synctest bubble
		{"caller's earlier deadline, failure", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, func(context.Context) error { return errors.New("refused") }, "failure", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				p, err := timeout.New(timeout.Config{Name: "tt", Duration: 100 * time.Millisecond, Telemetry: sdk.Settings("/pkg.Svc/Get")})
				if err != nil {
					t.Fatal(err)
				}
				caller, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.caller != nil {
					caller, cancel = tc.caller()
				}
				defer cancel()
				ctx, end := sdk.Span(caller)
				_ = p.Do(ctx, tc.op)
				events := end()

				want := map[string]string{
					observe.AttrKind: "timeout", observe.AttrName: "tt", observe.AttrKey: "/pkg.Svc/Get",
					observe.AttrOutcome: tc.outcome,
				}
				got := sdk.Collect(t)
				calls, ok := observetest.Find(got[observe.MetricCalls], want)
				if !ok || calls.Value != 1 || calls.Unit != "{call}" || len(got[observe.MetricCalls]) != 1 {
					t.Errorf("calls: got %+v, want one point %v = 1 {call}", got[observe.MetricCalls], want)
				}

				var wantEvents []observetest.Event
				if tc.event {
					wantEvents = []observetest.Event{{Name: observe.EventTimeout, Attrs: map[string]string{
						observe.AttrKind: "timeout", observe.AttrName: "tt", observe.AttrKey: "/pkg.Svc/Get",
						observe.AttrTimeoutDuration: "0.1",
					}}}
				}
				if !sameEvents(events, wantEvents) {
					t.Errorf("events: got %+v, want %+v", events, wantEvents)
				}
				if logs := sdk.Logs(); len(logs) != 0 {
					t.Errorf("logs: got %q, want none", logs)
				}
			})
		})
	}
}

// TestTelemetryDuration checks resilience.call.duration on the real clock:
// the policy measures calls with observe's Start/Done, whose stamps are
// taken against a clock origin read at process start, outside any
// testing/synctest bubble, so inside a bubble (where time starts in 2000)
// they carry no usable start time and no duration is recorded.
func TestTelemetryDuration(t *testing.T) {
	sdk := observetest.New(t)
	p, err := timeout.New(timeout.Config{Name: "td", Duration: 2 * time.Millisecond, Telemetry: sdk.Settings("")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = p.Do(context.Background(), func(context.Context) error { return nil })
	if err := p.Do(context.Background(), waitDone); !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	elapsed := time.Since(start).Seconds()
	got := sdk.Collect(t)[observe.MetricCallDuration]
	for _, tc := range []struct {
		outcome  string
		min, max float64
	}{
		{"success", 0, elapsed},
		{"timeout", 0.002, elapsed},
	} {
		d, ok := observetest.Find(got, map[string]string{observe.AttrKind: "timeout", observe.AttrName: "td", observe.AttrOutcome: tc.outcome})
		if !ok || d.Count != 1 || d.Value < tc.min || d.Value > tc.max || d.Unit != "s" {
			t.Errorf("%s duration: got %+v (found %v), want one in [%v, %v] s", tc.outcome, d, ok, tc.min, tc.max)
		}
	}
	if len(got) != 2 {
		t.Errorf("duration series: got %+v, want success and timeout", got)
	}
}

func sameEvents(got, want []observetest.Event) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Name != want[i].Name || len(got[i].Attrs) != len(want[i].Attrs) {
			return false
		}
		for k, v := range want[i].Attrs {
			if got[i].Attrs[k] != v {
				return false
			}
		}
	}
	return true
}

func TestTelemetryDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		set := sdk.Settings("k")
		set.Disabled = true
		p, err := timeout.New(timeout.Config{Duration: time.Millisecond, Telemetry: set})
		if err != nil {
			t.Fatal(err)
		}
		ctx, end := sdk.Span(context.Background())
		_ = p.Do(ctx, func(context.Context) error { return nil })
		if err := p.Do(ctx, waitDone); !errors.Is(err, timeout.ErrTimeout) {
			t.Fatalf("got %v, want a timeout", err)
		}
		if events := end(); len(events) != 0 {
			t.Errorf("events: got %+v, want none", events)
		}
		if got := sdk.Collect(t); len(got) != 0 {
			t.Errorf("metrics: got %+v, want none", got)
		}
	})
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		cfg  timeout.Config
		want telemetry.Status
	}{
		{timeout.Config{Duration: 1500 * time.Millisecond},
			telemetry.Status{Kind: "timeout", Name: "timeout", Timeout: &telemetry.TimeoutStatus{Seconds: 1.5}}},
		{timeout.Config{Name: "per-attempt", Duration: 10 * time.Second, Telemetry: telemetry.Settings{Key: "http://u:p@Host.example:8080/x?q=1"}},
			telemetry.Status{Kind: "timeout", Name: "per-attempt", Key: "host.example:8080", Timeout: &telemetry.TimeoutStatus{Seconds: 10}}},
	} {
		p, err := timeout.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Status()
		if got.Kind != tc.want.Kind || got.Name != tc.want.Name || got.Key != tc.want.Key ||
			got.Timeout == nil || *got.Timeout != *tc.want.Timeout || got.Breaker != nil || got.Instances != nil {
			t.Errorf("Status: got %+v (timeout %+v), want %+v (timeout %+v)", got, got.Timeout, tc.want, tc.want.Timeout)
		}
	}
}

// TestDefaultTelemetryGoesToTheGlobalProvider: with the zero Telemetry, a
// Timeout reports to the SDK the application installs globally. It runs in
// a child process: a global SDK cannot be uninstalled, and the benchmarks
// of this package need the global provider without one.
func TestDefaultTelemetryGoesToTheGlobalProvider(t *testing.T) {
	const env = "TIMEOUT_GLOBAL_SDK_CHILD"
	if os.Getenv(env) != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), env+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	otel.SetMeterProvider(mp)

	p := mustNew(t, time.Millisecond)
	_ = p.Do(context.Background(), func(context.Context) error { return nil })
	_ = p.Do(context.Background(), waitDone)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == observe.MetricCalls {
				for _, p := range s.DataPoints {
					o, _ := p.Attributes.Value(observe.AttrOutcome)
					found[o.AsString()] = p.Value
				}
			}
		}
	}
	if found["success"] != 1 || found["timeout"] != 1 || len(found) != 2 {
		t.Errorf("global SDK got calls %v, want one success and one timeout", found)
	}
}
