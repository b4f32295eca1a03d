package resilienthttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/timeout"
)

// TestStreamedBodyFailureNotRetried: a request whose body was streamed (no
// GetBody, unknown length) cannot be sent again, so its first failure, a
// network error or a failure response, is final: the policy is told not to
// retry it (no backoff wait, no budget spent), and the caller gets the
// attempt's own error or response, not "cannot be sent again".
func TestStreamedBodyFailureNotRetried(t *testing.T) {
	errReset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name   string
		answer func(*http.Request) (*http.Response, error)
	}{
		{"network error", func(*http.Request) (*http.Response, error) { return nil, errReset }},
		{"503", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader("busy")), Request: r}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent atomic.Int64
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent.Add(1)
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				return tt.answer(r)
			})
			var ops []error
			policy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				var err error
				for range 3 {
					err = op(ctx)
					ops = append(ops, err)
					if err == nil || isPermanent(err) {
						return err
					}
				}
				return err
			})
			tr := resilienthttp.NewTransport(next, policy)
			// A PUT (idempotent) with a body of unknown length: streamed once.
			req, _ := http.NewRequest("PUT", "http://127.0.0.1:1/items/1", io.NopCloser(strings.NewReader("payload")))
			resp, err := tr.RoundTrip(req)
			if resp != nil {
				readAll(t, resp)
			}
			if got := sent.Load(); got != 1 {
				t.Errorf("sent %d times, want 1", got)
			}
			if len(ops) != 1 || !isPermanent(ops[0]) {
				t.Errorf("policy ran the op %d times with errors %v; want once, with a permanent error", len(ops), ops)
			}
			if resp == nil {
				if !errors.Is(err, errReset) {
					t.Errorf("got %v, want the attempt's error %v", err, errReset)
				}
			} else if resp.StatusCode != 503 {
				t.Errorf("got %d, want 503", resp.StatusCode)
			}
		})
	}
}

// unreadBody is a response body that records whether it was read.
type unreadBody struct {
	read, closed atomic.Bool
}

func (b *unreadBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return copy(p, "error page"), io.EOF
}

func (b *unreadBody) Close() error { b.closed.Store(true); return nil }

// TestDrainOffReadsNothing: with draining turned off (WithMaxDrain(n <= 0)),
// the body of a response that is retried away is closed without reading a
// byte of it: a slow or endless body never holds up the next attempt.
func TestDrainOffReadsNothing(t *testing.T) {
	for _, n := range []int64{0, -1} {
		var first unreadBody
		var calls atomic.Int64
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				return &http.Response{StatusCode: 503, Body: &first, ContentLength: -1, Request: r}, nil
			}
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
		})
		tr := resilienthttp.NewTransport(next, retryN(2), resilienthttp.WithMaxDrain(n))
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Errorf("WithMaxDrain(%d): got body %q, want %q", n, got, "ok")
		}
		if first.read.Load() || !first.closed.Load() {
			t.Errorf("WithMaxDrain(%d): retried-away body read %v, closed %v; want closed unread", n, first.read.Load(), first.closed.Load())
		}
	}
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closes atomic.Int64
}

func (c *closeCounter) Close() error { c.closes.Add(1); return nil }

// TestBufferedBodyClosedOnce: a body without GetBody that the transport
// buffers is closed by RoundTrip, once, as the RoundTripper contract asks.
func TestBufferedBodyClosedOnce(t *testing.T) {
	srv := newServer(t, statuses(503, 200))
	tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2))
	body := &closeCounter{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest("PUT", srv.URL, body)
	req.ContentLength = int64(len("payload"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got := srv.requests.Load(); got != 2 {
		t.Fatalf("server got %d requests, want 2 (the body was buffered)", got)
	}
	if got := body.closes.Load(); got != 1 {
		t.Errorf("caller's body closed %d times, want 1", got)
	}
}

// TestBufferedBodyGetBodyForInnerLayers: an attempt that sends a buffered
// body carries a GetBody, so that a layer inside (an http.Client following a
// 307, net/http replaying on a dead keep-alive connection) can send it again.
func TestBufferedBodyGetBodyForInnerLayers(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
			return
		}
		w.Write(b)
	})
	tr := resilienthttp.NewTransport(throughClient(newHTTPTransport(t)), nil)
	req, _ := http.NewRequest("POST", srv.URL+"/old", io.NopCloser(strings.NewReader("payload")))
	req.ContentLength = int64(len("payload")) // no GetBody: buffered
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "payload" {
		t.Errorf("got %d %q, want 200 %q (the redirect followed with the body)", resp.StatusCode, got, "payload")
	}
}

