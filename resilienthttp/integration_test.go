package resilienthttp_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
)

func newRetryBreaker(t *testing.T) (*breaker.Breaker, resilience.Policy) {
	t.Helper()
	r, err := retry.New(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
	if err != nil {
		t.Fatal(err)
	}
	br, err := breaker.New(breaker.Config{ConsecutiveFailures: 2, OpenFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return br, resilience.Chain(r, br)
}

// TestClientErrorsNeutralForBreaker: with the real retry and breaker, a 4xx
// is sent once per request and never opens the breaker.
func TestClientErrorsNeutralForBreaker(t *testing.T) {
	srv := newServer(t, statuses(404))
	br, p := newRetryBreaker(t)
	tr := resilienthttp.NewTransport(newHTTPTransport(t), p)
	for range 10 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != 404 {
			t.Fatalf("got %d, want 404", resp.StatusCode)
		}
	}
	if got := srv.requests.Load(); got != 10 {
		t.Errorf("server got %d requests, want 10 (no retries)", got)
	}
	if got := br.State(); got != breaker.StateClosed {
		t.Errorf("breaker %v, want closed", got)
	}
}

// TestBreakerOpensDuringRetries: the breaker opens after the second 503, so
// the third attempt is rejected: the caller gets the second response. The
// next request is rejected without a response.
func TestBreakerOpensDuringRetries(t *testing.T) {
	srv := newServer(t, statuses(503))
	br, p := newRetryBreaker(t)
	tr := resilienthttp.NewTransport(newHTTPTransport(t), p)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v, want the last response", err)
	}
	if got := readAll(t, resp); resp.StatusCode != 503 || got != "attempt 2" {
		t.Errorf("got %d %q, want 503 %q", resp.StatusCode, got, "attempt 2")
	}
	if got := br.State(); got != breaker.StateOpen {
		t.Fatalf("breaker %v, want open", got)
	}
	req, _ = http.NewRequest("GET", srv.URL, nil)
	resp, err = tr.RoundTrip(req)
	if resp != nil || !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, resilience.ErrRejected) {
		t.Errorf("got %v, %v; want no response and breaker.ErrOpen", resp, err)
	}
	if got := srv.requests.Load(); got != 2 {
		t.Errorf("server got %d requests, want 2", got)
	}
}

// TestHugeRetryAfterStopsRetries: a Retry-After beyond int64 seconds is
// clamped, so the retry sees a delay above its MaxRetryAfter and stops: it
// never turns into "retry now".
func TestHugeRetryAfterStopsRetries(t *testing.T) {
	for _, v := range []string{"99999999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "86401"} {
		srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", v)
			w.WriteHeader(503)
		})
		r, err := retry.New(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
		if err != nil {
			t.Fatal(err)
		}
		tr := resilienthttp.NewTransport(newHTTPTransport(t), r)
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if got := srv.requests.Load(); got != 1 {
			t.Errorf("Retry-After %q: server got %d requests, want 1", v, got)
		}
	}
}
