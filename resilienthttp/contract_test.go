package resilienthttp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// TestRefusedRequestsDoNotCountAgainstTheHost: a request that net/http
// refuses before sending anything (a header with a line break, a scheme it
// does not speak, a method that is not a token) is the request's fault:
// it fails at once, is not retried, and does not open the host's breaker,
// which would cut off a healthy host for everyone.
func TestRefusedRequestsDoNotCountAgainstTheHost(t *testing.T) {
	for name, mutate := range map[string]func(*http.Request){
		"header value":  func(r *http.Request) { r.Header.Set("X-User", "a\r\nInjected: 1") },
		"header name":   func(r *http.Request) { r.Header["Bad Name"] = []string{"x"} },
		"trailer value": func(r *http.Request) { r.Trailer = http.Header{"X-T": {"a\nb"}} },
		"scheme":        func(r *http.Request) { r.URL.Scheme = "ftp" },
		"method":        func(r *http.Request) { r.Method = "GE T" },
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, statuses(200))
			tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
			for range 10 {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				mutate(req)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("a refused request got %d, want an error", resp.StatusCode)
				}
				if !resilience.IsNeutral(err) || errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("refused request: got %v, want a neutral error", err)
				}
			}
			if got := srv.requests.Load(); got != 0 {
				t.Errorf("server saw %d requests, want 0", got)
			}
			resp, err := mustGet(t, tr, srv.URL)
			if err != nil {
				t.Fatalf("a valid request to the healthy host: %v", err)
			}
			readAll(t, resp)
			if c := hostPolicy(t, tr, srv).Breaker.Counts(); c.Failures != 0 {
				t.Errorf("breaker counts %+v, want no failure", c)
			}
		})
	}
}

// TestNilResponseFromNext: a wrapped transport that returns neither a
// response nor an error breaks the RoundTripper contract; the transport
// says so instead of panicking.
func TestNilResponseFromNext(t *testing.T) {
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	for name, tr := range map[string]http.RoundTripper{
		"NewTransport": resilienthttp.NewTransport(next, retryN(3)),
		"standard":     newStandard(t, next),
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
			resp, err := tr.RoundTrip(req)
			if resp != nil || err == nil || !strings.Contains(err.Error(), "nil *http.Response") {
				t.Errorf("got (%v, %v), want an error naming the nil response", resp, err)
			}
		})
	}
}

// TestFailureBodyNotReadAheadWithoutPolicy: with no policy nothing can send
// the request again, so a failure response is handed over as it arrives,
// as a plain http.Transport does, even when its body stalls.
func TestFailureBodyNotReadAheadWithoutPolicy(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "first bytes\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	for name, tr := range map[string]http.RoundTripper{
		"nil policy":         resilienthttp.NewTransport(newHTTPTransport(t), nil),
		"standard, no retry": newStandard(t, newHTTPTransport(t), resilienthttp.WithoutRetry()),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("got %v, want the 503 (the read ahead waited for the stalled body)", err)
			}
			defer resp.Body.Close()
			line := make([]byte, len("first bytes\n"))
			if _, err := io.ReadFull(resp.Body, line); err != nil || resp.StatusCode != 503 {
				t.Errorf("got %d %q (%v), want 503 and the first bytes", resp.StatusCode, line, err)
			}
		})
	}
}

