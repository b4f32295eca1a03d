package resilienthttp_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/resilienthttp"
)

// received is what the server saw of one request.
type received struct {
	body          string
	contentLength int64
	chunked       bool
}

// recordingServer answers 503 to the first fails requests, then 200, and
// records each request's body and length.
func recordingServer(t *testing.T, fails int64) (*server, func() []received) {
	var mu sync.Mutex
	var got []received
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{string(b), r.ContentLength, len(r.TransferEncoding) > 0})
		mu.Unlock()
		if n <= fails {
			w.WriteHeader(503)
		}
	})
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

// onlyReader hides every method but Read, so that net/http cannot learn the
// length or make a GetBody.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestRequestBodies(t *testing.T) {
	const payload = "the same bytes, every time"
	n := int64(len(payload))
	tests := []struct {
		name     string
		req      func(url string) *http.Request
		opts     []resilienthttp.Option
		attempts int
		length   int64 // Content-Length the server sees; -1 when chunked
	}{
		{"GetBody", func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, strings.NewReader(payload))
			return req
		}, nil, 3, n},
		{"buffered: known length, no GetBody", func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, onlyReader{strings.NewReader(payload)})
			req.ContentLength = n
			return req
		}, nil, 3, n},
		{"buffered: length exactly the cap", func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, onlyReader{strings.NewReader(payload)})
			req.ContentLength = n
			return req
		}, []resilienthttp.Option{resilienthttp.WithMaxBufferedBody(n)}, 3, n},
		{"streamed once: length above the cap", func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, onlyReader{strings.NewReader(payload)})
			req.ContentLength = n
			return req
		}, []resilienthttp.Option{resilienthttp.WithMaxBufferedBody(n - 1)}, 1, n},
		{"streamed once: buffering off", func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, onlyReader{strings.NewReader(payload)})
			req.ContentLength = n
			return req
		}, []resilienthttp.Option{resilienthttp.WithMaxBufferedBody(0)}, 1, n},
		{"streamed once: unknown length", func(url string) *http.Request {
			req, _ := http.NewRequest("PUT", url, onlyReader{strings.NewReader(payload)})
			return req
		}, nil, 1, -1},
		{"POST with GetBody and Idempotency-Key", func(url string) *http.Request {
			req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(payload)))
			req.Header.Set("Idempotency-Key", "k1")
			return req
		}, nil, 3, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := recordingServer(t, 2)
			tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(3), tt.opts...)
			resp, err := tr.RoundTrip(tt.req(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			reqs := got()
			if len(reqs) != tt.attempts {
				t.Fatalf("server got %d requests, want %d", len(reqs), tt.attempts)
			}
			for i, r := range reqs {
				if r.body != payload {
					t.Errorf("attempt %d sent %q, want %q", i+1, r.body, payload)
				}
				if r.contentLength != tt.length {
					t.Errorf("attempt %d had Content-Length %d, want %d", i+1, r.contentLength, tt.length)
				}
			}
		})
	}
}

// TestBodyLengthMismatch: a body without GetBody whose length differs from
// its Content-Length is sent once, as net/http would send it: the bytes
// read while trying to buffer it are put back in front, so that net/http
// reports the same mismatch as without the transport.
func TestBodyLengthMismatch(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		length     int64
	}{
		{"longer than declared", "0123456789abcdef", 10},
		{"shorter than declared", "0123", 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			send := func(rt http.RoundTripper) (int64, error) {
				// The server never answers (it waits for the client to go
				// away, or a while): else its answer to the declared
				// bytes could reach net/http before the mismatch does.
				srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
				})
				req, _ := http.NewRequest("PUT", srv.URL, onlyReader{strings.NewReader(tt.body)})
				req.ContentLength = tt.length
				resp, err := rt.RoundTrip(req)
				if err == nil {
					readAll(t, resp)
				}
				return srv.requests.Load(), err
			}
			_, plainErr := send(newHTTPTransport(t))
			n, err := send(resilienthttp.NewTransport(newHTTPTransport(t), retryN(3)))
			if plainErr == nil || err == nil || !strings.HasSuffix(err.Error(), plainErr.Error()) {
				t.Errorf("got error %v; want the error of net/http alone: %v", err, plainErr)
			}
			if n > 1 {
				t.Errorf("server got %d requests, want at most 1: the body cannot be replayed", n)
			}
		})
	}
}

