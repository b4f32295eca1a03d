package breaker_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/telemetry"
)

const telKey = "api.example.com"

// newObserved returns a breaker named "tb" whose telemetry goes to sdk,
// keyed telKey.
func newObserved(t *testing.T, sdk *observetest.SDK, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	cfg.Name = "tb"
	cfg.Telemetry = sdk.Settings(telKey)
	return mustNew(t, cfg)
}

// attrs returns the attributes every breaker series carries, plus extra
// key/value pairs.
func attrs(extra ...string) map[string]string {
	m := map[string]string{
		observe.AttrKind: "breaker",
		observe.AttrName: "tb",
		observe.AttrKey:  telKey,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// callPoints returns the resilience.calls value and the
// resilience.call.duration count and sum for outcome, checking both units.
func callPoints(t *testing.T, got map[string][]observetest.Point, outcome string) (calls float64, n uint64, sum float64) {
	t.Helper()
	want := attrs(observe.AttrOutcome, outcome)
	if p, ok := observetest.Find(got[observe.MetricCalls], want); ok {
		if p.Unit != "{call}" {
			t.Errorf("%s unit: got %q, want {call}", observe.MetricCalls, p.Unit)
		}
		calls = p.Value
	}
	if p, ok := observetest.Find(got[observe.MetricCallDuration], want); ok {
		if p.Unit != "s" {
			t.Errorf("%s unit: got %q, want s", observe.MetricCallDuration, p.Unit)
		}
		n, sum = p.Count, p.Value
	}
	return calls, n, sum
}

// TestTelemetryCallsByOutcome drives each kind of call through a breaker
// and checks resilience.calls and resilience.call.duration by outcome: a
// slow call and a panic are failures, the caller's cancellation and a client
// error are neutral, a rejection has a zero duration, and a shadow call
// that would have been rejected is recorded by what it did.
func TestTelemetryCallsByOutcome(t *testing.T) {
	clientErr := resilience.MarkNeutral(errors.New("404"))
	tests := []struct {
		name    string
		cfg     breaker.Config
		drive   func(t *testing.T, b *breaker.Breaker)
		outcome string
		calls   float64
		dur     float64 // seconds, sum of the durations
	}{
		{"success", breaker.Config{}, func(t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), func(context.Context) error { time.Sleep(3 * time.Millisecond); return nil }) // sleep-ok: fake time inside a synctest bubble
		}, "success", 1, 0.003},
		{"failure", breaker.Config{}, func(t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), func(context.Context) error { time.Sleep(time.Millisecond); return errBoom }) // sleep-ok: fake time inside a synctest bubble
		}, "failure", 1, 0.001},
		{"slow call is a failure", breaker.Config{SlowCall: 10 * time.Millisecond}, func(t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), func(context.Context) error { time.Sleep(20 * time.Millisecond); return nil }) // sleep-ok: fake time inside a synctest bubble
		}, "failure", 1, 0.02},
		{"panic is a failure", breaker.Config{}, func(t *testing.T, b *breaker.Breaker) {
			defer func() { _ = recover() }()
			_ = b.Do(context.Background(), func(context.Context) error { panic("op") })
		}, "failure", 1, 0},
		{"client error is neutral", breaker.Config{}, func(t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), func(context.Context) error { return clientErr })
		}, "neutral", 1, 0},
		{"caller cancelled is neutral", breaker.Config{}, func(t *testing.T, b *breaker.Breaker) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = b.Do(ctx, func(ctx context.Context) error { return ctx.Err() })
		}, "neutral", 1, 0},
		{"rejected while open", breaker.Config{ConsecutiveFailures: 1}, func(t *testing.T, b *breaker.Breaker) {
			tripOpen(t, b)
			mustReject(t, b)
			mustReject(t, b)
		}, "rejected", 2, 0},
		{"rejected while forced open", breaker.Config{Mode: breaker.ModeForcedOpen}, func(t *testing.T, b *breaker.Breaker) {
			mustReject(t, b)
		}, "rejected", 1, 0},
		{"rejected in half-open", breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second}, func(t *testing.T, b *breaker.Breaker) {
			tripOpen(t, b)
			pastOpen(time.Second)
			done, err := b.Allow(context.Background()) // takes the one probe slot
			if err != nil {
				t.Fatal(err)
			}
			mustReject(t, b)
			done(nil)
		}, "rejected", 1, 0},
		{"two-step success", breaker.Config{}, func(t *testing.T, b *breaker.Breaker) {
			done, err := b.Allow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			done(nil)
		}, "success", 1, 0.005},
		{"two-step rejection", breaker.Config{Mode: breaker.ModeForcedOpen}, func(t *testing.T, b *breaker.Breaker) {
			if _, err := b.Allow(context.Background()); !errors.Is(err, breaker.ErrOpen) {
				t.Fatalf("Allow: got %v, want ErrOpen", err)
			}
		}, "rejected", 1, 0},
		{"shadow would-reject runs and is recorded", breaker.Config{ConsecutiveFailures: 1, Mode: breaker.ModeShadow}, func(t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), fail) // trips (computed)
			_ = b.Do(context.Background(), succeed)
		}, "success", 1, 0},
		{"disabled mode still records", breaker.Config{Mode: breaker.ModeDisabled}, func(t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), fail)
		}, "failure", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				b := newObserved(t, sdk, tc.cfg)
				tc.drive(t, b)
				got := sdk.Collect(t)
				calls, n, sum := callPoints(t, got, tc.outcome)
				if calls != tc.calls || n != uint64(tc.calls) || sum != tc.dur {
					t.Errorf("outcome %s: got calls %v, durations %d summing %vs; want %v, %v, %vs\nall: %+v",
						tc.outcome, calls, n, sum, tc.calls, tc.calls, tc.dur, got[observe.MetricCalls])
				}
			})
		})
	}
}

