package resilientgrpc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

const checkMethod = "/grpc.health.v1.Health/Check"

// failingTelemetryClient returns a Health client through a standard preset
// with settings s, retries at once (3 attempts, no budget) and a breaker
// that opens after 2 consecutive failures, to a server whose Check always
// fails with Unavailable and an error text that holds a secret.
func failingTelemetryClient(t *testing.T, s telemetry.Settings) (healthpb.HealthClient, *resilientgrpc.Standard) {
	t.Helper()
	h := &healthServer{check: func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "token=secret")
	}}
	std := newStandard(t,
		resilientgrpc.WithTelemetry(s),
		resilientgrpc.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay}),
		resilientgrpc.WithoutBudget(),
		resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 2}))
	return healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...)), std
}

// check makes two Check calls with ctx: the first makes two failed
// attempts, opens the breaker and is refused its third; the second is
// refused at once. The calls carry metadata with secrets.
func check(ctx context.Context, client healthpb.HealthClient) {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer token-secret", "x-user", "user:pw")
	for range 2 {
		_, _ = client.Check(ctx, &healthpb.HealthCheckRequest{})
	}
}

// TestWithTelemetryProvider: every policy of the preset reports to the
// MeterProvider given by WithTelemetry, with the method as the key of the
// per-key policies, and the logger gets the breaker's transition.
func TestWithTelemetryProvider(t *testing.T) {
	sdk := observetest.New(t)
	client, _ := failingTelemetryClient(t, sdk.Settings(""))
	check(context.Background(), client)

	got := sdk.Collect(t)
	for _, tc := range []struct {
		metric string
		want   map[string]string
	}{
		// Each call ends with the breaker's rejection: neutral for the
		// retry and the overall timeout around it.
		{observe.MetricCalls, map[string]string{observe.AttrKind: "retry", observe.AttrName: "resilientgrpc", observe.AttrOutcome: "neutral"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "breaker", observe.AttrKey: checkMethod, observe.AttrOutcome: "failure"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "breaker", observe.AttrKey: checkMethod, observe.AttrOutcome: "rejected"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "bulkhead", observe.AttrKey: checkMethod, observe.AttrOutcome: "failure"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "timeout", observe.AttrName: "overall", observe.AttrOutcome: "neutral"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "timeout", observe.AttrName: "attempt", observe.AttrOutcome: "failure"}},
		{observe.MetricRetryAttempts, map[string]string{observe.AttrKind: "retry", observe.AttrRetryReason: "error"}},
		{observe.MetricBreakerState, map[string]string{observe.AttrKind: "breaker", observe.AttrKey: checkMethod}},
		{observe.MetricBreakerTransitions, map[string]string{observe.AttrKey: checkMethod, observe.AttrState: "open"}},
	} {
		if _, ok := observetest.Find(got[tc.metric], tc.want); !ok {
			t.Errorf("%s %v: not found; got %v", tc.metric, tc.want, got[tc.metric])
		}
	}
	if p, _ := observetest.Find(got[observe.MetricCalls], map[string]string{observe.AttrName: "attempt", observe.AttrOutcome: "failure"}); p.Value != 2 {
		t.Errorf("attempt timeout's failed attempts: got %v, want 2", p.Value)
	}
	if logs := sdk.Logs(); !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "breaker state changed") }) {
		t.Errorf("logs: got %q, want the breaker's transition", logs)
	}
}

// TestWithTelemetryDisabled: Disabled turns every policy's telemetry off,
// metrics, span events and logs, even with a provider and a logger.
func TestWithTelemetryDisabled(t *testing.T) {
	sdk := observetest.New(t)
	s := sdk.Settings("")
	s.Disabled = true
	client, _ := failingTelemetryClient(t, s)
	ctx, end := sdk.Span(context.Background())
	check(ctx, client)
	if events := end(); len(events) != 0 {
		t.Errorf("span events: got %v, want none", events)
	}
	for name, pts := range sdk.Collect(t) {
		if len(pts) > 0 {
			t.Errorf("metric %s: got %v, want nothing", name, pts)
		}
	}
	if logs := sdk.Logs(); len(logs) != 0 {
		t.Errorf("logs: got %q, want none", logs)
	}
}