// TestBufferedBodyGrowsWithItsBytes: the buffer of a replayable body grows
// with the bytes that arrive, not with the length the client declared: a
// short body declared huge neither panics nor reserves the declared size.
func TestBufferedBodyGrowsWithItsBytes(t *testing.T) {
	srv := newServer(t, statuses(200))
	tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2), resilienthttp.WithMaxBufferedBody(math.MaxInt64))
	for _, n := range []int64{1 << 50, math.MaxInt64 - 1, 256 << 20} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("short")))
		req.ContentLength = n
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := tr.RoundTrip(req)
		runtime.ReadMemStats(&after)
		if err == nil {
			resp.Body.Close()
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
			t.Errorf("a 5-byte body declared as %d bytes: %d MiB allocated, want far less", n, d>>20)
		}
	}
	// A body of the declared length is still replayed, byte for byte.
	payload := bytes.Repeat([]byte("0123456789"), 20_000) // 200 kB: the buffer grows
	var mu sync.Mutex
	var got [][]byte
	echo := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(503)
		}
	})
	req, _ := http.NewRequest(http.MethodPut, echo.URL, io.NopCloser(bytes.NewReader(payload)))
	req.ContentLength = int64(len(payload))
	resp, err := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2)).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !bytes.Equal(got[0], payload) || !bytes.Equal(got[1], payload) {
		t.Errorf("server got %d bodies, want 2 identical to the payload", len(got))
	}
}

// TestDrainKeepsConnectionAtTheLimit: a chunked failure body of exactly the
// drain limit is read to its end, so its connection is reused.
func TestDrainKeepsConnectionAtTheLimit(t *testing.T) {
	for _, size := range []int{resilienthttp.DefaultMaxDrain - 1, resilienthttp.DefaultMaxDrain} {
		srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.WriteHeader(503)
				w.Write(bytes.Repeat([]byte("x"), size/2))
				w.(http.Flusher).Flush() // chunked
				w.Write(bytes.Repeat([]byte("x"), size-size/2))
				return
			}
			io.WriteString(w, "ok")
		})
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2)).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if got := srv.conns.Load(); got != 1 {
			t.Errorf("chunked failure body of %d bytes: server saw %d connections, want 1", size, got)
		}
	}
}

// TestUnreachableProxyPOSTRetried: a POST whose proxy cannot be reached was
// never sent, so it is retried.
func TestUnreachableProxyPOSTRetried(t *testing.T) {
	proxy, _ := url.Parse("http://" + closedAddr(t))
	base := &http.Transport{Proxy: http.ProxyURL(proxy)}
	defer base.CloseIdleConnections()
	rec := &recorder{}
	tr := resilienthttp.NewTransport(base, resilience.Chain(retryN(3), rec))
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/orders", strings.NewReader("{}"))
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
	}
	if errs := rec.errors(); len(errs) != 3 {
		t.Errorf("POST through an unreachable proxy ran %d times (%v), want 3", len(errs), errs)
	}
}

// failingBody is a caller's body that fails after left bytes: an upload
// its client aborted.
type failingBody struct{ left int }

func (b *failingBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, errors.New("caller's body: upload aborted")
	}
	n := min(len(p), b.left)
	for i := range n {
		p[i] = 'x'
	}
	b.left -= n
	return n, nil
}

func (b *failingBody) Close() error { return nil }

