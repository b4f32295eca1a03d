package resilienthttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// failingTelemetryTransport returns a standard transport to a server that
// always answers 503, with sdk's settings, retries at once (3 attempts, no
// budget) and a breaker that opens after 2 consecutive failures, and the
// server's host and the policies' name.
//
// The name is new at every call: the attribute values are capped per
// process (observe.MaxKeysPerName hosts under one policy name), and the
// package's other tests use many hosts under the default name, so that a
// run with -count=3 would report this transport's host as "_other".
func failingTelemetryTransport(t *testing.T, s telemetry.Settings) (*resilienthttp.Transport, *server, string, string) {
	t.Helper()
	name := fmt.Sprintf("resilienthttp-telemetry-%d", telemetryNames.Add(1))
	srv := newServer(t, statuses(http.StatusServiceUnavailable))
	tr := newStandard(t, newHTTPTransport(t),
		resilienthttp.WithTelemetry(s),
		resilienthttp.WithRetry(retry.Config{Name: name, MaxAttempts: 3, InitialDelay: retry.NoDelay}),
		resilienthttp.WithoutBudget(),
		resilienthttp.WithBreaker(breaker.Config{Name: name, ConsecutiveFailures: 2}),
		resilienthttp.WithBulkhead(bulkhead.Config{Name: name}))
	return tr, srv, strings.TrimPrefix(srv.URL, "http://"), name
}

var telemetryNames atomic.Int64

// send sends two GETs to url with ctx through tr: the first makes two
// failed attempts, opens the breaker and is refused its third; the second
// is refused at once.
func send(t *testing.T, ctx context.Context, tr http.RoundTripper, url string) {
	t.Helper()
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// TestWithTelemetryProvider: every policy of the standard transport
// reports to the MeterProvider given by WithTelemetry, with the host as the
// key of the per-host policies, and the logger gets the breaker's
// transition.
func TestWithTelemetryProvider(t *testing.T) {
	sdk := observetest.New(t)
	tr, srv, host, name := failingTelemetryTransport(t, sdk.Settings(""))
	send(t, context.Background(), tr, srv.URL+"/x")

	got := sdk.Collect(t)
	for _, tc := range []struct {
		metric string
		want   map[string]string
	}{
		// Each request ends with the breaker's rejection: neutral for the
		// retry and the overall timeout around it.
		{observe.MetricCalls, map[string]string{observe.AttrKind: "retry", observe.AttrName: name, observe.AttrOutcome: "neutral"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "breaker", observe.AttrKey: host, observe.AttrOutcome: "failure"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "breaker", observe.AttrKey: host, observe.AttrOutcome: "rejected"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "bulkhead", observe.AttrKey: host, observe.AttrOutcome: "failure"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "timeout", observe.AttrName: "overall", observe.AttrOutcome: "neutral"}},
		{observe.MetricCalls, map[string]string{observe.AttrKind: "timeout", observe.AttrName: "attempt", observe.AttrOutcome: "failure"}},
		{observe.MetricRetryAttempts, map[string]string{observe.AttrKind: "retry", observe.AttrRetryReason: "error"}},
		{observe.MetricBreakerState, map[string]string{observe.AttrKind: "breaker", observe.AttrKey: host}},
		{observe.MetricBreakerTransitions, map[string]string{observe.AttrKey: host, observe.AttrState: "open"}},
		{observe.MetricBulkheadInFlight, map[string]string{observe.AttrKind: "bulkhead", observe.AttrKey: host}},
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
	tr, srv, _, _ := failingTelemetryTransport(t, s)
	ctx, end := sdk.Span(context.Background())
	send(t, ctx, tr, srv.URL+"/x")
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

// TestTelemetryNoSecrets: a request to a URL with user information, a path
// and a query, through the standard transport with retries, an opening
// breaker and rejections, leaves none of them in any metric attribute, span
// event attribute or log field; the host is there, and the span events of
// the shared retry name it.
func TestTelemetryNoSecrets(t *testing.T) {
	sdk := observetest.New(t)
	tr, srv, host, _ := failingTelemetryTransport(t, sdk.Settings(""))
	ctx, end := sdk.Span(context.Background())
	send(t, ctx, tr, "http://user:pw@"+host+"/p?token=secret")
	events := end()
	if srv.requests.Load() == 0 {
		t.Fatal("the server got no request")
	}

	names := map[string]int{}
	for _, e := range events {
		names[e.Name]++
		if got := e.Attrs[observe.AttrKey]; got != host {
			t.Errorf("event %s: %s = %q, want %q", e.Name, observe.AttrKey, got, host)
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
	if !slices.Contains(values, host) {
		t.Errorf("values: got %q, want the host %q among them", values, host)
	}
	for _, v := range values {
		for _, secret := range []string{"secret", "token", "user", "pw", "/p"} {
			if strings.Contains(v, secret) {
				t.Errorf("value %q contains %q", v, secret)
			}
		}
	}
}

// TestStandardTimeoutTelemetry: the built-in timeouts record what
// timeout.Timeout policies named "attempt" and "overall" would: outcome
// timeout when their own deadline ends an attempt or the request, neutral
// for an attempt that the overall deadline ended, success otherwise; and a
// resilience.timeout span event, with the host, for each timeout that fired.
func TestStandardTimeoutTelemetry(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int // 0: hang
		want       map[[2]string]float64
		wantEvents int
	}{{
		name:     "attempts and overall time out",
		statuses: []int{0},
		want: map[[2]string]float64{
			{"attempt", "timeout"}: 2, {"attempt", "neutral"}: 1,
			{"overall", "timeout"}: 1,
		},
		wantEvents: 3,
	}, {
		name:     "attempt timeout retried",
		statuses: []int{0, 200},
		want: map[[2]string]float64{
			{"attempt", "timeout"}: 1, {"attempt", "success"}: 1,
			{"overall", "success"}: 1,
		},
		wantEvents: 1,
	}, {
		name:       "success",
		statuses:   []int{200},
		want:       map[[2]string]float64{{"attempt", "success"}: 1, {"overall", "success"}: 1},
		wantEvents: 0,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				next := &hangUntilDone{statuses: tc.statuses, start: time.Now()}
				tr := newStandard(t, next, append(quickRetries(5),
					resilienthttp.WithTelemetry(sdk.Settings("")),
					resilienthttp.WithOverallTimeout(30*time.Second), resilienthttp.WithAttemptTimeout(10*time.Second))...)
				ctx, end := sdk.Span(context.Background())
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:1/x", nil)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
				}
				events := end()

				calls := sdk.Collect(t)[observe.MetricCalls]
				for k, want := range tc.want {
					p, _ := observetest.Find(calls, map[string]string{observe.AttrKind: "timeout", observe.AttrName: k[0], observe.AttrOutcome: k[1]})
					if p.Value != want {
						t.Errorf("calls of %s with outcome %s: got %v, want %v", k[0], k[1], p.Value, want)
					}
				}
				n := 0
				for _, e := range events {
					if e.Name != observe.EventTimeout {
						continue
					}
					n++
					if e.Attrs[observe.AttrKey] != "127.0.0.1:1" || e.Attrs[observe.AttrKind] != "timeout" {
						t.Errorf("timeout event: got %v, want kind timeout and key 127.0.0.1:1", e.Attrs)
					}
				}
				if n != tc.wantEvents {
					t.Errorf("resilience.timeout events: got %d, want %d (%v)", n, tc.wantEvents, events)
				}
			})
		})
	}
}

