package bench_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fsbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/cascadeguard/resilience/resilienthttp"
)

// HTTP on loopback: the cost of each client's resilience layer over a plain
// http.Client, all sending GET requests to a local server that answers 200
// with a short body. Every contender gets an http.Transport of its own, with
// keep-alive and enough idle connections per host for the parallel runs, so
// that no contender reuses another's connections and none of them dials
// after warm-up. Every body is read to the end and closed.
//
// The configurations mirror our standard transport's defaults
// (resilienthttp.NewStandardTransport):
//
//   - ours: NewStandardTransport with its defaults: 30 s overall, retry (3
//     attempts, budget), breaker per host, bulkhead of 100 per host, 10 s per
//     attempt.
//   - failsafe: failsafehttp.NewRoundTripper with the same chain, outermost
//     first: timeout 30 s, failsafehttp's retry policy (3 attempts, backoff
//     100 ms ×2 up to 5 s, full jitter, Retry-After honoured), a breaker
//     counting 5xx, 429, 408 and errors as failures (10 in a row, open 0.5 s
//     ±10 %: failsafe-go takes one threshold rule, ours has a second one,
//     50 % of ≥ 20 in 10 s), a bulkhead of 100 without wait, timeout 10 s.
//     failsafe-go has no per-host policies: one set serves the one host.
//   - retryablehttp: hashicorp/go-retryablehttp's StandardClient, RetryMax 2
//     (3 attempts), its default backoff, logging off. It has no breaker,
//     bulkhead or timeout of its own.

// httpTransport returns a fresh keep-alive transport for one contender.
func httpTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
}

// An httpContender builds a client that sends through tr.
type httpContender struct {
	name  string
	build func(tb testing.TB, tr *http.Transport) *http.Client
}

func failsafeHTTPPolicies() []failsafe.Policy[*http.Response] {
	isFailure := func(r *http.Response, err error) bool {
		if err != nil {
			return true
		}
		return r.StatusCode >= 500 && r.StatusCode != http.StatusNotImplemented && r.StatusCode != http.StatusHTTPVersionNotSupported ||
			r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusRequestTimeout
	}
	retry := failsafehttp.NewRetryPolicyBuilder().
		WithMaxAttempts(maxAttempts).
		WithBackoffFactor(initialDelay, maxDelay, multiplier).
		WithJitterFactor(1).
		AbortOnErrors(fsbreaker.ErrOpen, fsbulkhead.ErrFull).
		Build()
	cb := fsbreaker.NewBuilder[*http.Response]().
		HandleIf(isFailure).
		WithFailureThreshold(resilienthttp.DefaultBreakerConsecutiveFailures).
		WithDelay(resilienthttp.DefaultBreakerOpenFor).
		WithJitterFactor(0.1).
		WithSuccessThreshold(1).
		Build()
	return []failsafe.Policy[*http.Response]{
		fstimeout.New[*http.Response](resilienthttp.DefaultOverallTimeout),
		retry,
		cb,
		fsbulkhead.New[*http.Response](resilienthttp.DefaultMaxInFlightPerHost),
		fstimeout.New[*http.Response](resilienthttp.DefaultAttemptTimeout),
	}
}

func httpContenders() []httpContender {
	return []httpContender{
		{name: "plain", build: func(_ testing.TB, tr *http.Transport) *http.Client {
			return &http.Client{Transport: tr}
		}},
		// plain-timeout: what most production code has instead, a client
		// with an overall timeout (ours' default, 30 s), which gives every
		// request a context with a deadline, as ours does.
		{name: "plain-timeout", build: func(_ testing.TB, tr *http.Transport) *http.Client {
			return &http.Client{Transport: tr, Timeout: resilienthttp.DefaultOverallTimeout}
		}},
		{name: "ours", build: func(tb testing.TB, tr *http.Transport) *http.Client {
			t, err := resilienthttp.NewStandardTransport(tr)
			if err != nil {
				tb.Fatal(err)
			}
			return &http.Client{Transport: t}
		}},
		{name: "failsafe", build: func(_ testing.TB, tr *http.Transport) *http.Client {
			return &http.Client{Transport: failsafehttp.NewRoundTripper(tr, failsafeHTTPPolicies()...)}
		}},
		{name: "retryablehttp", build: func(_ testing.TB, tr *http.Transport) *http.Client {
			c := retryablehttp.NewClient()
			c.HTTPClient = &http.Client{Transport: tr}
			c.Logger = nil
			c.RetryMax = maxAttempts - 1
			return c.StandardClient()
		}},
	}
}

var httpBody = []byte("ok\n")

// httpServer starts a loopback server that answers every request with 200
// and httpBody, and counts the connections it accepted.
func httpServer(tb testing.TB) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(httpBody)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv, &conns
}

// httpGet sends one GET and reads and closes the body. It returns an error
// unless the answer is 200 with httpBody.
func httpGet(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != int64(len(httpBody)) {
		return fmt.Errorf("got %d with %d bytes, want 200 with %d", resp.StatusCode, n, len(httpBody))
	}
	return nil
}

// BenchmarkHTTP: one GET on loopback per op, serial and parallel, per
// contender. Target: ours ≤ 1.03× plain.
func BenchmarkHTTP(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			for _, c := range httpContenders() {
				b.Run(c.name, func(b *testing.B) {
					srv, _ := httpServer(b)
					tr := httpTransport()
					defer tr.CloseIdleConnections()
					client := c.build(b, tr)
					req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
					if err != nil {
						b.Fatal(err)
					}
					// Warm up: open the connections outside the clock.
					if err := httpGet(client, req); err != nil {
						b.Fatal(err)
					}
					if mode == "serial" {
						benchHTTPSerial(b, client, req)
					} else {
						benchHTTPParallel(b, client, req)
					}
				})
			}
		})
	}
}

func benchHTTPSerial(b *testing.B, c *http.Client, req *http.Request) {
	bad := 0
	var first error
	b.ReportAllocs()
	for b.Loop() {
		if err := httpGet(c, req); err != nil {
			if bad == 0 {
				first = err
			}
			bad++
		}
	}
	if bad > 0 {
		b.Errorf("%d of %d requests failed; first: %v", bad, b.N, first)
	}
}

func benchHTTPParallel(b *testing.B, c *http.Client, req *http.Request) {
	var bad atomic.Int64
	var first atomic.Pointer[error]
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := httpGet(c, req); err != nil {
				first.CompareAndSwap(nil, &err)
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Errorf("%d of %d requests failed; first: %v", n, b.N, *first.Load())
	}
}

// TestHTTPContendersGet200 checks that every HTTP contender gets the
// server's 200 and body, reusing its connection.
func TestHTTPContendersGet200(t *testing.T) {
	for _, c := range httpContenders() {
		t.Run(c.name, func(t *testing.T) {
			srv, conns := httpServer(t)
			tr := httpTransport()
			defer tr.CloseIdleConnections()
			client := c.build(t, tr)
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := httpGet(client, req); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if got := conns.Load(); got != 1 {
				t.Errorf("got %d connections for 3 serial requests, want 1 (keep-alive)", got)
			}
		})
	}
}
