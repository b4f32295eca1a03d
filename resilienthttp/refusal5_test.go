package resilienthttp_test

import (
	"bufio"
	"bytes"
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
	"syscall"
	"testing"

	"golang.org/x/net/http2"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// sparseFile creates a file of size bytes (sparse) in a test directory
// and returns its path.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProxyPhrasesOfFaultsTheRequestHasNotAreTheHosts: a CONNECT proxy
// fails with a reason phrase in the words of one of net/http's refusals,
// but the caller's request does not have the fault that the words name
// (it is one net/http sends): the proxy is failing, and its breaker opens.
func TestProxyPhrasesOfFaultsTheRequestHasNotAreTheHosts(t *testing.T) {
	const size = 2 * resilienthttp.DefaultMaxBufferedBody // streamed, not buffered
	path := sparseFile(t, size)
	for _, c := range []struct {
		status string
		req    func(t *testing.T) *http.Request
	}{
		{"502 invalid request :path \"*\"", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodOptions, "https://127.0.0.1:9", nil)
			r.URL.Opaque = "*" // OPTIONS *: a valid :path
			return r
		}},
		{"502 invalid Connection request header: [\"keep-alive\"]", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:9/x", nil)
			r.Header.Set("Connection", "keep-alive") // HTTP/2 drops it, refuses nothing
			return r
		}},
		{"502 http: Request.ContentLength=5 with nil Body", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", nil)
			r.Body, r.ContentLength = http.NoBody, 5 // NoBody is sent
			return r
		}},
		{"502 idna: invalid label \"x\"", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:9/x", nil)
			return r
		}},
		{"502 invalid Trailer key \"X-Checksum\"", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", strings.NewReader("x"))
			r.Trailer = http.Header{"X-Checksum": {"abc"}} // a key HTTP/2 sends
			return r
		}},
		{"502 invalid Host header", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:9/x", nil)
			r.Host = "bücher.example" // net/http sends it as xn--bcher-kva.example
			return r
		}},
		{"502 http: ContentLength=5 refused upstream", func(t *testing.T) *http.Request {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", f)
			r.ContentLength = size // a file of the declared length, handed over
			return r
		}},
		{"502 http: ContentLength=7 with Body length 0 (upstream)", func(t *testing.T) *http.Request {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", f)
			r.ContentLength = size // a file of the declared length, which did not change
			return r
		}},
		{"502 http: ContentLength=10 with Body length 0 (upstream)", func(*testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", &plainReader{strings.NewReader("abc")})
			r.ContentLength = -1 // unknown, which net/http sends in chunks
			return r
		}},
	} {
		t.Run(c.status, func(t *testing.T) {
			addr, hits := rawProxy(t, c.status)
			h := newHTTPTransport(t)
			h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
			tr := newStandard(t, h, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			var errs []error
			for range 3 {
				_, err := tr.RoundTrip(c.req(t))
				errs = append(errs, err)
			}
			if errs[0] == nil || resilience.IsNeutral(errs[0]) {
				t.Errorf("proxy answered CONNECT %q: %v, neutral %v; want a failure of the host's", c.status, errs[0], resilience.IsNeutral(errs[0]))
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1: last error %v", n, errs[2])
			}
		})
	}
}

// TestControlCharacterInHostThroughProxyIsTheCallers: through an HTTP
// proxy, net/http writes the URL's host as the CONNECT request's target,
// and refuses it when it has a control character (a hand-built URL), before
// writing anything: the caller's fault, not retried.
func TestControlCharacterInHostThroughProxyIsTheCallers(t *testing.T) {
	addr, hits := rawProxy(t, "200 OK")
	h := newHTTPTransport(t)
	h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
	var attempts atomic.Int64
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) { attempts.Add(1); return h.RoundTrip(r) })
	tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:9/x", nil)
	req.URL.Host = "127.0.0.1\x01:9" // the caller's mistake
	_, err := tr.RoundTrip(req)
	t.Logf("control character in the URL's host through a proxy: %v", err)
	if err == nil || !resilience.IsNeutral(err) || attempts.Load() != 1 {
		t.Errorf("%v: neutral %v after %d attempts; want a neutral error after 1", err, resilience.IsNeutral(err), attempts.Load())
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the proxy read %d requests; want none (net/http refuses before writing)", n)
	}
}

var errUpstream = errors.New("upstream failed")

