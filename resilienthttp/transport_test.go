package resilienthttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilienthttp"
)

func TestRetriesFailuresUntilSuccess(t *testing.T) {
	srv := newServer(t, statuses(503, 503, 200))
	client := &http.Client{Transport: resilienthttp.NewTransport(newHTTPTransport(t), retryN(5))}
	resp, err := client.Get(srv.URL + "/inventory")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "attempt 3" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, got, "attempt 3")
	}
	if got := srv.requests.Load(); got != 3 {
		t.Errorf("server got %d requests, want 3", got)
	}
}

// TestClassification checks what the policy sees for each status, how
// often the request is sent under a retry, and that the caller always gets
// the response with a nil error.
func TestClassification(t *testing.T) {
	tests := []struct {
		code     int
		want     string // "success", "failure" or "client"
		attempts int64
	}{
		{200, "success", 1},
		{204, "success", 1},
		{304, "success", 1},
		{500, "failure", 3},
		{502, "failure", 3},
		{503, "failure", 3},
		{504, "failure", 3},
		{408, "failure", 3},
		{429, "failure", 3},
		{400, "client", 1},
		{401, "client", 1},
		{403, "client", 1},
		{404, "client", 1},
		{409, "client", 1},
		{422, "client", 1},
		{501, "client", 1},
		{505, "client", 1},
	}
	for _, tt := range tests {
		t.Run(itoa(int64(tt.code)), func(t *testing.T) {
			srv := newServer(t, statuses(tt.code))
			rec := &recorder{}
			tr := resilienthttp.NewTransport(newHTTPTransport(t), resilience.Chain(retryN(3), rec))
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: got error %v, want a response with a nil error", err)
			}
			readAll(t, resp)
			if resp.StatusCode != tt.code {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.code)
			}
			if got := srv.requests.Load(); got != tt.attempts {
				t.Errorf("server got %d requests, want %d", got, tt.attempts)
			}
			errs := rec.errors()
			opErr := errs[len(errs)-1]
			var se *resilienthttp.StatusError
			switch tt.want {
			case "success":
				if opErr != nil {
					t.Errorf("op error %v, want nil", opErr)
				}
			case "failure":
				if !errors.As(opErr, &se) || se.Response.StatusCode != tt.code {
					t.Errorf("op error %v, want a *StatusError with status %d", opErr, tt.code)
				}
				if resilience.IsNeutral(opErr) || isPermanent(opErr) {
					t.Errorf("op error %v: neutral %v, permanent %v; want neither", opErr, resilience.IsNeutral(opErr), isPermanent(opErr))
				}
			case "client":
				if !errors.As(opErr, &se) || se.Response.StatusCode != tt.code {
					t.Errorf("op error %v, want a *StatusError with status %d", opErr, tt.code)
				}
				if !resilience.IsNeutral(opErr) || !isPermanent(opErr) {
					t.Errorf("op error %v: neutral %v, permanent %v; want both", opErr, resilience.IsNeutral(opErr), isPermanent(opErr))
				}
			}
		})
	}
}

func TestDefaultClassifierOddCodes(t *testing.T) {
	tests := []struct {
		code int
		want resilienthttp.Outcome
	}{
		{101, resilienthttp.Success},
		{399, resilienthttp.Success},
		{499, resilienthttp.ClientError},
		{599, resilienthttp.Failure},
		{600, resilienthttp.Failure},
		{999, resilienthttp.Failure},
		{0, resilienthttp.Failure},
	}
	for _, tt := range tests {
		if got := resilienthttp.DefaultClassifier(&http.Response{StatusCode: tt.code}); got != tt.want {
			t.Errorf("DefaultClassifier(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestWithClassifier(t *testing.T) {
	srv := newServer(t, statuses(404, 404, 200))
	// A service that answers 404 for an item that is still being created.
	notFoundIsTransient := resilienthttp.WithClassifier(func(resp *http.Response) resilienthttp.Outcome {
		if resp.StatusCode == 404 {
			return resilienthttp.Failure
		}
		return resilienthttp.DefaultClassifier(resp)
	})
	tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(3), notFoundIsTransient)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "attempt 3" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, got, "attempt 3")
	}
}