// TestLargeBodyIsStreamed: a body above the cap, or of unknown length, is
// not read before the request is on its way: the server sees the headers
// while the body's first byte is still held back. Buffering it would block.
func TestLargeBodyIsStreamed(t *testing.T) {
	for _, length := range []int64{-1, 2 << 20} {
		t.Run(itoa(max(length, 0)), func(t *testing.T) {
			headers := make(chan struct{})
			srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
				close(headers)
				n, _ := io.Copy(io.Discard, r.Body)
				io.WriteString(w, itoa(n))
			})
			size := int64(2 << 20)
			body := &gatedReader{gate: headers, r: io.LimitReader(zeros{}, size)}
			req, _ := http.NewRequest("PUT", srv.URL, body)
			req.ContentLength = length
			tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(3))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, resp); got != itoa(size) {
				t.Errorf("server read %s bytes, want %d", got, size)
			}
		})
	}
}

// gatedReader blocks its first Read until gate is closed, or fails it
// after a while, so that a transport that reads the body before sending the
// headers fails the test instead of hanging it.
type gatedReader struct {
	gate   chan struct{}
	r      io.Reader
	opened bool
	err    error // sticky: a reader that timed out stays broken
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if !g.opened {
		select {
		case <-g.gate:
		case <-time.After(5 * time.Second):
			g.err = errors.New("body read before the request was sent")
			return 0, g.err
		}
		g.opened = true
	}
	return g.r.Read(p)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestCallerRequestUnchanged: the caller's request is the same after
// RoundTrip, field by field, whatever the attempts did to their copies,
// through NewTransport and through the standard transport (which makes its
// copies its own way).
func TestCallerRequestUnchanged(t *testing.T) {
	for _, c := range []struct {
		name string
		rt   func(t *testing.T) http.RoundTripper
	}{
		{"transport", func(t *testing.T) http.RoundTripper {
			return resilienthttp.NewTransport(newHTTPTransport(t), retryN(3))
		}},
		{"standard", func(t *testing.T) http.RoundTripper {
			return newStandard(t, newHTTPTransport(t), quickRetries(3)...)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, got := recordingServer(t, 2)
			tr := c.rt(t)
			for _, withGetBody := range []bool{true, false} {
				callerRequestUnchanged(t, tr, srv.URL, withGetBody)
			}
			// 503, 503, 200 for the first request, 200 for the second.
			if n := len(got()); n != 4 {
				t.Errorf("the server got %d requests, want 4: the attempts were not all made", n)
			}
		})
	}
}

func callerRequestUnchanged(t *testing.T, tr http.RoundTripper, url string, withGetBody bool) {
	t.Helper()
	var req *http.Request
	if withGetBody {
		req, _ = http.NewRequest("PUT", url+"/a?b=c", strings.NewReader("payload"))
	} else {
		req, _ = http.NewRequest("PUT", url+"/a?b=c", onlyReader{strings.NewReader("payload")})
		req.ContentLength = 7
	}
	req.Header.Set("X-Custom", "1")
	before := *req
	u := *req.URL
	header := req.Header.Clone()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if req.Body != before.Body || req.ContentLength != before.ContentLength ||
		req.Method != before.Method || req.Host != before.Host || req.URL != before.URL ||
		req.Context() != before.Context() || req.Close != before.Close ||
		reflect.ValueOf(req.GetBody).Pointer() != reflect.ValueOf(before.GetBody).Pointer() {
		t.Errorf("GetBody %v: the request's fields changed", withGetBody)
	}
	if *req.URL != u {
		t.Errorf("GetBody %v: URL changed to %v, want %v", withGetBody, req.URL, &u)
	}
	if !reflect.DeepEqual(req.Header, header) {
		t.Errorf("GetBody %v: header changed to %v, want %v", withGetBody, req.Header, header)
	}
	if len(req.TransferEncoding) != 0 || req.Trailer != nil {
		t.Errorf("GetBody %v: transfer fields changed", withGetBody)
	}
}