// TestServersWordsAreTheHosts: the caller's request has a header that
// HTTP/2 would refuse and HTTP/1 sends (Connection: foo), and a failing
// server's words name that refusal. Only net/http's own refusal, an
// innermost error that begins with the words, is the caller's fault:
//   - net/http quotes the server's garbage in the middle of its error;
//   - a layer puts the server's words at the head of a wrapper of its own
//     error.
func TestServersWordsAreTheHosts(t *testing.T) {
	const words = "invalid Connection request header: [\"foo\"]"
	for _, c := range []struct {
		name string
		next func(t *testing.T) (http.RoundTripper, string)
	}{
		{"quoted by net/http", func(t *testing.T) (http.RoundTripper, string) {
			addr := rawServer(t, func(c net.Conn) {
				defer c.Close()
				_, _ = http.ReadRequest(bufio.NewReader(c))
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n"+strings.ReplaceAll(words, ":", "")+"\r\n\r\n")
			})
			return newHTTPTransport(t), "http://" + addr
		}},
		{"wrapped by a layer", func(t *testing.T) (http.RoundTripper, string) {
			srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, words)
			})
			h := newHTTPTransport(t)
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := h.RoundTrip(r)
				if err != nil {
					return nil, err
				}
				if resp.StatusCode == http.StatusBadGateway {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					return nil, fmt.Errorf("%s: %w", b, errUpstream)
				}
				return resp, nil
			}), srv.URL
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			next, u := c.next(t)
			tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			var errs []error
			for range 2 {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Connection", "foo")
				_, err := tr.RoundTrip(req)
				errs = append(errs, err)
			}
			if errs[0] == nil || resilience.IsNeutral(errs[0]) {
				t.Errorf("a failing server's words: %v, neutral %v; want a failure of the host's", errs[0], resilience.IsNeutral(errs[0]))
			}
			if !errors.Is(errs[1], resilience.ErrRejected) {
				t.Errorf("after the host's failure: %v; want the open breaker's rejection", errs[1])
			}
		})
	}
}

// TestHTTPSRedirectToAnotherSchemeIsTheHosts: an https dependency redirects
// to ftp://, and an http.Client inside the wrapped transport refuses to
// follow ("unsupported protocol scheme"): the caller's https URL is one
// net/http speaks, so the redirect is the host's failure.
func TestHTTPSRedirectToAnotherSchemeIsTheHosts(t *testing.T) {
	srv, h, _ := newH2Server(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "ftp://127.0.0.1/x")
		w.WriteHeader(http.StatusFound)
	})
	tr := newStandard(t, throughClient(h), resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	_, err := mustGet(t, tr, srv.URL)
	if err == nil || resilience.IsNeutral(err) {
		t.Errorf("https dependency redirected to ftp: %v, neutral %v; want a failure of the host's", err, resilience.IsNeutral(err))
	}
	if _, err := mustGet(t, tr, srv.URL); !errors.Is(err, resilience.ErrRejected) {
		t.Errorf("after the host's failure: %v; want the open breaker's rejection", err)
	}
}

// TestInvalidTrailerBehindALayerIsTheCallers: a trailer value that is not
// valid is refused before anything is sent, in net/http's words (HTTP/1)
// and in x/net's HTTP/2 words; behind a layer, where the transport is not
// seen, the refusal is still the caller's fault.
func TestInvalidTrailerBehindALayerIsTheCallers(t *testing.T) {
	h1 := newServer(t, statuses(200))
	h2srv, h2tr, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	//lint:ignore SA1019 the deprecated transport is the one under test
	x := &http2.Transport{TLSClientConfig: h2tr.TLSClientConfig}
	t.Cleanup(func() {
		//lint:ignore SA1019 the deprecated transport is the one under test
		x.CloseIdleConnections()
	})
	for _, c := range []struct {
		name string
		url  string
		rt   http.RoundTripper
	}{
		{"HTTP/1", h1.URL, newHTTPTransport(t)},
		{"x/net HTTP/2", h2srv.URL, x},
	} {
		t.Run(c.name, func(t *testing.T) {
			var attempts atomic.Int64
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) { attempts.Add(1); return c.rt.RoundTrip(r) })
			tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
			req, _ := http.NewRequest(http.MethodPut, c.url, strings.NewReader("x"))
			req.Trailer = http.Header{"X-Checksum": {"a\x00b"}} // the caller's mistake
			_, err := tr.RoundTrip(req)
			t.Logf("invalid trailer: %v", err)
			if err == nil || !resilience.IsNeutral(err) || attempts.Load() != 1 {
				t.Errorf("%v: neutral %v after %d attempts; want a neutral error after 1", err, resilience.IsNeutral(err), attempts.Load())
			}
			stillServes(t, tr, c.url, "the caller's bad trailer")
		})
	}
}