// TestCallerFaultsDoNotCountAgainstTheHost: a caller's body that fails or
// does not match its declared length, a GetBody that fails, and a scheme
// net/http does not speak are the request's fault: they do not open the
// host's breaker.
func TestCallerFaultsDoNotCountAgainstTheHost(t *testing.T) {
	for name, mk := range map[string]func(url string) *http.Request{
		"body read error": func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, &failingBody{left: 10})
			return req
		},
		"MaxBytesReader": func(url string) *http.Request {
			body := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), 10)
			req, _ := http.NewRequest("PUT", url, body)
			req.ContentLength = 100
			return req
		},
		"length mismatch": func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, onlyReader{strings.NewReader("short")})
			req.ContentLength = 2 << 20 // above the buffer cap: streamed
			return req
		},
		"upper-case scheme": func(url string) *http.Request {
			req, _ := http.NewRequest("GET", url, nil)
			req.URL.Scheme = "HTTP" // net/http compares schemes as they are
			return req
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, statuses(200))
			tr := newStandard(t, newHTTPTransport(t), append(quickRetries(2),
				resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))...)
			for range 3 {
				resp, err := tr.RoundTrip(mk(srv.URL))
				if err == nil {
					resp.Body.Close()
				}
			}
			resp, err := mustGet(t, tr, srv.URL)
			if err != nil {
				t.Fatalf("a valid GET to the healthy host: %v", err)
			}
			readAll(t, resp)
			if c := hostPolicy(t, tr, srv).Breaker.Counts(); c.Failures != 0 {
				t.Errorf("breaker counts %+v, want no failure", c)
			}
		})
	}
	t.Run("GetBody error", func(t *testing.T) {
		srv := newServer(t, statuses(503, 503))
		tr := newStandard(t, newHTTPTransport(t), append(quickRetries(2),
			resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 100}))...)
		req, _ := http.NewRequest("PUT", srv.URL, strings.NewReader("x"))
		req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("cannot reopen the file") }
		if resp, err := tr.RoundTrip(req); err == nil {
			readAll(t, resp)
		}
		if c := hostPolicy(t, tr, srv).Breaker.Counts(); int64(c.Failures) != srv.requests.Load() {
			t.Errorf("breaker counted %d failures for the %d 503s the host sent", c.Failures, srv.requests.Load())
		}
	})
}

// TestRegisteredProtocolFailuresCount: a scheme registered with
// http.Transport.RegisterProtocol is served; its failures are the host's.
func TestRegisteredProtocolFailuresCount(t *testing.T) {
	var calls atomic.Int64
	h := newHTTPTransport(t)
	h.RegisterProtocol("svc", roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("svc: backend unavailable")
	}))
	tr := newStandard(t, h, quickRetries(3)...)
	req, _ := http.NewRequest("GET", "svc://backend/x", nil)
	_, err := tr.RoundTrip(req)
	if calls.Load() != 3 || resilience.IsNeutral(err) {
		t.Errorf("%d attempts, neutral %v; want 3 attempts and a failure", calls.Load(), resilience.IsNeutral(err))
	}
}

// TestReadAheadDoesNotReserveDeclaredLength: a failure response's declared
// Content-Length is the server's word: the read ahead grows with the bytes
// that arrive.
func TestReadAheadDoesNotReserveDeclaredLength(t *testing.T) {
	const declared = 256 << 20
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(brw, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "+itoa(declared)+"\r\n\r\n0123456789")
		brw.Flush()
	})
	tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2), resilienthttp.WithMaxDrain(1<<30))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if resp, err := tr.RoundTrip(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d MiB for two 503s of 10 bytes that declared 256 MiB", alloc>>20)
	}
}

// TestHTTP2BodilessResponsesReleaseTheirContext: over HTTP/2 a 204 or the
// answer to a HEAD has an empty body of net/http's own, not NoBody: the
// attempt's context is done with at once, as over HTTP/1.
func TestHTTP2BodilessResponsesReleaseTheirContext(t *testing.T) {
	srv, h2, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tr := h2Standard(t, h2)
	for _, method := range []string{"GET", "HEAD"} {
		ctx := newTrackingCtx()
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s: protocol %s, want HTTP/2", method, resp.Proto)
		}
		if n := ctx.live.Load(); n != 0 {
			t.Errorf("%s 204 over HTTP/2: %d contexts attached to the caller's after RoundTrip, want 0", method, n)
		}
		resp.Body.Close()
	}
}