// TestTelemetryNoSecrets: calls with metadata values that hold secrets,
// failing with an error text that holds one, through the preset with
// retries, an opening breaker and rejections, leave none of them in any
// metric attribute, span event attribute or log field; the method is there,
// and the span events of the shared retry name it.
func TestTelemetryNoSecrets(t *testing.T) {
	sdk := observetest.New(t)
	client, _ := failingTelemetryClient(t, sdk.Settings(""))
	ctx, end := sdk.Span(context.Background())
	check(ctx, client)
	events := end()

	names := map[string]int{}
	for _, e := range events {
		names[e.Name]++
		if got := e.Attrs[observe.AttrKey]; got != checkMethod {
			t.Errorf("event %s: %s = %q, want %q", e.Name, observe.AttrKey, got, checkMethod)
		}
	}
	for _, want := range []string{observe.EventRetryScheduled, observe.EventBreakerRejected} {
		if names[want] == 0 {
			t.Errorf("span events: got %v, want %s", names, want)
		}
	}
	if len(sdk.Logs()) == 0 {
		t.Error("logs: got none, want the breaker's transition")
	}
	values := sdk.Values(t, events)
	if !slices.Contains(values, checkMethod) {
		t.Errorf("values: got %q, want the method %q among them", values, checkMethod)
	}
	for _, v := range values {
		for _, secret := range []string{"secret", "token", "Bearer", "user", "pw", "authorization"} {
			if strings.Contains(v, secret) {
				t.Errorf("value %q contains %q", v, secret)
			}
		}
	}
}

// TestStandardTimeoutTelemetry: the built-in timeouts record what
// timeout.Timeout policies named "attempt" and "overall" would: outcome
// timeout when their own deadline ends an attempt or the call, neutral for
// an attempt that the overall deadline ended, success otherwise; and a
// resilience.timeout span event, with the method, for each timeout that
// fired.
func TestStandardTimeoutTelemetry(t *testing.T) {
	tests := []struct {
		name       string
		hangs      int // attempts that hang before one succeeds; -1: all
		want       map[[2]string]float64
		wantEvents int
	}{
		{"attempts and overall time out", -1, map[[2]string]float64{
			{"attempt", "timeout"}: 2, {"attempt", "neutral"}: 1, {"overall", "timeout"}: 1,
		}, 3},
		{"attempt timeout retried", 1, map[[2]string]float64{
			{"attempt", "timeout"}: 1, {"attempt", "success"}: 1, {"overall", "success"}: 1,
		}, 1},
		{"success", 0, map[[2]string]float64{{"attempt", "success"}: 1, {"overall", "success"}: 1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				intercept := newStandard(t,
					resilientgrpc.WithTelemetry(sdk.Settings("")),
					resilientgrpc.WithOverallTimeout(time.Second),
					resilientgrpc.WithAttemptTimeout(400*time.Millisecond),
					resilientgrpc.WithRetry(retry.Config{MaxAttempts: 10, InitialDelay: retry.NoDelay}),
					resilientgrpc.WithoutBudget(),
					resilientgrpc.WithRetryableCodes(codes.Unavailable, codes.DeadlineExceeded),
				).UnaryClientInterceptor()
				n := 0
				invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
					n++
					if tc.hangs >= 0 && n > tc.hangs {
						return nil
					}
					<-ctx.Done()
					return status.FromContextError(ctx.Err()).Err()
				}
				ctx, end := sdk.Span(context.Background())
				_ = intercept(ctx, "/svc/Method", nil, nil, nil, invoker)
				events := end()

				calls := sdk.Collect(t)[observe.MetricCalls]
				for k, want := range tc.want {
					p, _ := observetest.Find(calls, map[string]string{observe.AttrKind: "timeout", observe.AttrName: k[0], observe.AttrOutcome: k[1]})
					if p.Value != want {
						t.Errorf("calls of %s with outcome %s: got %v, want %v", k[0], k[1], p.Value, want)
					}
				}
				got := 0
				for _, e := range events {
					if e.Name != observe.EventTimeout {
						continue
					}
					got++
					if e.Attrs[observe.AttrKey] != "/svc/Method" || e.Attrs[observe.AttrKind] != "timeout" {
						t.Errorf("timeout event: got %v, want kind timeout and key /svc/Method", e.Attrs)
					}
				}
				if got != tc.wantEvents {
					t.Errorf("resilience.timeout events: got %d, want %d (%v)", got, tc.wantEvents, events)
				}
			})
		})
	}
}