// TestURLWithoutHostIsTheCallers: net/http refuses a URL without a host
// ("http: no Host in request URL"), with its transport as the wrapped one
// or behind a layer: the caller's fault, not retried.
func TestURLWithoutHostIsTheCallers(t *testing.T) {
	h := newHTTPTransport(t)
	var attempts atomic.Int64
	for name, next := range map[string]http.RoundTripper{
		"http.Transport": h,
		"wrapped":        roundTripFunc(func(r *http.Request) (*http.Response, error) { attempts.Add(1); return h.RoundTrip(r) }),
	} {
		t.Run(name, func(t *testing.T) {
			attempts.Store(0)
			tr := newStandard(t, next, quickRetries(3)...)
			req, _ := http.NewRequest(http.MethodGet, "http:///x", nil) // the caller's mistake
			_, err := tr.RoundTrip(req)
			if err == nil || !resilience.IsNeutral(err) {
				t.Errorf("URL without host: %v, neutral %v; want a neutral error", err, resilience.IsNeutral(err))
			}
			if n := attempts.Load(); n > 1 {
				t.Errorf("%d attempts; want 1", n)
			}
		})
	}
}

// TestTransferEncodingTwiceOverHTTP2IsTheCallers: HTTP/2 refuses a
// Transfer-Encoding header with more than one value, even "chunked"
// twice, before sending anything: the caller's fault.
func TestTransferEncodingTwiceOverHTTP2IsTheCallers(t *testing.T) {
	srv, h, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	tr := newStandard(t, h, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header["Transfer-Encoding"] = []string{"chunked", "chunked"} // the caller's mistake
	_, err := tr.RoundTrip(req)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("Transfer-Encoding %q over HTTP/2: %v, neutral %v; want a neutral error", req.Header["Transfer-Encoding"], err, resilience.IsNeutral(err))
	}
	stillServes(t, tr, srv.URL, "the caller's bad header")
}

// TestHeaderListPhraseBehindALayerIsTheHosts: a CONNECT proxy fails with
// HTTP/2's bare header-list sentinel as its reason phrase, and the proxied
// http.Transport is behind a layer (which hides that it uses a proxy), as
// it is or wrapped with %w. The caller's request has no trailers, and only
// net/http's "http2: " wraps the sentinel for headers: the proxy is
// failing.
func TestHeaderListPhraseBehindALayerIsTheHosts(t *testing.T) {
	for name, wrap := range map[string]func(error) error{
		"as it is": func(err error) error { return err },
		"%w":       func(err error) error { return fmt.Errorf("tracing: %w", err) },
	} {
		t.Run(name, func(t *testing.T) {
			addr, hits := rawProxy(t, "504 request header list larger than peer's advertised limit")
			h := newHTTPTransport(t)
			h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := h.RoundTrip(r)
				if err != nil {
					return nil, wrap(err)
				}
				return resp, nil
			})
			tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			var errs []error
			for range 3 {
				_, err := mustGet(t, tr, "https://127.0.0.1:9/x")
				errs = append(errs, err)
			}
			if errs[0] == nil || resilience.IsNeutral(errs[0]) {
				t.Errorf("proxy failed CONNECT behind a layer: %v, neutral %v; want a failure of the host's", errs[0], resilience.IsNeutral(errs[0]))
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1", n)
			}
		})
	}
}

// TestProxyFunctionFailureWithTrailersIsNotTheCallers: the transport's
// Proxy function fails, and its error's text (any text: a PAC server's
// words, say) is HTTP/2's bare header-list sentinel, for a request with
// trailers. Nothing was refused for the request's sake: not neutral.
func TestProxyFunctionFailureWithTrailersIsNotTheCallers(t *testing.T) {
	srv := newServer(t, statuses(200))
	h := newHTTPTransport(t)
	h.Proxy = func(*http.Request) (*url.URL, error) {
		return nil, errors.New("request header list larger than peer's advertised limit")
	}
	tr := newStandard(t, h, resilienthttp.WithoutRetry())
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	req.Trailer = http.Header{"X-Checksum": {"abc"}}
	_, err := tr.RoundTrip(req)
	if err == nil || resilience.IsNeutral(err) {
		t.Errorf("the Proxy function failed: %v, neutral %v; want an error that is not neutral", err, resilience.IsNeutral(err))
	}
}