// TestResponseRequestIsCallers: the response's Request is the caller's
// request, also when attempts sent copies of it (under deadlines, with a
// buffered body).
func TestResponseRequestIsCallers(t *testing.T) {
	srv := newServer(t, statuses(503, 200))
	tests := []struct {
		name string
		tr   http.RoundTripper
	}{
		{"standard", newStandard(t, newHTTPTransport(t), quickRetries(2)...)},
		{"buffered body", resilienthttp.NewTransport(newHTTPTransport(t), retryN(2))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.requests.Store(0)
			req, _ := http.NewRequest("PUT", srv.URL, io.NopCloser(strings.NewReader("payload")))
			req.ContentLength = int64(len("payload"))
			resp, err := tt.tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if resp.StatusCode != 200 {
				t.Errorf("got %d, want 200", resp.StatusCode)
			}
			if resp.Request != req {
				t.Errorf("resp.Request is %p, want the caller's request %p", resp.Request, req)
			}
		})
	}
}

// TestAttemptTimeoutHalfOverallBelowTwice: an overall timeout under twice the
// default attempt timeout, but above it, makes the default attempt timeout
// half the overall one.
func TestAttemptTimeoutHalfOverallBelowTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		overall := resilienthttp.DefaultAttemptTimeout * 3 / 2 // 15 s: between 1 and 2 attempt timeouts
		next := &hangUntilDone{statuses: []int{0}, start: time.Now()}
		tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithOverallTimeout(overall))...)
		req, _ := http.NewRequest("GET", "http://inventory.test/items", nil)
		_, err := tr.RoundTrip(req)
		var te *timeout.Error
		if !errors.As(err, &te) || te.Name != "overall" {
			t.Errorf("got %v, want the overall timeout", err)
		}
		if want := []time.Duration{0, overall / 2}; !equalDurations(next.starts, want) {
			t.Errorf("attempts started at %v, want %v", next.starts, want)
		}
	})
}

// TestErrorTimeoutOnlyForTimeouts: Error.Timeout is false for a cause that
// has a Timeout method reporting false (a refused connection), so that an
// http.Client does not call it a timeout.
func TestErrorTimeoutOnlyForTimeouts(t *testing.T) {
	tr := resilienthttp.NewTransport(newHTTPTransport(t), nil)
	req, _ := http.NewRequest("GET", "http://"+closedAddr(t)+"/", nil)
	_, err := tr.RoundTrip(req)
	var e *resilienthttp.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *resilienthttp.Error", err)
	}
	var ne net.Error
	if !errors.As(e.Err, &ne) {
		t.Fatalf("cause %v is no net.Error", e.Err)
	}
	if e.Timeout() {
		t.Errorf("Timeout() of %v is true, want false", err)
	}
}

// TestErrorMethodDefaultsToGet: an empty method is GET in the error.
func TestErrorMethodDefaultsToGet(t *testing.T) {
	reject := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return errors.New("no") })
	u, _ := url.Parse("http://127.0.0.1:1/items")
	_, err := resilienthttp.NewTransport(nil, reject).RoundTrip(&http.Request{URL: u, Header: http.Header{}})
	var e *resilienthttp.Error
	if !errors.As(err, &e) || e.Method != "GET" || !strings.HasPrefix(err.Error(), "resilienthttp: GET ") {
		t.Errorf("got %v, want a *resilienthttp.Error with method GET", err)
	}
}