// TestStandardStatusPage: the status handler over Standard.Keys() and the
// Standard shows each method's breaker state.
func TestStandardStatusPage(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	std := newStandard(t, resilientgrpc.WithoutRetry(),
		resilientgrpc.WithTelemetry(telemetry.Settings{Disabled: true}),
		resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	_, _ = client.Check(context.Background(), &healthpb.HealthCheckRequest{})

	var reg telemetry.Registry
	if err := reg.Register("health-methods", std.Keys()); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("health", std); err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(telemetry.StatusHandler(&reg))
	defer page.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	res, err := hc.Get(page.URL + "?format=json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Policies []telemetry.Entry }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, body)
	}
	state := func(st telemetry.Status) string {
		for _, in := range st.Instances {
			if in.Kind == "chain" && in.Key == checkMethod {
				for _, p := range in.Instances {
					if p.Breaker != nil {
						return p.Breaker.State
					}
				}
			}
		}
		return ""
	}
	for _, e := range doc.Policies {
		var got string
		switch e.Name {
		case "health-methods":
			got = state(e.Status)
		case "health":
			if e.Status.Kind != "resilientgrpc" {
				t.Errorf("health: kind %q, want resilientgrpc", e.Status.Kind)
			}
			for _, in := range e.Status.Instances {
				if in.Kind == "keyed" && in.Name == "resilientgrpc" {
					got = state(in)
				}
			}
		default:
			t.Errorf("unexpected entry %q", e.Name)
			continue
		}
		if got != telemetry.StateOpen {
			t.Errorf("%s: breaker state of %s: got %q, want open\n%s", e.Name, checkMethod, got, body)
		}
	}
	if len(doc.Policies) != 2 {
		t.Errorf("entries: got %d, want 2\n%s", len(doc.Policies), body)
	}
}

// TestStandardStatus: the preset's own status lists its timeouts and its
// keys, unary and stream; a key lists its retry (with its budget), breaker
// and bulkhead.
func TestStandardStatus(t *testing.T) {
	tests := []struct {
		name      string
		opts      []resilientgrpc.StandardOption
		wantKinds []string
	}{
		{"defaults", nil, []string{"timeout", "timeout", "keyed", "keyed"}},
		{"no timeouts", []resilientgrpc.StandardOption{resilientgrpc.WithoutOverallTimeout(), resilientgrpc.WithoutAttemptTimeout()},
			[]string{"keyed", "keyed"}},
		{"policies off", []resilientgrpc.StandardOption{resilientgrpc.WithoutRetry(), resilientgrpc.WithoutBreaker(), resilientgrpc.WithoutBulkhead()},
			[]string{"timeout", "timeout"}},
		{"shared budget", []resilientgrpc.StandardOption{resilientgrpc.WithBudget(mustBudget(t))},
			[]string{"timeout", "timeout", "keyed", "keyed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			std := newStandard(t, tc.opts...)
			st := std.Status()
			var kinds []string
			for _, in := range st.Instances {
				kinds = append(kinds, in.Kind)
			}
			if st.Kind != "resilientgrpc" || !slices.Equal(kinds, tc.wantKinds) {
				t.Errorf("status: got kind %q with %v, want resilientgrpc with %v", st.Kind, kinds, tc.wantKinds)
			}
		})
	}
	std := newStandard(t)
	if _, err := std.Keys().Policy(checkMethod); err != nil {
		t.Fatal(err)
	}
	st := std.Keys().Status()
	if len(st.Instances) != 1 {
		t.Fatalf("keys: got %+v, want one", st.Instances)
	}
	k := st.Instances[0]
	var kinds []string
	for _, p := range k.Instances {
		kinds = append(kinds, p.Kind)
		if p.Kind == "retry" && (p.Key != checkMethod || p.Retry == nil || p.Retry.Budget == nil || p.Retry.MaxAttempts != retry.DefaultMaxAttempts) {
			t.Errorf("key's retry status %+v: want the key's budget and the retry's attempts", p)
		}
	}
	if k.Kind != "chain" || k.Key != checkMethod || !slices.Equal(kinds, []string{"retry", "breaker", "bulkhead"}) {
		t.Errorf("key status: got %q %q %v, want chain %s [retry breaker bulkhead]", k.Kind, k.Key, kinds, checkMethod)
	}
	var zero resilientgrpc.KeyPolicy
	if st := zero.Status(); st.Kind != "chain" || len(st.Instances) != 0 {
		t.Errorf("zero KeyPolicy: got %+v, want an empty chain", st)
	}
}