// TestHTTP2ResetDuringUploadCountsAgainstTheHost: when an HTTP/2 host
// resets the stream of a streaming upload, net/http closes the body it was
// reading; the read that fails then is not the caller's fault: the host's
// failure counts.
func TestHTTP2ResetDuringUploadCountsAgainstTheHost(t *testing.T) {
	srv, h2, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		var b [1]byte
		io.ReadFull(r.Body, b[:])
		panic(http.ErrAbortHandler) // RST_STREAM: the host failed
	})
	tr := h2Standard(t, h2, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("x")) // the caller streams one byte, the rest later
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("got a response, want the stream's reset")
	}
	if resilience.IsNeutral(err) {
		t.Errorf("the host's reset came out neutral: %v", err)
	}
	tr.Hosts().Range(func(_ string, p resilience.Policy) bool {
		if got := p.(*resilienthttp.HostPolicy).Breaker.State(); got != breaker.StateOpen {
			t.Errorf("breaker %v after the host reset the stream (ConsecutiveFailures 1), want open", got)
		}
		return true
	})
}

// countingConn counts the writes to a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) { c.writes.Add(1); return c.Conn.Write(p) }

// writeCounting returns a transport whose connections count their writes.
func writeCounting(t *testing.T) (*http.Transport, *atomic.Int64) {
	var writes atomic.Int64
	h := newHTTPTransport(t)
	h.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &writes}, nil
	}
	return h, &writes
}

// TestInMemoryBodyIsOneWrite: a body in memory (http.NewRequest's
// bytes.Reader) is not wrapped: net/http still sends it with the headers in
// one write.
func TestInMemoryBodyIsOneWrite(t *testing.T) {
	srv := newServer(t, statuses(200))
	h, writes := writeCounting(t)
	tr := newStandard(t, h)
	post := func() int64 {
		before := writes.Load()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(bytes.Repeat([]byte("a"), 100)))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return writes.Load() - before
	}
	post() // dials
	if got := post(); got != 1 {
		t.Errorf("a 100-byte POST took %d writes on a reused connection, want 1 (headers and body together)", got)
	}
}

// TestHTTP2NoContentStillOpenReadsToEOF: an HTTP/2 204 or 304 whose stream
// the server has not ended yet keeps its context until read, whether or not
// it declares Content-Length: 0: reading its empty body gives EOF, not a
// reset.
func TestHTTP2NoContentStillOpenReadsToEOF(t *testing.T) {
	for _, declareZero := range []bool{false, true} {
		for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
			release := make(chan struct{})
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			t.Cleanup(free) // also when a check fails before the body is read
			srv, h2, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
				if declareZero {
					w.Header().Set("Content-Length", "0")
				}
				w.WriteHeader(code)
				w.(http.Flusher).Flush()
				<-release // the server is slow to end the stream
			})
			tr := h2Standard(t, h2)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			free()
			_, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				t.Errorf("%d over HTTP/2 (Content-Length: 0 declared %v, stream open): reading its (empty) body: %v, want EOF", code, declareZero, rerr)
			}
		}
	}
}

// TestOtherTransportsJudgeTheirOwnRequests: net/http's rules for refusing
// a request (here: no host) are net/http's; another RoundTripper (a unix
// socket's, say) may serve such a request, and its failures are the
// host's.
func TestOtherTransportsJudgeTheirOwnRequests(t *testing.T) {
	var calls atomic.Int64
	next := roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("socket: backend unavailable")
	})
	tr := resilienthttp.NewTransport(next, retryN(3))
	req, _ := http.NewRequest("GET", "http://placeholder/x", nil)
	req.URL.Host = "" // the socket's path is elsewhere
	_, err := tr.RoundTrip(req)
	if calls.Load() != 3 || resilience.IsNeutral(err) {
		t.Errorf("%d attempts, neutral %v; want 3 attempts and a failure", calls.Load(), resilience.IsNeutral(err))
	}
}

// TestInMemoryBodyOfTheWrongLengthIsTheCallersFault: an in-memory body
// shorter than its declared ContentLength is the caller's mistake: neutral,
// and sent once.
func TestInMemoryBodyOfTheWrongLengthIsTheCallersFault(t *testing.T) {
	srv := newServer(t, statuses(200))
	next, calls := counting(newHTTPTransport(t))
	tr := resilienthttp.NewTransport(next, retryN(3))
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("hello"))
	req.ContentLength = 10 // the caller's mistake
	wantOneNeutralAttempt(t, tr, calls, req)
}