// TestInMemoryBodyTooLongOverHTTP2IsTheCallers: a bytes.Reader or a
// bytes.Buffer that holds more than the declared length is the caller's
// mistake (net/http's HTTP/2 error says so), not the host's.
func TestInMemoryBodyTooLongOverHTTP2IsTheCallers(t *testing.T) {
	srv, h2, _ := newH2Server(t, func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	for name, body := range map[string]func() io.Reader{
		"bytes.Reader": func() io.Reader { return bytes.NewReader([]byte("0123456789")) },
		"bytes.Buffer": func() io.Reader { return bytes.NewBufferString("0123456789") },
	} {
		t.Run(name, func(t *testing.T) {
			next, calls := counting(h2)
			tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
			req, _ := http.NewRequest(http.MethodPut, srv.URL, body())
			req.ContentLength = 5 // the caller's mistake
			wantOneNeutralAttempt(t, tr, calls, req)
			stillServes(t, tr, srv.URL, "the caller's body of the wrong length")
		})
	}
}

// TestFileBodyWhenNetHTTPReportsTheClosedRead: net/http may report the
// read from the connection it closed in place of the failed write of a file
// body (here next does as net/http may: it reads the body, then reports
// the closed read). The file decides:
//   - one longer than declared, or opened for writing only, is the
//     caller's mistake: it is watched as it is read;
//   - one rotated away (renamed, a shorter new file at its path) was sent
//     whole from its descriptor: the host's;
//   - EBADF from a transport that got no file is not about the body: the
//     host's.
func TestFileBodyWhenNetHTTPReportsTheClosedRead(t *testing.T) {
	const size = 2 * resilienthttp.DefaultMaxBufferedBody // streamed, not buffered
	closedRead := &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	for _, c := range []struct {
		name     string
		open     func(t *testing.T) (io.Reader, int64, func()) // body, declared length, what next does first
		err      error
		neutral  bool
		readBody bool
	}{
		{"longer than declared", func(t *testing.T) (io.Reader, int64, func()) {
			f, err := os.Open(sparseFile(t, size+10))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f, size, func() {}
		}, closedRead, true, true},
		{"write-only", func(t *testing.T) (io.Reader, int64, func()) {
			f, err := os.OpenFile(sparseFile(t, size), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f, size, func() {}
		}, closedRead, true, true},
		{"rotated away", func(t *testing.T) (io.Reader, int64, func()) {
			path := sparseFile(t, size)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f, size, func() {
				if err := os.Rename(path, path+".1"); err != nil {
					t.Error(err)
				}
				if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
					t.Error(err)
				}
			}
		}, closedRead, false, true},
		{"EBADF, no file", func(*testing.T) (io.Reader, int64, func()) {
			return strings.NewReader("0123456789"), 10, func() {}
		}, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EBADF)}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, declared, first := c.open(t)
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				first()
				if c.readBody && r.Body != nil {
					_, _ = io.Copy(io.Discard, r.Body)
				}
				return nil, c.err
			})
			tr := newStandard(t, next, resilienthttp.WithoutRetry())
			req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9/up", body)
			req.ContentLength = declared
			_, err := tr.RoundTrip(req)
			if err == nil || resilience.IsNeutral(err) != c.neutral {
				t.Errorf("%v: neutral %v; want an error, neutral %v", err, resilience.IsNeutral(err), c.neutral)
			}
		})
	}
}

// TestFlattenedHTTP2RefusalIsTheCallers: a layer that flattens errors to
// their text (one that crosses a process boundary, say) turns net/http's
// HTTP/2 refusal into a leaf that begins with "http2: ": the refusal is
// still the caller's fault.
func TestFlattenedHTTP2RefusalIsTheCallers(t *testing.T) {
	srv, h, _ := newH2Server(t, func(http.ResponseWriter, *http.Request) {})
	var attempts atomic.Int64
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		resp, err := h.RoundTrip(r)
		if err != nil {
			return nil, errors.New(err.Error())
		}
		return resp, nil
	})
	tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Host = "a b" // the caller's mistake
	_, err := tr.RoundTrip(req)
	t.Logf("flattened refusal: %v", err)
	if err == nil || !resilience.IsNeutral(err) || attempts.Load() != 1 {
		t.Errorf("%v: neutral %v after %d attempts; want a neutral error after 1", err, resilience.IsNeutral(err), attempts.Load())
	}
	stillServes(t, tr, srv.URL, "the caller's bad Host")
}

