package resilienthttp_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// newSmallH2Server is an HTTP/2 (TLS) server on 127.0.0.1 that advertises a
// small SETTINGS_MAX_HEADER_LIST_SIZE (from MaxHeaderBytes); it counts the
// requests its handler sees.
func newSmallH2Server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *http.Transport, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.MaxHeaderBytes = 2048
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport)
	t.Cleanup(tr.CloseIdleConnections)
	return srv, tr, &hits
}

// TestH2HeaderListRefusalOfRedirectIsTheHosts: a server redirects to a URL
// longer than its own advertised header-list limit, and an http.Client
// inside the wrapped transport refuses to follow it. The redirect is the
// server's doing: its breaker opens.
func TestH2HeaderListRefusalOfRedirectIsTheHosts(t *testing.T) {
	srv, h, hits := newSmallH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/"+strings.Repeat("a", 8<<10), http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	next := throughClient(h)
	tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	var errs []error
	for range 3 {
		_, err := mustGet(t, tr, srv.URL+"/start")
		errs = append(errs, err)
	}
	if errs[0] == nil || resilience.IsNeutral(errs[0]) {
		t.Errorf("server redirected to a URL its own limit refuses: %s, neutral %v; want the host's failure", short(errs[0]), resilience.IsNeutral(errs[0]))
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the server was reached %d times with a breaker of ConsecutiveFailures 1; want 1 (then the breaker is open): last error %s", n, short(errs[2]))
	}
}

// TestProxyPhrasesAreTheHosts: a CONNECT proxy's reason phrase is the
// whole error text. A phrase that reads like HTTP/2's header-list refusal,
// or like HTTP/1's control-character refusal while the caller's Host header
// has a control character (which net/http never reports with that text), is
// still the failing proxy's.
func TestProxyPhrasesAreTheHosts(t *testing.T) {
	for _, c := range []struct {
		status, host string
	}{
		{"502 http2: request header list larger than peer's advertised limit", ""},
		{"502 net/http: can't write control character in Request.URL", "a\x01b"},
	} {
		t.Run(c.status, func(t *testing.T) {
			addr, hits := rawProxy(t, c.status)
			h := newHTTPTransport(t)
			h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
			tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			var errs []error
			for range 3 {
				req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:9/x", nil)
				req.Host = c.host
				_, err := tr.RoundTrip(req)
				errs = append(errs, err)
			}
			if resilience.IsNeutral(errs[0]) {
				t.Errorf("proxy answered CONNECT %q: %v is neutral; want a failure of the host's", c.status, errs[0])
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1", n)
			}
		})
	}
}

// TestH2TrailerListTooLargeIsTheCallers: HTTP/2 refuses trailers larger
// than the server's advertised limit with the bare text (no "http2: "), in
// net/http's bundle and in x/net: the caller's fault, not retried.
func TestH2TrailerListTooLargeIsTheCallers(t *testing.T) {
	srv, h, hits := newSmallH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	var attempts atomic.Int64
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return h.RoundTrip(r)
	})
	tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))...)
	// A first request, so that the client knows the server's SETTINGS.
	resp, err := mustGet(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	attempts.Store(0)
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	req.Trailer = http.Header{"X-Big": {strings.Repeat("t", 8<<10)}} // the caller's mistake
	_, err = tr.RoundTrip(req)
	t.Logf("trailers too large: %v (%d attempts, server handled %d requests)", err, attempts.Load(), hits.Load())
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("trailers over the peer's limit: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts; want 1 (not retried)", n)
	}
	stillServes(t, tr, srv.URL, "the caller's large trailers")
}

// TestH2NegativeContentLengthIsTheCallers: a ContentLength below -1 over
// HTTP/2: net/http fails with "http2: request body larger than specified
// content length" whatever the body, and an in-memory body of no positive
// length is not watched: the caller's fault all the same.
func TestH2NegativeContentLengthIsTheCallers(t *testing.T) {
	srv, h, hits := newSmallH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	tr := newStandard(t, h, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("abc"))
	req.ContentLength = -2 // the caller's mistake
	_, err := tr.RoundTrip(req)
	t.Logf("ContentLength -2: %v (server saw %d requests)", err, hits.Load())
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("ContentLength -2: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's bad length")
}

// TestH2ConnectionHeaderUnicodeFoldIsTheCallers: HTTP/2 compares
// Connection's value with "close" and "keep-alive" by ASCII case folding,
// so a value with a Kelvin sign for its K is refused: the caller's fault.
func TestH2ConnectionHeaderUnicodeFoldIsTheCallers(t *testing.T) {
	srv, h, _ := newSmallH2Server(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newStandard(t, h, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header["Connection"] = []string{"\u212Aeep-alive"} // the caller's mistake
	_, err := tr.RoundTrip(req)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("Connection %+q over HTTP/2: %v, neutral %v; want a neutral error", req.Header["Connection"][0], err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's bad header")
}

// TestH1RefusalsOfHostAndLengthAreTheCallers: HTTP/1 refuses a Host that
// IDNA rejects and a ContentLength with a nil Body: the caller's fault.
func TestH1RefusalsOfHostAndLengthAreTheCallers(t *testing.T) {
	for name, mod := range map[string]func(*http.Request){
		"idna Host":               func(r *http.Request) { r.Host = "xn--\u00fc" },
		"ContentLength, nil Body": func(r *http.Request) { r.Method = http.MethodPut; r.ContentLength = 5 },
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, statuses(200))
			tr := newStandard(t, newHTTPTransport(t), append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			mod(req)
			_, err := tr.RoundTrip(req)
			t.Logf("%s: %v (conns %d)", name, err, srv.conns.Load())
			if err == nil || !resilience.IsNeutral(err) {
				t.Errorf("%s: %v, neutral %v; want a neutral error", name, err, resilience.IsNeutral(err))
			}
			resp, err := mustGet(t, tr, srv.URL)
			if errors.Is(err, resilience.ErrRejected) {
				t.Errorf("a good request after the caller's bad one: %v; want it served", err)
			} else if err == nil {
				readAll(t, resp)
			}
		})
	}
}

// short returns err's text, cut to 160 bytes.
func short(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:80] + "…" + s[len(s)-80:]
	}
	return s
}

// TestFileOfUnknownLengthIsWatched: a file body of no declared length (a
// pipe, say) is sent in chunks, without sendfile, so it is watched like any
// stream: when reading it fails (here the caller closes it under the
// transport), that is the caller's fault, not the host's.
func TestFileOfUnknownLengthIsWatched(t *testing.T) {
	srv := newServer(t, func(_ int64, _ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	h := newHTTPTransport(t)
	tr := newStandard(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			pr.Close() // the caller's mistake, under the transport: reads fail
		}
		return h.RoundTrip(r)
	}), resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Body = pr // no ContentLength: streamed
	_, err = tr.RoundTrip(req)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("a pipe body that fails to read: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's failing body")
}