// TestRefusalsThroughAWrappingTransport: net/http refuses a bad header
// also behind a RoundTripper that wraps it (tracing, auth): the refusal is
// still the request's fault, not the host's.
func TestRefusalsThroughAWrappingTransport(t *testing.T) {
	srv := newServer(t, statuses(200))
	h := newHTTPTransport(t)
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) { return h.RoundTrip(r) })
	tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	bad, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	bad.Header.Set("X-User", "a\r\nb")
	if _, err := tr.RoundTrip(bad); err == nil || !resilience.IsNeutral(err) {
		t.Fatalf("bad header: %v, want a neutral error", err)
	}
	stillServes(t, tr, srv.URL, "a caller's bad header")
}

// TestBodiesOfTheWrongLengthAreTheCallersFault: a body whose length is not
// the declared one is the caller's mistake however it is sent: neutral, one
// attempt, and the host's breaker stays closed.
//   - in memory, longer than declared, over HTTP/2: net/http reads one byte
//     past the declared length and fails without reading to EOF;
//   - a file shorter than declared (it shrank after its size was taken), too
//     large to buffer: it is streamed, and net/http's ContentLength error
//     must not open the host's breaker.
func TestBodiesOfTheWrongLengthAreTheCallersFault(t *testing.T) {
	t.Run("in memory, too long, HTTP/2", func(t *testing.T) {
		srv, h2, _ := newH2Server(t, func(_ http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		})
		next, calls := counting(h2)
		tr := h2Standard(t, next)
		req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("0123456789"))
		req.ContentLength = 5 // the caller's mistake
		wantOneNeutralAttempt(t, tr, calls, req)
	})
	t.Run("file, too short, streamed", func(t *testing.T) {
		srv := newServer(t, statuses(200))
		tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithoutRetry(),
			resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
		path := filepath.Join(t.TempDir(), "upload")
		if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		req, _ := http.NewRequest(http.MethodPut, srv.URL, f)
		req.ContentLength = 2 * resilienthttp.DefaultMaxBufferedBody // streamed, not buffered
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("got a response, want net/http's ContentLength error")
		}
		if !resilience.IsNeutral(err) {
			t.Errorf("a file shorter than declared: %v; want a neutral error", err)
		}
		stillServes(t, tr, srv.URL, "the caller's file of the wrong length")
	})
}

// TestFileOfTheDeclaredLengthKeepsSendfile: a file body of the declared
// length is handed to net/http as it is (so that it can use sendfile), from
// its start or from an offset.
func TestFileOfTheDeclaredLengthKeepsSendfile(t *testing.T) {
	var got atomic.Value
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
	})
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 4} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var sent io.Reader
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = r.Body
			return newHTTPTransport(t).RoundTrip(r)
		})
		tr := resilienthttp.NewTransport(next, nil, resilienthttp.WithMaxBufferedBody(0)) // streamed
		req, _ := http.NewRequest(http.MethodPut, srv.URL, f)
		req.ContentLength = 10 - off
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		f.Close()
		if _, ok := sent.(*os.File); !ok {
			t.Errorf("offset %d: the attempt sent a %T, want the *os.File itself", off, sent)
		}
		if want := "0123456789"[off:]; got.Load() != want {
			t.Errorf("offset %d: server got %q, want %q", off, got.Load(), want)
		}
	}
}