// TestRedactUserinfoWithAt: userinfo that a hand-built URL put into Host
// is dropped up to its last '@', so a password holding an '@' leaks no part
// of itself into errors, and the host key is the host alone.
func TestRedactUserinfoWithAt(t *testing.T) {
	u := &url.URL{Scheme: "http", Host: "alice:hunt@er2@example.com", Path: "/v1"}
	reject := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return errors.New("no") })
	_, err := resilienthttp.NewTransport(nil, reject).RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{}})
	var e *resilienthttp.Error
	if !errors.As(err, &e) || e.URL != "http://example.com/v1" {
		t.Errorf("got %v, want URL %q", err, "http://example.com/v1")
	}
	if got := resilienthttp.HostKey(&http.Request{URL: u}); got != "example.com" {
		t.Errorf("HostKey = %q, want %q", got, "example.com")
	}
}

// TestStandardBreakerWindowDefault: the failure-ratio rule of a host's
// breaker counts the calls of the last DefaultBreakerWindow only: failures
// older than that do not add up with new ones to trip it.
func TestStandardBreakerWindowDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &hangUntilDone{statuses: []int{503}, start: time.Now()}
		tr := newStandard(t, next, resilienthttp.WithoutRetry(),
			resilienthttp.WithBreaker(breaker.Config{FailureRatio: 0.5, MinCalls: 4})) // Window: the default
		get := func() {
			req, _ := http.NewRequest("GET", "http://inventory.test/items", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			readAll(t, resp)
		}
		get()
		get()
		time.Sleep(resilienthttp.DefaultBreakerWindow + time.Second) // sleep-ok: fake time inside a synctest bubble
		get()
		get()
		tr.Hosts().Range(func(host string, p resilience.Policy) bool {
			if got := p.(*resilienthttp.HostPolicy).Breaker.State(); got != breaker.StateClosed {
				t.Errorf("host %s: breaker %v, want closed (the first failures left the window)", host, got)
			}
			return true
		})
	})
}

// TestHostPolicyRetainsWhileBulkheadBusy: a HostPolicy whose bulkhead has a
// call in flight reports Retain, even with its breaker closed.
func TestHostPolicyRetainsWhileBulkheadBusy(t *testing.T) {
	tr := newStandard(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	resp, err := mustGet(t, tr, "http://inventory.test/items")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	p, err := tr.Hosts().Policy("inventory.test")
	if err != nil {
		t.Fatal(err)
	}
	h := keyed.Instance(p).(*resilienthttp.HostPolicy)
	if h.Retain() {
		t.Fatal("Retain() is true with nothing in flight and the breaker closed")
	}
	var during bool
	if err := h.Do(context.Background(), func(context.Context) error {
		during = h.Retain()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !during {
		t.Error("Retain() is false while a call is in flight in the bulkhead")
	}
}

type failAfter struct{ err error }

func (f failAfter) Read([]byte) (int, error) { return 0, f.err }

// TestBodyFailingAtItsEndIsNotSent: a body that delivers its declared
// length and then fails instead of ending (an upload aborted at its last
// byte) is the caller's fault: RoundTrip fails, neutral, rather than buffer
// the bytes read and send them as if the body were whole. The wrapped
// transport reads past the declared length, as net/http does to find a body
// that is too long.
func TestBodyFailingAtItsEndIsNotSent(t *testing.T) {
	errAbort := errors.New("upload aborted")
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	rec := &recorder{}
	tr := resilienthttp.NewTransport(next, rec)
	req, _ := http.NewRequest("PUT", "http://127.0.0.1:1/items/1", io.NopCloser(io.MultiReader(strings.NewReader("payload"), failAfter{errAbort})))
	req.ContentLength = int64(len("payload"))
	resp, err := tr.RoundTrip(req)
	if err == nil {
		readAll(t, resp)
		t.Fatalf("got %d, want an error", resp.StatusCode)
	}
	if !errors.Is(err, errAbort) {
		t.Errorf("got %v, want it to match %v", err, errAbort)
	}
	if errs := rec.errors(); len(errs) != 1 || !resilience.IsNeutral(errs[0]) {
		t.Errorf("op errors %v, want one neutral error", errs)
	}
}
