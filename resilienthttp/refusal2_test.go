package resilienthttp_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// rawProxy is an HTTP proxy on 127.0.0.1 that reads one request per
// connection and answers it with the status line status (then closes). It
// counts the requests it read.
func rawProxy(t *testing.T, status string) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		hits.Add(1)
		_, _ = io.WriteString(c, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	return addr, &hits
}

// TestProxyConnectReasonIsTheHosts: a proxy's reason phrase to a failed
// CONNECT is the whole text of net/http's error. A proxy that fails
// (502/503/504) with a reason phrase that begins like one of net/http's
// refusals is failing, and its breaker opens: a refusal's text counts only
// when the caller's request has the fault it names.
func TestProxyConnectReasonIsTheHosts(t *testing.T) {
	for _, status := range []string{
		"502 Bad Gateway", // control: the host's, as it should be
		"502 invalid HTTP header in upstream response",
		"503 invalid Host header",
		"504 request header list larger than peer's advertised limit",
		"502 http: ContentLength=10 with Body length 0 (upstream)", // badBody's isBodyLengthError
	} {
		t.Run(status, func(t *testing.T) {
			addr, hits := rawProxy(t, status)
			h := newHTTPTransport(t)
			h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
			tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			var errs []error
			for range 3 {
				_, err := mustGet(t, tr, "https://127.0.0.1:9/x")
				errs = append(errs, err)
			}
			if resilience.IsNeutral(errs[0]) {
				t.Errorf("proxy answered CONNECT %q: %v is neutral; want a failure of the host's", status, errs[0])
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1 (then the breaker is open): last error %v", n, errs[2])
			}
		})
	}
}

// TestInvalidHostThroughProxyOverHTTP1: over HTTP/1 through a proxy,
// net/http refuses an invalid Host header before sending anything ("http:
// invalid Host header"); that is the caller's fault.
func TestInvalidHostThroughProxyOverHTTP1(t *testing.T) {
	srv := newServer(t, statuses(200))
	addr, _ := rawProxy(t, "200 OK")
	h := newHTTPTransport(t)
	h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
	tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Host = "a b" // the caller's mistake
	_, err := tr.RoundTrip(req)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("invalid Host through a proxy: %v, neutral %v; want net/http's refusal, neutral", err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's bad Host")
}

// TestControlCharacterThroughClient: the caller's URL has a control
// character in its query, which HTTP/1 refuses; through an http.Client
// inside the wrapped transport the refusal is still the caller's fault.
func TestControlCharacterThroughClient(t *testing.T) {
	srv := newServer(t, statuses(200))
	next := throughClient(newHTTPTransport(t))
	tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	req.URL.RawQuery = "q=a\x7fb" // the caller's mistake
	_, err := tr.RoundTrip(req)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("control character through a Client: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's bad URL")
}

// TestJoinedFailuresAreTheHosts: a fallback layer (primary, then a mirror)
// joins the primary's failure (a dropped connection) with the mirror's (a
// redirect to a scheme net/http does not speak): both are the dependency's
// failures, although one leaf is a refusal's text and the joined error also
// holds a *url.Error naming the caller's URL.
func TestJoinedFailuresAreTheHosts(t *testing.T) {
	var dropped atomic.Int64
	primary := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		dropped.Add(1)
		panic(http.ErrAbortHandler) // the server dies with the request in hand
	})
	mirror := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "ftp://127.0.0.1/x")
		w.WriteHeader(http.StatusFound)
	})
	client := &http.Client{Transport: newHTTPTransport(t)}
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r1 := r.Clone(r.Context())
		r1.RequestURI = ""
		resp, err1 := client.Do(r1)
		if err1 == nil {
			return resp, nil
		}
		r2 := r.Clone(r.Context())
		r2.RequestURI = ""
		r2.URL, _ = url.Parse(mirror.URL + r.URL.Path)
		r2.Host = ""
		resp, err2 := client.Do(r2)
		if err2 == nil {
			return resp, nil
		}
		return nil, errors.Join(err1, err2)
	})
	tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	_, err := mustGet(t, tr, primary.URL+"/x")
	if err == nil || resilience.IsNeutral(err) {
		t.Errorf("primary dropped the connection, mirror redirected to ftp: %v, neutral %v; want the host's failure", err, resilience.IsNeutral(err))
	}
	_, err = mustGet(t, tr, primary.URL+"/x")
	if !errors.Is(err, resilience.ErrRejected) {
		t.Errorf("after the host's failure: %v; want the open breaker's rejection", err)
	}
	if n := dropped.Load(); n != 1 {
		t.Errorf("the primary failed %d times with a breaker of ConsecutiveFailures 1; want 1", n)
	}
}