// TestLastResponseReturned: when attempts end on a failure response, for
// whatever reason, the caller gets that response, intact, and a nil error.
func TestLastResponseReturned(t *testing.T) {
	errOpen := resilience.NewRejection("breaker: open")
	tests := []struct {
		name   string
		policy resilience.Policy
		want   string
	}{
		{"retries exhausted", retryN(3), "attempt 3"},
		{"no retry", nil, "attempt 1"},
		{"rejected before the next attempt", resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			if err := op(ctx); err == nil {
				return nil
			}
			return errOpen // the breaker opened: the next attempt never runs
		}), "attempt 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, statuses(503))
			tr := resilienthttp.NewTransport(newHTTPTransport(t), tt.policy)
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v, want a nil error", err)
			}
			if got := readAll(t, resp); resp.StatusCode != 503 || got != tt.want {
				t.Errorf("got %d %q, want 503 %q", resp.StatusCode, got, tt.want)
			}
			if resp.Request != req {
				t.Errorf("resp.Request is not the caller's request")
			}
		})
	}
}

func TestRejectionWithoutResponse(t *testing.T) {
	srv := newServer(t, statuses(200))
	errFull := resilience.NewRejection("bulkhead: full")
	full := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return errFull })
	body := &closeRecorder{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest("PUT", srv.URL, body)
	resp, err := resilienthttp.NewTransport(newHTTPTransport(t), full).RoundTrip(req)
	if resp != nil {
		t.Errorf("got a response, want none")
	}
	if !errors.Is(err, errFull) || !errors.Is(err, resilience.ErrRejected) {
		t.Errorf("err %v does not match the policy's sentinel", err)
	}
	var e *resilienthttp.Error
	if !errors.As(err, &e) || e.Method != "PUT" {
		t.Errorf("err %v: want a *resilienthttp.Error for PUT", err)
	}
	if !body.closed.Load() {
		t.Errorf("the request body was not closed")
	}
	if got := srv.requests.Load(); got != 0 {
		t.Errorf("server got %d requests, want 0", got)
	}
}

func TestNoResponseFromPolicy(t *testing.T) {
	srv := newServer(t, statuses(200))
	skip := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return nil })
	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err := resilienthttp.NewTransport(newHTTPTransport(t), skip).RoundTrip(req)
	if !errors.Is(err, resilienthttp.ErrNoResponse) {
		t.Errorf("err %v, want ErrNoResponse", err)
	}

	// A policy that swallows a network error: the caller gets the error.
	swallow := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		op(ctx)
		return nil
	})
	req, _ = http.NewRequest("GET", "http://"+closedAddr(t)+"/", nil)
	_, err = resilienthttp.NewTransport(newHTTPTransport(t), swallow).RoundTrip(req)
	if err == nil || errors.Is(err, resilienthttp.ErrNoResponse) {
		t.Errorf("err %v, want the dial error", err)
	}
}

func TestNilRequestAndZeroTransport(t *testing.T) {
	var tr resilienthttp.Transport
	if _, err := tr.RoundTrip(nil); err == nil {
		t.Errorf("RoundTrip(nil): got no error")
	}
	srv := newServer(t, statuses(503, 200))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req) // http.DefaultTransport, no policy
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 503 {
		t.Errorf("got %d, want 503 (no policy, no retry)", resp.StatusCode)
	}
	tr.CloseIdleConnections() // of http.DefaultTransport, for goleak
}

// TestDiscardedBodiesReuseTheConnection: every response retried away is
// drained and closed, so one connection serves the whole retried request.
func TestDiscardedBodiesReuseTheConnection(t *testing.T) {
	errorPage := strings.Repeat("x", 8<<10)
	// ignoresPermanent retries whatever the error: the transport then
	// discards a response it did not read ahead when the next attempt starts.
	ignoresPermanent := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		op(ctx)
		op(ctx)
		return op(ctx)
	})
	tests := []struct {
		name   string
		method string
		policy resilience.Policy
		opts   []resilienthttp.Option
		conns  int64
	}{
		{"read ahead", "GET", retryN(3), nil, 1},
		{"drained when the next attempt starts", "POST", ignoresPermanent, nil, 1},
		// Without draining, each discarded body takes its connection along:
		// this is what the test detects.
		{"draining off", "GET", retryN(3), []resilienthttp.Option{resilienthttp.WithMaxDrain(0)}, 3},
		{"draining off, POST", "POST", ignoresPermanent, []resilienthttp.Option{resilienthttp.WithMaxDrain(0)}, 3},
		// A body above the drain limit is closed, not read to its end.
		{"body above the limit", "GET", retryN(3), []resilienthttp.Option{resilienthttp.WithMaxDrain(1 << 10)}, 3},
		{"body above the limit, POST", "POST", ignoresPermanent, []resilienthttp.Option{resilienthttp.WithMaxDrain(1 << 10)}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if n < 3 {
					w.Header().Set("Content-Length", itoa(int64(len(errorPage))))
					w.WriteHeader(503)
					io.WriteString(w, errorPage)
					return
				}
				io.WriteString(w, "ok")
			})
			client := &http.Client{Transport: resilienthttp.NewTransport(newHTTPTransport(t), tt.policy, tt.opts...)}
			req, _ := http.NewRequest(tt.method, srv.URL, strings.NewReader("payload"))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, resp); got != "ok" {
				t.Errorf("got body %q, want %q", got, "ok")
			}
			if got := srv.requests.Load(); got != 3 {
				t.Errorf("server got %d requests, want 3", got)
			}
			if got := srv.conns.Load(); got != tt.conns {
				t.Errorf("server accepted %d connections, want %d", got, tt.conns)
			}
		})
	}
}