// TestTelemetryNothingForSuccessIsAnEvent: the success path records metrics
// only, no span event and no log.
func TestTelemetryNothingForSuccessIsAnEvent(t *testing.T) {
	sdk := observetest.New(t)
	b := newObserved(t, sdk, breaker.Config{ConsecutiveFailures: 1000})
	ctx, end := sdk.Span(context.Background())
	for i := range 200 {
		if i%3 == 0 {
			_ = b.Do(ctx, fail)
		} else {
			_ = b.Do(ctx, succeed)
		}
	}
	if events := end(); len(events) != 0 {
		t.Errorf("span events: got %+v, want none", events)
	}
	if logs := sdk.Logs(); len(logs) != 0 {
		t.Errorf("logs after 200 calls without a transition: got %q, want none", logs)
	}
	got := sdk.Collect(t)
	if s, _, _ := callPoints(t, got, "success"); s != 133 {
		t.Errorf("successes: got %v, want 133", s)
	}
	if f, _, _ := callPoints(t, got, "failure"); f != 67 {
		t.Errorf("failures: got %v, want 67", f)
	}
}

// TestTelemetryStateGauge: resilience.breaker.state reports what State
// reports, numbered 0 closed, 1 half-open, 2 open, in every mode.
func TestTelemetryStateGauge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		b := newObserved(t, sdk, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second})
		gauge := func() float64 {
			t.Helper()
			pts := sdk.Collect(t)[observe.MetricBreakerState]
			p, ok := observetest.Find(pts, attrs())
			if !ok || len(pts) != 1 || p.Unit != "1" || len(p.Attrs) != 3 {
				t.Fatalf("state gauge: got %+v, want one point with kind, name and key, unit 1", pts)
			}
			return p.Value
		}
		steps := []struct {
			name string
			do   func()
			want float64
		}{
			{"closed", func() {}, 0},
			{"open", func() { tripOpen(t, b) }, 2},
			{"half-open after OpenFor", func() { pastOpen(time.Second) }, 1},
			{"closed after the probe", func() { _ = b.Do(context.Background(), succeed) }, 0},
			{"forced open", func() { _ = b.SetMode(breaker.ModeForcedOpen) }, 2},
			{"disabled", func() { _ = b.SetMode(breaker.ModeDisabled) }, 0},
			{"shadow, computed open", func() {
				_ = b.SetMode(breaker.ModeShadow)
				_ = b.Do(context.Background(), fail)
			}, 2},
		}
		for _, s := range steps {
			s.do()
			if got := gauge(); got != s.want {
				t.Errorf("%s: gauge %v, want %v", s.name, got, s.want)
			}
		}
	})
}

