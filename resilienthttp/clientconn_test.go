package resilienthttp_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// TestClientConnRefusalsAreTheCallers: Go 1.26's http.ClientConn (one
// connection, made by Transport.NewClientConn) refuses a bad request in
// words of its own ("http: invalid header …", "http: invalid trailer …",
// "http: invalid method …"). Wrapped by the standard transport, such a
// refusal is the caller's fault: neutral, not retried, and the host's
// breaker stays closed while good requests go through.
func TestClientConnRefusalsAreTheCallers(t *testing.T) {
	srv := newServer(t, statuses(200))
	cc, err := newHTTPTransport(t).NewClientConn(context.Background(), "http", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	tr := newStandard(t, cc, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	for _, c := range []struct {
		name string
		bad  func(r *http.Request)
	}{
		{"header", func(r *http.Request) { r.Header.Set("Bad Name", "x") }},
		{"trailer", func(r *http.Request) { r.Trailer = http.Header{"X-Sum": {"a\nb"}} }},
		{"method", func(r *http.Request) { r.Method = "BAD METHOD" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			c.bad(req)
			_, err := tr.RoundTrip(req)
			if err == nil || !resilience.IsNeutral(err) {
				t.Errorf("got %v (neutral %v), want the caller's neutral refusal", err, resilience.IsNeutral(err))
			}
			resp, err := mustGet(t, tr, srv.URL)
			if err != nil {
				t.Fatalf("a good request after the refusal: %v (the host's breaker opened)", err)
			}
			readAll(t, resp)
		})
	}
}

// TestRegisteredProtocolFailuresAreTheHosts: an http.Transport hands a
// request of a scheme registered with RegisterProtocol to that protocol's
// RoundTripper before it checks the request as an HTTP one (no host, say,
// which such a URL may well lack), so its failures are the host's: they
// count against the breaker, whatever net/http would think of the request
// as HTTP.
func TestRegisteredProtocolFailuresAreTheHosts(t *testing.T) {
	var calls atomic.Int64
	h := newHTTPTransport(t)
	h.RegisterProtocol("queue", roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("queue broker unreachable")
	}))
	tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	for _, u := range []string{"queue:///orders", "queue://broker/orders"} {
		t.Run(u, func(t *testing.T) {
			calls.Store(0)
			var first error
			for i := range 3 {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header["Bad Name"] = []string{"x"} // not HTTP's concern here
				_, err := tr.RoundTrip(req)
				if i == 0 {
					first = err
				}
			}
			if first == nil || resilience.IsNeutral(first) {
				t.Errorf("the protocol's failure: %v, neutral %v; want a failure of the host's", first, resilience.IsNeutral(first))
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the protocol was called %d times with a breaker of ConsecutiveFailures 1; want 1", n)
			}
		})
	}
}