// TestConnectionFreeDuringBackoff: the body of a failure response that may
// be retried is read when it arrives, so its connection is back in the pool
// while the retry waits, not only when the next attempt starts (by then the
// attempt's deadline may have passed and taken the connection along). With
// one connection per host allowed, another request made during the wait
// gets it at once.
func TestConnectionFreeDuringBackoff(t *testing.T) {
	srv := newServer(t, statuses(503, 200))
	httpTr := newHTTPTransport(t)
	httpTr.MaxConnsPerHost = 1
	var sideErr error
	backoff := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil || isPermanent(err) {
			return err
		}
		// During the wait: a request of someone else on the same transport.
		side, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(side, "GET", srv.URL, nil)
		resp, err := httpTr.RoundTrip(req)
		if sideErr = err; err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return op(ctx)
	})
	tr := resilienthttp.NewTransport(httpTr, backoff)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if sideErr != nil {
		t.Errorf("request during the backoff wait: %v; the connection was not free", sideErr)
	}
	if got := srv.conns.Load(); got != 1 {
		t.Errorf("server accepted %d connections, want 1", got)
	}
}

// TestFinalFailureBodyIntact: the body of the last response, read ahead in
// case of another attempt, reaches the caller byte for byte, below and
// above the drain limit.
func TestFinalFailureBodyIntact(t *testing.T) {
	for _, size := range []int{0, 1, 100, 1 << 10, 4 << 10, 100 << 10} {
		t.Run(itoa(int64(size)), func(t *testing.T) {
			page := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
				w.Write(page)
			})
			tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2), resilienthttp.WithMaxDrain(4<<10))
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, resp); got != string(page) {
				t.Errorf("got a body of %d bytes, want the %d bytes sent", len(got), len(page))
			}
		})
	}
}

// TestConcurrentAttempts: a hedging policy that runs two attempts at once;
// one response reaches the caller, the other is discarded, nothing races.
func TestConcurrentAttempts(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
		}
		io.WriteString(w, "attempt")
	})
	hedge := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = op(ctx) })
		}
		wg.Wait()
		if errs[0] == nil || errs[1] == nil {
			return nil
		}
		return errs[0]
	})
	tr := resilienthttp.NewTransport(newHTTPTransport(t), hedge)
	for range 20 {
		srv.requests.Store(0)
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); resp.StatusCode != 200 || got != "attempt" {
			t.Fatalf("got %d %q, want the success: 200 %q", resp.StatusCode, got, "attempt")
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// Regression: an attempt that starts after another attempt of the same
// request succeeded (a hedging policy) must not throw the success away; a
// success beats a failure whatever the order.
func TestLaterAttemptKeepsAnEarlierSuccess(t *testing.T) {
	srv := newServer(t, statuses(200, 503))
	hedge := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		first := op(ctx)
		second := op(ctx) // the hedge, sent although the first has succeeded
		if first == nil {
			return nil
		}
		return second
	})
	client := &http.Client{Transport: resilienthttp.NewTransport(newHTTPTransport(t), hedge)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "attempt 1" {
		t.Errorf("got %d %q, want the first attempt's 200 %q", resp.StatusCode, got, "attempt 1")
	}
	if got := srv.requests.Load(); got != 2 {
		t.Errorf("server got %d requests, want 2", got)
	}
}

// Regression: a body declaring the largest Content-Length with the largest
// buffer cap is streamed once, not buffered (n+1 would overflow).
func TestHugeContentLengthIsNotBuffered(t *testing.T) {
	srv := newServer(t, statuses(200))
	client := &http.Client{Transport: resilienthttp.NewTransport(newHTTPTransport(t), retryN(2),
		resilienthttp.WithMaxBufferedBody(math.MaxInt64))}
	req, err := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("short"))
	if err != nil {
		t.Fatal(err)
	}
	req.GetBody = nil
	req.ContentLength = math.MaxInt64
	resp, err := client.Do(req) // net/http itself rejects the length mismatch
	if err == nil {
		readAll(t, resp)
	}
}