// TestTelemetryTransitions: each state change is counted with the new and
// previous states and logged once (Warn when the breaker opens).
func TestTelemetryTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		b := newObserved(t, sdk, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second})
		tripOpen(t, b)
		pastOpen(time.Second)
		sdk.Collect(t)                          // reads the gauge: changes nothing
		_ = b.Do(context.Background(), succeed) // half-opens, probes, closes

		got := sdk.Collect(t)[observe.MetricBreakerTransitions]
		for _, tr := range [][2]string{{"closed", "open"}, {"open", "half_open"}, {"half_open", "closed"}} {
			p, ok := observetest.Find(got, attrs(observe.AttrPreviousState, tr[0], observe.AttrState, tr[1]))
			if !ok || p.Value != 1 || p.Unit != "{transition}" {
				t.Errorf("transition %s→%s: got %+v (found %v), want 1 {transition}", tr[0], tr[1], p, ok)
			}
		}
		if len(got) != 3 {
			t.Errorf("transition series: got %d, want 3: %+v", len(got), got)
		}
		prefix := "resilience: breaker state changed resilience.policy.kind=breaker resilience.policy.name=tb resilience.key=" + telKey
		want := []string{
			"WARN " + prefix + " resilience.previous_state=closed resilience.state=open",
			"INFO " + prefix + " resilience.previous_state=open resilience.state=half_open",
			"INFO " + prefix + " resilience.previous_state=half_open resilience.state=closed",
		}
		if logs := sdk.Logs(); !slices.Equal(logs, want) {
			t.Errorf("logs:\ngot  %q\nwant %q", logs, want)
		}
	})
}

// TestTelemetryRejectedEvent: a rejection adds resilience.breaker.rejected
// to the caller's span with the state that rejected; a would-be rejection
// in shadow mode adds it with resilience.breaker.shadow and counts a shadow
// rejection.
func TestTelemetryRejectedEvent(t *testing.T) {
	tests := []struct {
		name  string
		cfg   breaker.Config
		drive func(ctx context.Context, t *testing.T, b *breaker.Breaker)
		want  map[string]string // the event's attributes
	}{
		{"open", breaker.Config{ConsecutiveFailures: 1}, func(ctx context.Context, t *testing.T, b *breaker.Breaker) {
			tripOpen(t, b)
			_ = b.Do(ctx, succeed)
		}, attrs(observe.AttrState, "open")},
		{"forced open, two-step", breaker.Config{Mode: breaker.ModeForcedOpen}, func(ctx context.Context, t *testing.T, b *breaker.Breaker) {
			_, _ = b.Allow(ctx)
		}, attrs(observe.AttrState, "open")},
		{"half-open, probe slots taken", breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second}, func(ctx context.Context, t *testing.T, b *breaker.Breaker) {
			tripOpen(t, b)
			pastOpen(time.Second)
			done, err := b.Allow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer done(nil)
			_ = b.Do(ctx, succeed)
		}, attrs(observe.AttrState, "half_open")},
		{"shadow", breaker.Config{ConsecutiveFailures: 1, Mode: breaker.ModeShadow}, func(ctx context.Context, t *testing.T, b *breaker.Breaker) {
			_ = b.Do(context.Background(), fail)
			if err := b.Do(ctx, succeed); err != nil {
				t.Fatalf("shadow mode rejected: %v", err)
			}
		}, attrs(observe.AttrBreakerShadow, "true", observe.AttrState, "open")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				b := newObserved(t, sdk, tc.cfg)
				ctx, end := sdk.Span(context.Background())
				tc.drive(ctx, t, b)
				events := end()
				if len(events) != 1 || events[0].Name != observe.EventBreakerRejected || !maps(events[0].Attrs, tc.want) {
					t.Errorf("events: got %+v, want one %s with %v", events, observe.EventBreakerRejected, tc.want)
				}
				shadow, ok := observetest.Find(sdk.Collect(t)[observe.MetricBreakerShadowRejected], attrs())
				if wantShadow := tc.cfg.Mode == breaker.ModeShadow; ok != wantShadow || (ok && (shadow.Value != 1 || shadow.Unit != "{call}")) {
					t.Errorf("shadow rejections: got %+v (found %v), want found %v with 1 {call}", shadow, ok, wantShadow)
				}
			})
		})
	}
}