// TestStandardStatusPage: the status handler over Transport.Hosts() and the
// Transport shows each host's breaker state.
func TestStandardStatusPage(t *testing.T) {
	srv := newServer(t, statuses(http.StatusServiceUnavailable))
	host := strings.TrimPrefix(srv.URL, "http://")
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithoutRetry(),
		resilienthttp.WithTelemetry(telemetry.Settings{Disabled: true}),
		resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	resp, err := mustGet(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var reg telemetry.Registry
	if err := reg.Register("api-hosts", tr.Hosts()); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("api", tr); err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(telemetry.StatusHandler(&reg))
	defer page.Close()
	client := &http.Client{Transport: newHTTPTransport(t)}
	res, err := client.Get(page.URL + "?format=json")
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
			if in.Kind == "chain" && in.Key == host {
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
		case "api-hosts":
			got = state(e.Status)
		case "api":
			if e.Status.Kind != "resilienthttp" {
				t.Errorf("api: kind %q, want resilienthttp", e.Status.Kind)
			}
			for _, in := range e.Status.Instances {
				if in.Kind == "keyed" {
					got = state(in)
				}
			}
		default:
			t.Errorf("unexpected entry %q", e.Name)
			continue
		}
		if got != telemetry.StateOpen {
			t.Errorf("%s: breaker state of %s: got %q, want open\n%s", e.Name, host, got, body)
		}
	}
	if len(doc.Policies) != 2 {
		t.Errorf("entries: got %d, want 2\n%s", len(doc.Policies), body)
	}
}

