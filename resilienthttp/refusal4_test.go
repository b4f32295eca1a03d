package resilienthttp_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// TestProxyPhraseWithTrailersIsTheHosts: a CONNECT proxy fails with a
// reason phrase that is exactly HTTP/2's bare sentinel. The caller's
// request has trailers (a valid request, which HTTP/2 and HTTP/1 send):
// the failure is the proxy's, and its breaker must open.
func TestProxyPhraseWithTrailersIsTheHosts(t *testing.T) {
	addr, hits := rawProxy(t, "504 request header list larger than peer's advertised limit")
	h := newHTTPTransport(t)
	h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
	tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	var errs []error
	for range 3 {
		req, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", strings.NewReader("x"))
		req.Trailer = http.Header{"X-Checksum": {"abc"}}
		_, err := tr.RoundTrip(req)
		errs = append(errs, err)
	}
	t.Logf("first error: %v", errs[0])
	if resilience.IsNeutral(errs[0]) {
		t.Errorf("proxy failed CONNECT for a request with trailers: %v is neutral; want the host's failure", errs[0])
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1 (then the breaker is open)", n)
	}
}

// TestH2HeaderListRedirectToSameURLIsTheHosts: the server redirects a
// request to its own URL (a redirect loop), and the http.Client inside the
// wrapped transport adds a Referer to the hop, which then exceeds the
// server's own advertised limit. The *url.Error names the caller's URL, but
// the request the caller made fits (the first hop was sent and served):
// the redirect loop is the server's doing.
func TestH2HeaderListRedirectToSameURLIsTheHosts(t *testing.T) {
	srv, h, hits := newSmallH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound) // to itself
	})
	next := throughClient(h)
	tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	// :path fits in the limit (2048+320); :path plus a Referer of the same
	// length does not.
	u := srv.URL + "/" + strings.Repeat("a", 1500)
	var errs []error
	for range 3 {
		_, err := mustGet(t, tr, u)
		errs = append(errs, err)
	}
	t.Logf("first error: %s", short(errs[0]))
	if errs[0] == nil || resilience.IsNeutral(errs[0]) {
		t.Errorf("server redirected to itself until its own limit refused the hop: %s, neutral %v; want the host's failure", short(errs[0]), resilience.IsNeutral(errs[0]))
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the server was reached %d times with a breaker of ConsecutiveFailures 1; want 1", n)
	}
}

// TestProxyPhraseContentLengthIsTheHosts: the caller's request has a
// ContentLength with NoBody, which net/http sends (as an empty body) over
// HTTP/1 and HTTP/2, or with a nil Body, which HTTP/2 sends; a CONNECT
// proxy fails with a reason phrase in the words of HTTP/1's refusal of a
// nil Body. The proxy is failing: its breaker must open.
func TestProxyPhraseContentLengthIsTheHosts(t *testing.T) {
	for name, body := range map[string]io.ReadCloser{"NoBody": http.NoBody, "nil Body": nil} {
		t.Run(name, func(t *testing.T) {
			addr, hits := rawProxy(t, "502 http: Request.ContentLength=99 with nil Body")
			h := newHTTPTransport(t)
			h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
			tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			var errs []error
			for range 3 {
				req, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", nil)
				req.Body, req.ContentLength = body, 5
				_, err := tr.RoundTrip(req)
				errs = append(errs, err)
			}
			if resilience.IsNeutral(errs[0]) {
				t.Errorf("proxy failed CONNECT: %v is neutral; want the host's failure", errs[0])
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1", n)
			}
		})
	}
}