// maps reports whether got holds every pair of want and nothing else.
func maps(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestTelemetryDisabled: with Telemetry.Disabled, nothing is measured,
// added to the span or logged, whatever else the settings say.
func TestTelemetryDisabled(t *testing.T) {
	sdk := observetest.New(t)
	set := sdk.Settings(telKey)
	set.Disabled = true
	b := mustNew(t, breaker.Config{Name: "off", ConsecutiveFailures: 1, Telemetry: set})
	ctx, end := sdk.Span(context.Background())
	_ = b.Do(ctx, succeed)
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, succeed) // rejected
	_ = b.SetMode(breaker.ModeShadow)
	_ = b.Do(ctx, succeed) // would-be rejected
	if events := end(); len(events) != 0 {
		t.Errorf("events: got %+v, want none", events)
	}
	if got := sdk.Collect(t); len(got) != 0 {
		t.Errorf("metrics: got %+v, want none", got)
	}
	if logs := sdk.Logs(); len(logs) != 0 {
		t.Errorf("logs: got %q, want none", logs)
	}
	if st := b.Status(); st.Breaker == nil || st.Breaker.State != telemetry.StateOpen {
		t.Errorf("Status with telemetry disabled: got %+v, want the state open", st)
	}
}

// TestTelemetryGaugeEndsWithTheBreaker: the state gauge's callback does not
// keep a breaker alive; once the breaker is unreachable (evicted from a
// keyed set, say) its series ends.
func TestTelemetryGaugeEndsWithTheBreaker(t *testing.T) {
	sdk := observetest.New(t)
	func() {
		b := newObserved(t, sdk, breaker.Config{})
		if pts := sdk.Collect(t)[observe.MetricBreakerState]; len(pts) != 1 {
			t.Fatalf("live breaker: got %+v, want one state series", pts)
		}
		runtime.KeepAlive(b)
	}()
	for range 20 {
		runtime.GC()
		if pts := sdk.Collect(t)[observe.MetricBreakerState]; len(pts) == 0 {
			return
		}
	}
	t.Errorf("the state gauge of an unreachable breaker is still reported after 20 GCs")
}

func TestStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name  string
			cfg   breaker.Config
			drive func(b *breaker.Breaker)
			want  telemetry.BreakerStatus
		}{
			{"closed with counts", breaker.Config{SlowCall: time.Second}, func(b *breaker.Breaker) {
				_ = b.Do(ctx, succeed)
				_ = b.Do(ctx, fail)
				_ = b.Do(ctx, func(context.Context) error { time.Sleep(2 * time.Second); return nil }) // sleep-ok: fake time inside a synctest bubble
				_ = b.Do(ctx, func(context.Context) error { return resilience.MarkNeutral(errBoom) })
			}, telemetry.BreakerStatus{State: "closed", Requests: 4, Successes: 1, Failures: 2, SlowCalls: 1, Neutral: 1, ConsecutiveFailures: 2}},
			{"open", breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second}, func(b *breaker.Breaker) {
				_ = b.Do(ctx, fail)
			}, telemetry.BreakerStatus{State: "open"}},
			{"half-open once OpenFor is up", breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second}, func(b *breaker.Breaker) {
				_ = b.Do(ctx, fail)
				pastOpen(time.Second)
			}, telemetry.BreakerStatus{State: "half_open"}},
			{"forced open", breaker.Config{Mode: breaker.ModeForcedOpen}, func(*breaker.Breaker) {},
				telemetry.BreakerStatus{State: "open", Mode: "forced-open"}},
			{"disabled", breaker.Config{Mode: breaker.ModeDisabled}, func(b *breaker.Breaker) { _ = b.Do(ctx, fail) },
				telemetry.BreakerStatus{State: "closed", Mode: "disabled"}},
			{"shadow", breaker.Config{Mode: breaker.ModeShadow}, func(b *breaker.Breaker) { _ = b.Do(ctx, fail) },
				telemetry.BreakerStatus{State: "closed", Mode: "shadow", Requests: 1, Failures: 1, ConsecutiveFailures: 1}},
		}
		for _, tc := range tests {
			tc.cfg.Name = "inventory"
			tc.cfg.Telemetry.Key = "https://user:pw@API.example.com:443/v1?token=secret"
			b := mustNew(t, tc.cfg)
			tc.drive(b)
			got := b.Status()
			if got.Kind != "breaker" || got.Name != "inventory" || got.Key != "api.example.com" ||
				got.Breaker == nil || *got.Breaker != tc.want ||
				got.Bulkhead != nil || got.Retry != nil || got.RateLimit != nil || got.Timeout != nil || got.Instances != nil {
				t.Errorf("%s: got %+v (breaker %+v), want kind breaker, name inventory, key api.example.com, breaker %+v",
					tc.name, got, got.Breaker, tc.want)
			}
		}
	})
}