// TestHTTP2TrailerKeyRefusal: HTTP/2 refuses a trailer named
// Transfer-Encoding, Trailer or Content-Length before sending anything
// ("invalid Trailer key"); the names are valid fields, and the refusal is
// the caller's fault.
func TestHTTP2TrailerKeyRefusal(t *testing.T) {
	srv, h, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	tr := newStandard(t, h, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	req.Trailer = http.Header{"Content-Length": nil} // the caller's mistake
	_, err := tr.RoundTrip(req)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("invalid trailer key over HTTP/2: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's bad trailer")
}

type nilPtrErr struct{ msg string }

func (e *nilPtrErr) Error() string { return e.msg }

// TestTypedNilLeafDoesNotPanic: a leaf whose Error method panics (a typed
// nil pointer wrapped by a layer) does not make RoundTrip panic.
func TestTypedNilLeafDoesNotPanic(t *testing.T) {
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		var e *nilPtrErr
		return nil, errors.Join(errors.New("dial failed"), fmt.Errorf("cause: %w", e))
	})
	tr := newStandard(t, next, resilienthttp.WithoutRetry())
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("RoundTrip panicked: %v; want an error", p)
		}
	}()
	_, err := mustGet(t, tr, "http://127.0.0.1:9/")
	if err == nil {
		t.Error("got no error")
	}
}

// TestFileUploadResetIsTheHosts: a file body sent with sendfile to a
// server that resets the connection mid-upload fails with ECONNRESET or
// EPIPE (never EBADF, never a body length error): the host's failure, which
// the breaker sees.
func TestFileUploadResetIsTheHosts(t *testing.T) {
	var got atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			got.Add(1)
		}
		_ = c.(*net.TCPConn).SetLinger(0) // RST
		c.Close()
	})
	const size = 32 << 20
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	for _, expect := range []bool{false, true} {
		t.Run(fmt.Sprintf("expect-continue=%v", expect), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h := newHTTPTransport(t)
			tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/up", f)
			req.ContentLength = size
			if expect {
				req.Header.Set("Expect", "100-continue")
				h.ExpectContinueTimeout = time.Minute // wait for the server's answer, which is a reset
			}
			_, err = tr.RoundTrip(req)
			t.Logf("upload reset: %v (server read %d request heads)", err, got.Load())
			if err == nil || resilience.IsNeutral(err) {
				t.Errorf("server reset the upload: %v, neutral %v; want the host's failure", err, resilience.IsNeutral(err))
			}
			if errors.Is(err, resilience.ErrRejected) {
				t.Errorf("%v: rejected before the server was reached", err)
			}
			_, err = mustGet(t, tr, "http://"+addr+"/")
			if !errors.Is(err, resilience.ErrRejected) {
				t.Errorf("after the host's failure: %v; want the open breaker's rejection", err)
			}
		})
	}
}

// TestNilURLIsRefused: a request with a nil URL, to net/http's transport
// and behind a layer, is refused, neutral, without a panic.
func TestNilURLIsRefused(t *testing.T) {
	h := newHTTPTransport(t)
	for name, next := range map[string]http.RoundTripper{
		"http.Transport": h,
		"wrapped":        roundTripFunc(func(r *http.Request) (*http.Response, error) { return h.RoundTrip(r) }),
	} {
		t.Run(name, func(t *testing.T) {
			tr := newStandard(t, next, resilienthttp.WithoutRetry())
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9/", nil)
			req.URL = nil
			_, err := tr.RoundTrip(req)
			if err == nil || !resilience.IsNeutral(err) {
				t.Errorf("nil URL: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
			}
		})
	}
}

// TestHTTP2FileUploadResetIsTheHosts: over HTTP/2, a file body (handed
// over unwatched) whose upload the server resets midway: the stream's reset
// is the host's failure (no EBADF, no length error).
func TestHTTP2FileUploadResetIsTheHosts(t *testing.T) {
	srv, h, _ := newH2Server(t, func(_ http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 1))
		panic(http.ErrAbortHandler)
	})
	const size = 8 << 20
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	req, _ := http.NewRequest(http.MethodPut, srv.URL, f)
	req.ContentLength = size
	_, err = tr.RoundTrip(req)
	t.Logf("HTTP/2 upload reset: %v", err)
	if err == nil || resilience.IsNeutral(err) {
		t.Errorf("server reset the upload: %v, neutral %v; want the host's failure", err, resilience.IsNeutral(err))
	}
}