// TestFileRewrittenDuringUploadIsTheCallers: a file handed over unwatched
// that the caller rewrites during the upload (truncated, then written back
// to its old size) or shrinks after removing its name makes net/http send
// fewer bytes than declared: the caller's fault, though the file's size at
// its name is the old one again, or cannot be seen.
func TestFileRewrittenDuringUploadIsTheCallers(t *testing.T) {
	const size = 2 * resilienthttp.DefaultMaxBufferedBody // streamed, not buffered
	for _, c := range []struct {
		name   string
		during func(t *testing.T, path string) (after func())
	}{
		{"rewritten in place", func(t *testing.T, path string) func() {
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
			return func() { os.Truncate(path, size) }
		}},
		{"name removed, then shrunk", func(t *testing.T, path string) func() {
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(path)
			w.Truncate(size / 2)
			return func() { w.Close() }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t, statuses(200))
			h := newHTTPTransport(t)
			path := sparseFile(t, size)
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.Method == http.MethodPut {
					after := c.during(t, path)
					defer after()
				}
				return h.RoundTrip(r)
			})
			tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPut, srv.URL, f)
			req.ContentLength = size
			_, err = tr.RoundTrip(req)
			if errors.Is(err, net.ErrClosed) {
				// net/http reported, at random (about once in a thousand
				// runs), the read from the connection it closed instead
				// of its error about the length: the file is then judged
				// by its size, which is its old one again. Not this test's
				// case.
				t.Skipf("net/http reported the closed read: %v", err)
			}
			if err == nil || !resilience.IsNeutral(err) {
				t.Errorf("got %v (neutral %v), want the caller's neutral failure", err, err != nil && resilience.IsNeutral(err))
			}
			resp, err := mustGet(t, tr, srv.URL)
			if err != nil {
				t.Fatalf("a good request after it: %v (the host's breaker opened)", err)
			}
			readAll(t, resp)
		})
	}
}

// TestProxyLengthPhraseThroughALayerIsTheHosts: a CONNECT proxy whose reason
// phrase is net/http's words about a body of the wrong length fails a PUT
// of a file (of the declared length) through a RoundTripper that wraps the
// proxied http.Transport, which cannot be asked about its proxy: the
// proxy is failing, and its breaker opens. net/http delivers its own
// words otherwise (inside its write-failure wrapper).
func TestProxyLengthPhraseThroughALayerIsTheHosts(t *testing.T) {
	const size = 2 * resilienthttp.DefaultMaxBufferedBody
	path := sparseFile(t, size)
	for _, phrase := range []string{
		"502 http: ContentLength=7 with Body length 0 (upstream)",
		"502 http2: request body larger than specified content length",
	} {
		for _, c := range []struct {
			name string
			wrap func(http.RoundTripper) http.RoundTripper
		}{
			{"bare transport", func(rt http.RoundTripper) http.RoundTripper { return rt }},
			{"a layer", func(rt http.RoundTripper) http.RoundTripper { return roundTripFunc(rt.RoundTrip) }},
			{"a client", func(rt http.RoundTripper) http.RoundTripper { return throughClient(rt) }},
		} {
			t.Run(phrase+"/"+c.name, func(t *testing.T) {
				addr, hits := rawProxy(t, phrase)
				h := newHTTPTransport(t)
				h.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
				tr := newStandard(t, c.wrap(h), resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
				var first error
				for i := range 3 {
					f, err := os.Open(path)
					if err != nil {
						t.Fatal(err)
					}
					req, _ := http.NewRequest(http.MethodPut, "https://127.0.0.1:9/x", f)
					req.ContentLength = size
					_, err = tr.RoundTrip(req)
					if i == 0 {
						first = err
					}
				}
				if first == nil || resilience.IsNeutral(first) {
					t.Errorf("proxy answered CONNECT %q: %v, neutral %v; want a failure of the host's", phrase, first, first != nil && resilience.IsNeutral(first))
				}
				if n := hits.Load(); n != 1 {
					t.Errorf("the proxy failed %d times with a breaker of ConsecutiveFailures 1; want 1", n)
				}
			})
		}
	}
}
