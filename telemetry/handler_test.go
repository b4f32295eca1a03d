package telemetry_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience/telemetry"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func get(t *testing.T, h http.Handler, method, target, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func sampleRegistry(t *testing.T) *telemetry.Registry {
	t.Helper()
	reg := new(telemetry.Registry)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.Register("inventory", fixed{Kind: "breaker", Name: "inventory",
		Breaker: &telemetry.BreakerStatus{State: telemetry.StateOpen, Requests: 40, Failures: 25, ConsecutiveFailures: 5}}))
	must(reg.Register("inventory-bulkhead", fixed{Kind: "bulkhead", Name: "inventory",
		Bulkhead: &telemetry.BulkheadStatus{InFlight: 3, Queued: 1, MaxConcurrent: 10, MaxQueue: 5}}))
	must(reg.Register("hosts", fixed{Kind: "keyed", Name: "per-host", Instances: []telemetry.Status{
		{Kind: "breaker", Name: "per-host", Key: "a.example.com", Breaker: &telemetry.BreakerStatus{State: telemetry.StateHalfOpen}},
	}}))
	must(reg.Register("retry", fixed{Kind: "retry", Name: "retry",
		Retry: &telemetry.RetryStatus{MaxAttempts: 3, Budget: &telemetry.BudgetStatus{
			Available: 0, Ratio: 0.1, MinPerSecond: 1, Allowed: 40, Rejected: 7, Exhausted: true}}}))
	must(reg.Register("limit", fixed{Kind: "ratelimit", Name: "limit", RateLimit: &telemetry.RateLimitStatus{Limit: 100, Burst: 10, Tokens: 4.5}}))
	must(reg.Register("attempt", fixed{Kind: "timeout", Name: "attempt", Timeout: &telemetry.TimeoutStatus{Seconds: 2.5}}))
	return reg
}