// TestDefaultTelemetryGoesToTheGlobalProvider: with the zero Telemetry, a
// breaker reports to the SDK the application installs globally. It runs in
// a child process: a global SDK cannot be uninstalled, and the benchmarks
// of this package need the global provider without one.
func TestDefaultTelemetryGoesToTheGlobalProvider(t *testing.T) {
	const env = "BREAKER_GLOBAL_SDK_CHILD"
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

	b := mustNew(t, breaker.Config{Name: "global"})
	_ = b.Do(context.Background(), succeed)
	_ = b.Do(context.Background(), fail)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == observe.MetricCalls {
				for _, p := range s.DataPoints {
					o, _ := p.Attributes.Value(observe.AttrOutcome)
					found[o.AsString()] = p.Value == 1
				}
			}
			if m.Name == observe.MetricBreakerState {
				found["state"] = true
			}
		}
	}
	if !found["success"] || !found["failure"] || !found["state"] {
		t.Errorf("global SDK got %v, want one success, one failure and the state gauge", found)
	}
}

// TestGaugeCollectionDeliversNoHooks: reading the state gauge does not move
// an open breaker whose time is up to half-open, so no state-change hook
// runs inside the SDK's collection (which holds the SDK's lock: a hook that
// builds a policy on the same provider, as a keyed factory does, would
// deadlock). The gauge still reports half-open, what State would say; the
// transition is delivered by the next call or State.
func TestGaugeCollectionDeliversNoHooks(t *testing.T) {
	sdk := observetest.New(t)
	var transitions []string
	cfg := breaker.Config{
		Name:                "tb",
		ConsecutiveFailures: 1,
		OpenFor:             time.Nanosecond, // over by the time anything reads it
		Telemetry:           sdk.Settings(telKey),
		OnStateChange: func(_ string, from, to breaker.State) {
			transitions = append(transitions, from.String()+"→"+to.String())
			if to == breaker.StateHalfOpen {
				// Build a policy on the same provider, as a keyed
				// factory would.
				_ = mustNew(t, breaker.Config{Name: "tb-sibling", Telemetry: sdk.Settings("sibling")})
			}
		},
	}
	b := mustNew(t, cfg)
	_ = b.Do(context.Background(), fail) // opens; OpenFor is over at once
	var gauge observetest.Point
	within(t, 5*time.Second, func() {
		gauge, _ = observetest.Find(sdk.Collect(t)[observe.MetricBreakerState], attrs())
	})
	if gauge.Value != 1 {
		t.Errorf("gauge: got %v, want 1 (half-open, as State would report)", gauge.Value)
	}
	if want := []string{"closed→open"}; !slices.Equal(transitions, want) {
		t.Errorf("transitions after the collection: got %q, want %q", transitions, want)
	}
	wantState(t, b, breaker.StateHalfOpen)
	if want := []string{"closed→open", "open→half-open"}; !slices.Equal(transitions, want) {
		t.Errorf("transitions after State: got %q, want %q", transitions, want)
	}
}