// TestRefusalTextsFromElsewhereAreTheHosts: net/http's refusal texts count
// only as net/http's own errors about the caller's request.
//   - a server whose garbage answer quotes such a text ("malformed MIME
//     header line: \"net/http: invalid method GET\"") is failing;
//   - a dependency that redirects to a URL without a host, through an
//     http.Client inside the wrapped transport, is failing;
//   - but the caller's own URL with a scheme net/http does not speak, through
//     that client, is the caller's fault.
func TestRefusalTextsFromElsewhereAreTheHosts(t *testing.T) {
	t.Run("quoted by a broken server", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn) {
			defer c.Close()
			_, _ = http.ReadRequest(bufio.NewReader(c))
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nnet/http: invalid method GET\r\n\r\n")
		})
		h := newHTTPTransport(t)
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) { return h.RoundTrip(r) })
		tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 2}))
		for i := range 3 {
			_, err := mustGet(t, tr, "http://"+addr)
			if err == nil {
				t.Fatal("got a response from a server that answers garbage")
			}
			if i < 2 && resilience.IsNeutral(err) {
				t.Errorf("answer %d: %v: judged the caller's fault, want the host's", i+1, err)
			}
			if i == 2 && !errors.Is(err, resilience.ErrRejected) {
				t.Errorf("third request: %v, want the open breaker's rejection", err)
			}
		}
	})
	viaClient := throughClient(newHTTPTransport(t))
	t.Run("a redirect to no host", func(t *testing.T) {
		srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "http:///login")
			w.WriteHeader(http.StatusFound)
		})
		tr := newStandard(t, viaClient, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
		_, err := mustGet(t, tr, srv.URL)
		if err == nil || resilience.IsNeutral(err) {
			t.Errorf("%v: want a failure of the host's", err)
		}
	})
	t.Run("the caller's scheme", func(t *testing.T) {
		var calls atomic.Int64
		counted := roundTripFunc(func(r *http.Request) (*http.Response, error) { calls.Add(1); return viaClient(r) })
		tr := newStandard(t, counted, quickRetries(3)...)
		req, _ := http.NewRequest(http.MethodGet, "gopher://127.0.0.1:1/x", nil)
		_, err := tr.RoundTrip(req)
		if err == nil || !resilience.IsNeutral(err) || calls.Load() != 1 {
			t.Errorf("%v after %d attempts: want a neutral error after 1", err, calls.Load())
		}
	})
}

// TestControlCharacterInURLIsTheCallersFault: net/http refuses a URL with a
// control character before writing anything; that is the caller's
// mistake, with net/http's transport as the wrapped one or behind a layer.
func TestControlCharacterInURLIsTheCallersFault(t *testing.T) {
	srv := newServer(t, statuses(200))
	h := newHTTPTransport(t)
	for name, next := range map[string]http.RoundTripper{
		"http.Transport": h,
		"wrapped":        roundTripFunc(func(r *http.Request) (*http.Response, error) { return h.RoundTrip(r) }),
	} {
		tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
		bad, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		bad.URL.Opaque = "/a\x7fb" // the caller's mistake
		if _, err := tr.RoundTrip(bad); err == nil || !resilience.IsNeutral(err) {
			t.Errorf("%s: control character in the URL: %v, want a neutral error", name, err)
		}
		resp, err := mustGet(t, tr, srv.URL)
		if err != nil {
			t.Errorf("%s: a good request after the caller's bad URL: %v", name, err)
			continue
		}
		readAll(t, resp)
	}
}

// TestInMemoryBodyOfUnknownLengthIsNotWrapped: an in-memory body of unknown
// length (Body set by hand, ContentLength 0) cannot fail and has no length
// to check: it is sent as net/http alone sends it, in as many writes.
func TestInMemoryBodyOfUnknownLengthIsNotWrapped(t *testing.T) {
	srv := newServer(t, statuses(200))
	h, writes := writeCounting(t)
	post := func(rt http.RoundTripper) int64 {
		before := writes.Load()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		req.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("a"), 100))) // ContentLength stays 0
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return writes.Load() - before
	}
	tr := newStandard(t, h)
	post(tr) // dials
	if got, want := post(tr), post(h); got != want {
		t.Errorf("a 100-byte POST of unknown length took %d writes through the Transport, %d through net/http alone", got, want)
	}
}