func TestStatusHandlerJSON(t *testing.T) {
	h := telemetry.StatusHandler(sampleRegistry(t))
	for _, tc := range []struct{ target, accept string }{
		{"/status", ""},
		{"/status", "*/*"},
		{"/status", "application/json"},
		{"/status", "application/json, text/html"},
		{"/status?format=json", browserAccept},
	} {
		w := get(t, h, http.MethodGet, tc.target, tc.accept)
		if w.Code != http.StatusOK {
			t.Fatalf("%s Accept %q: status %d, want 200", tc.target, tc.accept, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s Accept %q: Content-Type %q, want application/json", tc.target, tc.accept, ct)
		}
		var doc struct {
			Policies []telemetry.Entry `json:"policies"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, w.Body)
		}
		var names []string
		for _, e := range doc.Policies {
			names = append(names, e.Name)
		}
		if got, want := strings.Join(names, ","), "attempt,hosts,inventory,inventory-bulkhead,limit,retry"; got != want {
			t.Errorf("entries: got %s, want %s", got, want)
		}
		if b := doc.Policies[2].Status.Breaker; b == nil || b.State != "open" || b.Failures != 25 {
			t.Errorf("breaker entry: got %+v, want open with 25 failures", doc.Policies[2].Status)
		}
		if in := doc.Policies[1].Status.Instances; len(in) != 1 || in[0].Key != "a.example.com" {
			t.Errorf("keyed entry: got %+v, want one instance a.example.com", doc.Policies[1].Status)
		}
	}
}

func TestStatusHandlerHTML(t *testing.T) {
	h := telemetry.StatusHandler(sampleRegistry(t))
	for _, tc := range []struct{ target, accept string }{
		{"/status", browserAccept},
		{"/status?format=html", "application/json"},
	} {
		w := get(t, h, http.MethodGet, tc.target, tc.accept)
		if w.Code != http.StatusOK {
			t.Fatalf("%s Accept %q: status %d", tc.target, tc.accept, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q, want text/html", ct)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy %q: want default-src 'none'", csp)
		}
		body := w.Body.String()
		for _, want := range []string{
			"<title>resilience status</title>",
			`<td class="open">open</td>`,
			"requests 40, successes 0, failures 25 (slow 0), neutral 0, consecutive failures 5",
			"in flight 3 of 10, queued 1 of 5",
			`<tr class="instance"><td>hosts</td><td>breaker</td><td>per-host</td><td>a.example.com</td><td class="half_open">half_open</td>`,
			"budget exhausted", "budget: 0.0 retries available (ratio 0.1, floor 1/s), 40 allowed, 7 refused",
			"limit 100/s, burst 10, tokens 4.5",
			"<td>2.5s</td>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("HTML page lacks %q:\n%s", want, body)
			}
		}
	}
}

func TestStatusHandlerEscapesEverything(t *testing.T) {
	const evilName = `<script>alert("name")</script>`
	const evilKey = `"><img src=x onerror=alert(1)>`
	reg := new(telemetry.Registry)
	if err := reg.Register(evilName, fixed{Kind: "breaker", Name: evilName, Key: evilKey,
		Breaker: &telemetry.BreakerStatus{State: `open" onmouseover="alert(2)`, Mode: "<b>"}}); err != nil {
		t.Fatal(err)
	}
	h := telemetry.StatusHandler(reg)
	html := get(t, h, http.MethodGet, "/?format=html", "").Body.String()
	for _, raw := range []string{"<script>", "<img", `" onmouseover="`, "<b>"} {
		if strings.Contains(html, raw) {
			t.Errorf("HTML page contains unescaped %q:\n%s", raw, html)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;") {
		t.Errorf("HTML page lacks the escaped name:\n%s", html)
	}
	js := get(t, h, http.MethodGet, "/", "").Body.String()
	if strings.Contains(js, "<script>") || strings.Contains(js, "<img") {
		t.Errorf("JSON contains unescaped markup:\n%s", js)
	}
}

func TestStatusHandlerIsReadOnly(t *testing.T) {
	h := telemetry.StatusHandler(sampleRegistry(t))
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		w := get(t, h, m, "/", "")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: got %d Allow %q, want 405 Allow \"GET, HEAD\"", m, w.Code, w.Header().Get("Allow"))
		}
	}
	w := get(t, h, http.MethodHead, "/", "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: got %d %q, want 200 application/json", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestStatusHandlerBadFormat(t *testing.T) {
	h := telemetry.StatusHandler(nil)
	w := get(t, h, http.MethodGet, "/?format="+strings.Repeat("x", 100), "")
	if w.Code != http.StatusBadRequest {
		t.Fatalf("unknown format: got %d, want 400", w.Code)
	}
	if body := w.Body.String(); !strings.Contains(body, "unknown format") || strings.Contains(body, strings.Repeat("x", 33)) {
		t.Errorf("400 body %q: want the error with the value capped at 32 bytes", body)
	}
}

func TestStatusHandlerNilRegistryServesEmptyList(t *testing.T) {
	w := get(t, telemetry.StatusHandler(nil), http.MethodGet, "/", "")
	if got := strings.TrimSpace(w.Body.String()); got != "{\n  \"policies\": []\n}" {
		t.Errorf("got %q, want an empty policies list", got)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v: want Cache-Control no-store and nosniff", w.Header())
	}
	html := get(t, telemetry.StatusHandler(nil), http.MethodGet, "/?format=html", "").Body.String()
	if !strings.Contains(html, "No policies registered.") {
		t.Errorf("empty HTML page lacks the empty notice:\n%s", html)
	}
}

func TestStatusHandlerUnencodableStatus(t *testing.T) {
	reg := new(telemetry.Registry)
	_ = reg.Register("nan", fixed{Kind: "ratelimit", Name: "nan", RateLimit: &telemetry.RateLimitStatus{Tokens: math.NaN()}})
	w := get(t, telemetry.StatusHandler(reg), http.MethodGet, "/", "")
	if w.Code != http.StatusInternalServerError {
		t.Errorf("NaN in a status: got %d, want 500", w.Code)
	}
}

// TestStatusHandlerOverHTTP runs the handler behind a real server, as a
// dashboard would reach it.
func TestStatusHandlerOverHTTP(t *testing.T) {
	srv := httptest.NewServer(telemetry.StatusHandler(sampleRegistry(t)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string][]map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if got := len(doc["policies"]); got != 6 {
		t.Errorf("policies over HTTP: got %d, want 6", got)
	}
}
