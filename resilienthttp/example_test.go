package resilienthttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// A dependency that fails twice with 503 before it answers: the client
// retries and gets the answer.
func Example() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "in stock")
	}))
	defer srv.Close()

	// NoDelay keeps the example quick; keep the default backoff in real code.
	retries, err := retry.New(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
	if err != nil {
		panic(err)
	}
	perAttempt, err := timeout.New(timeout.Config{Name: "attempt", Duration: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: resilienthttp.NewTransport(nil, resilience.Chain(retries, perAttempt))}

	resp, err := client.Get(srv.URL + "/items/42")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", calls.Load(), "attempts")
	// Output: 200 in stock after 3 attempts
}

// A client error is the caller's problem, not the dependency's: it is
// returned at once, not retried, and a breaker does not count it.
func Example_clientError() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()

	retries, err := retry.New(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: resilienthttp.NewTransport(nil, retries)}

	resp, err := client.Get(srv.URL + "/items/nope")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", calls.Load(), "attempt")
	// Output: 404 after 1 attempt
}

// Retries exhausted: the caller gets the last response, with a nil error,
// as from any http.RoundTripper; the policy saw a *StatusError.
func Example_retriesExhausted() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	retries, err := retry.New(retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay})
	if err != nil {
		panic(err)
	}
	var policyErr error
	see := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		policyErr = retries.Do(ctx, op)
		return policyErr
	})
	client := &http.Client{Transport: resilienthttp.NewTransport(nil, see)}

	resp, err := client.Get(srv.URL + "/status?token=secret")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %q, error %v\n", resp.StatusCode, strings.TrimSpace(string(body)), err)
	var se *resilienthttp.StatusError
	if errors.As(policyErr, &se) {
		fmt.Println("the policy saw:", strings.Replace(se.Error(), srv.URL, "http://server", 1))
	}
	// Output:
	// 503 "down for maintenance", error <nil>
	// the policy saw: resilienthttp: GET http://server/status: 503 Service Unavailable
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"120", "Sun, 01 Mar 2026 12:00:30 GMT", "Sun, 01 Mar 2026 11:00:00 GMT", "99999999999999999999", "1.5", "-1"} {
		d, ok := resilienthttp.ParseRetryAfter(http.Header{"Retry-After": {v}}, now)
		fmt.Printf("%-30q %v %v\n", v, d, ok)
	}
	// Output:
	// "120"                          2m0s true
	// "Sun, 01 Mar 2026 12:00:30 GMT" 30s true
	// "Sun, 01 Mar 2026 11:00:00 GMT" 0s true
	// "99999999999999999999"         24h0m0s true
	// "1.5"                          0s false
	// "-1"                           0s false
}

// Per-host policies (package keyed) find the request's host in their
// context: WithContextKey says how to put it there.
func ExampleWithContextKey() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	showKey := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		key, _ := keyed.KeyFrom(ctx)
		fmt.Println("key:", strings.Replace(key, strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1:port", 1))
		return op(ctx)
	})
	client := &http.Client{Transport: resilienthttp.NewTransport(nil, showKey, resilienthttp.WithContextKey(keyed.WithKey))}

	resp, err := client.Get(srv.URL + "/search?q=secret")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output: key: 127.0.0.1:port
}

// The standard transport: the recommended chain with production defaults,
// per host. A host that keeps failing has its breaker opened after 10
// failures in a row; from then on a request to it fails at once, without reaching
// it, while other hosts are served as usual.
func ExampleNewStandardTransport() {
	var downCalls atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downCalls.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "in stock")
	}))
	defer up.Close()

	transport, err := resilienthttp.NewStandardTransport(nil)
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: transport}

	for {
		resp, err := client.Get(down.URL + "/prices/42")
		if err != nil {
			before := downCalls.Load()
			fmt.Println("down host: breaker opened after", before, "server calls")
			_, err = client.Get(down.URL + "/prices/42")
			fmt.Println("down host: breaker open:", errors.Is(err, breaker.ErrOpen), "- server called:", downCalls.Load() != before)
			break
		}
		resp.Body.Close() // a 503, while the breaker counts
	}
	resp, err := client.Get(up.URL + "/items/42")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println("other host:", resp.StatusCode, string(body))
	// Output:
	// down host: breaker opened after 10 server calls
	// down host: breaker open: true - server called: false
	// other host: 200 in stock
}

// Options change each part of the standard chain. Here retries start at
// once, without a budget, so that the example shows two of them right
// away: a host's new budget gives one retry at once, the next after about
// ten requests or a second. Keep the budget in real code.
func ExampleNewStandardTransport_options() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "in stock")
	}))
	defer srv.Close()

	transport, err := resilienthttp.NewStandardTransport(nil,
		resilienthttp.WithOverallTimeout(5*time.Second),
		resilienthttp.WithAttemptTimeout(time.Second),
		resilienthttp.WithRetry(retry.Config{MaxAttempts: 4, InitialDelay: retry.NoDelay}),
		resilienthttp.WithoutBudget(),
		resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 5}),
		resilienthttp.WithBulkhead(bulkhead.Config{MaxConcurrent: 16}),
		resilienthttp.WithMaxHosts(64),
	)
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: transport}

	resp, err := client.Get(srv.URL + "/items/42")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", calls.Load(), "attempts")

	_, err = resilienthttp.NewStandardTransport(nil, resilienthttp.WithAttemptTimeout(-time.Second))
	fmt.Println(err)
	// Output:
	// 200 in stock after 3 attempts
	// resilienthttp: WithAttemptTimeout(-1s): the timeout must be positive (WithoutAttemptTimeout turns it off)
}

// Transport.Hosts reaches each host's breaker and bulkhead, for a status
// page.
func ExampleTransport_Hosts() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	transport, err := resilienthttp.NewStandardTransport(nil)
	if err != nil {
		panic(err)
	}
	resp, err := (&http.Client{Transport: transport}).Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	transport.Hosts().Range(func(host string, p resilience.Policy) bool {
		h := p.(*resilienthttp.HostPolicy)
		fmt.Println(strings.Replace(host, strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1:port", 1),
			"breaker", h.Breaker.State(), "in flight", h.Bulkhead.InFlight(), "of", h.Bulkhead.MaxConcurrent(),
			"retry budget", h.Budget.State().Available)
		return true
	})
	// Output:
	// 127.0.0.1:port breaker closed in flight 0 of 100 retry budget 1.1
}