// TestStandardStatus: the Transport's own status lists its timeouts and
// its hosts; a HostPolicy lists its retry (with its budget), breaker and
// bulkhead.
func TestStandardStatus(t *testing.T) {
	shared := mustBudget(t)
	tests := []struct {
		name      string
		opts      []resilienthttp.StandardOption
		wantKinds []string
		wantHost  []string // kinds in the host's chain
	}{
		{"defaults", nil, []string{"timeout", "timeout", "keyed"}, []string{"retry", "breaker", "bulkhead"}},
		{"no breaker", []resilienthttp.StandardOption{resilienthttp.WithoutBreaker(), resilienthttp.WithoutOverallTimeout()},
			[]string{"timeout", "keyed"}, []string{"retry", "bulkhead"}},
		{"shared budget", []resilienthttp.StandardOption{resilienthttp.WithBudget(shared)},
			[]string{"timeout", "timeout", "keyed"}, []string{"retry", "breaker", "bulkhead"}},
		{"retry alone", []resilienthttp.StandardOption{resilienthttp.WithoutBreaker(), resilienthttp.WithoutBulkhead(), resilienthttp.WithoutBudget()},
			[]string{"timeout", "timeout", "keyed"}, []string{"retry"}},
		{"policies off", []resilienthttp.StandardOption{resilienthttp.WithoutRetry(), resilienthttp.WithoutBreaker(), resilienthttp.WithoutBulkhead()},
			[]string{"timeout", "timeout"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newStandard(t, memoryTransport{}, tc.opts...)
			req, _ := http.NewRequest("GET", "http://u:p@127.0.0.1:9/p?q=1", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			st := tr.Status()
			var kinds []string
			for _, in := range st.Instances {
				kinds = append(kinds, in.Kind)
				if in.Kind != "keyed" {
					continue
				}
				if len(in.Instances) != 1 {
					t.Fatalf("hosts: got %+v, want one", in.Instances)
				}
				h := in.Instances[0]
				if h.Kind != "chain" || h.Key != "127.0.0.1:9" {
					t.Errorf("host: got kind %q key %q, want chain 127.0.0.1:9", h.Kind, h.Key)
				}
				var hk []string
				for _, p := range h.Instances {
					hk = append(hk, p.Kind)
					wantBudget := tc.name != "retry alone"
					if p.Kind == "retry" && (p.Key != "127.0.0.1:9" || p.Retry == nil || (p.Retry.Budget != nil) != wantBudget || p.Retry.MaxAttempts != retry.DefaultMaxAttempts) {
						t.Errorf("host's retry status %+v: want the host's key, the retry's attempts and a budget %v", p, wantBudget)
					}
				}
				if !slices.Equal(hk, tc.wantHost) {
					t.Errorf("host's policies: got %v, want %v", hk, tc.wantHost)
				}
			}
			if st.Kind != "resilienthttp" || !slices.Equal(kinds, tc.wantKinds) {
				t.Errorf("status: got kind %q with %v, want resilienthttp with %v", st.Kind, kinds, tc.wantKinds)
			}
		})
	}
	var zero resilienthttp.HostPolicy
	if st := zero.Status(); st.Kind != "chain" || len(st.Instances) != 0 {
		t.Errorf("zero HostPolicy: got %+v, want an empty chain", st)
	}
	if st := resilienthttp.NewTransport(nil, nil).Status(); len(st.Instances) != 0 {
		t.Errorf("NewTransport(nil, nil): got %+v, want no instances", st)
	}
}

// TestStandardBudgetTelemetryNamesTheHost: each host's retry has its own
// budget, and the budget's refusals (metric) and its running out (log) are
// keyed by the host: an operator sees whose budget ran out.
func TestStandardBudgetTelemetryNamesTheHost(t *testing.T) {
	sdk := observetest.New(t)
	down := newServer(t, statuses(503))
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBreaker(),
		resilienthttp.WithRetry(retry.Config{Name: "budget-telemetry", InitialDelay: retry.NoDelay}),
		resilienthttp.WithTelemetry(sdk.Settings("")))
	for range 3 {
		resp, err := mustGet(t, tr, down.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	host := strings.TrimPrefix(down.URL, "http://")
	var refused float64
	for _, p := range sdk.Collect(t)[observe.MetricRetryBudgetRejections] {
		if p.Attrs[observe.AttrKey] != host {
			t.Errorf("%s with key %q, want the host %s", observe.MetricRetryBudgetRejections, p.Attrs[observe.AttrKey], host)
		}
		refused += p.Value
	}
	if refused == 0 {
		t.Errorf("no %s recorded: the budget refused no retry", observe.MetricRetryBudgetRejections)
	}
	found := false
	for _, line := range sdk.Logs() {
		if strings.Contains(line, observe.MsgBudgetExhausted) {
			found = true
			if !strings.Contains(line, host) {
				t.Errorf("budget log without the host %s: %s", host, line)
			}
		}
	}
	if !found {
		t.Errorf("no %q log; logs: %q", observe.MsgBudgetExhausted, sdk.Logs())
	}
}
