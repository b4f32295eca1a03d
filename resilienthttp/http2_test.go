package resilienthttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// The transport's guarantees hold over HTTP/2 too, whose client code path in
// net/http is a different one (streams multiplexed on one connection, its own
// watch on the request's context). These tests run the standard transport
// against an HTTP/2 server with TLS on 127.0.0.1.

// newH2Server starts an HTTP/2 server (TLS, 127.0.0.1) and returns it with
// an *http.Transport that speaks HTTP/2 to it, and the count of connections
// it accepted.
func newH2Server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *http.Transport, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport)
	t.Cleanup(tr.CloseIdleConnections)
	return srv, tr, &conns
}

func h2Standard(t *testing.T, tr http.RoundTripper, opts ...resilienthttp.StandardOption) *resilienthttp.Transport {
	t.Helper()
	opts = append([]resilienthttp.StandardOption{
		resilienthttp.WithoutBudget(),
		resilienthttp.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond}),
	}, opts...)
	st, err := resilienthttp.NewStandardTransport(tr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestHTTP2RetriesReplayBodyOnOneConnection: failures are retried over
// HTTP/2 with the same body bytes every attempt, the discarded responses do
// not cost a connection, and the caller's request is left as it was.
func TestHTTP2RetriesReplayBodyOnOneConnection(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
		protos []int
		n      atomic.Int64
	)
	srv, tr, conns := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		protos = append(protos, r.ProtoMajor)
		mu.Unlock()
		if n.Add(1) < 3 {
			w.WriteHeader(503)
			io.WriteString(w, strings.Repeat("e", 10<<10)) // drained, not read by the caller
			return
		}
		io.WriteString(w, "done")
	})
	st := h2Standard(t, tr)
	payload := "the same bytes every time"
	// No GetBody: the transport buffers the body to replay it.
	req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader(payload)))
	req.ContentLength = int64(len(payload))
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := st.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("got HTTP/%d, want HTTP/2", resp.ProtoMajor)
	}
	if got := readAll(t, resp); got != "done" {
		t.Errorf("got body %q, want %q", got, "done")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("server saw %d attempts, want 3", len(bodies))
	}
	for i, b := range bodies {
		if b != payload || protos[i] != 2 {
			t.Errorf("attempt %d: got body %q over HTTP/%d, want %q over HTTP/2", i+1, b, protos[i], payload)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("server accepted %d connections, want 1", got)
	}
	if req.Header.Get("Idempotency-Key") != "k1" || req.ContentLength != int64(len(payload)) {
		t.Errorf("the caller's request was modified: %v %d", req.Header, req.ContentLength)
	}
}

// TestHTTP2BodyOutlivesRoundTripAndTimeoutsBoundIt: over HTTP/2 the body
// stays readable after RoundTrip returned under both built-in timeouts, and
// the per-attempt timeout ends a stream that hangs, which is retried on the
// same connection.
func TestHTTP2BodyOutlivesRoundTripAndTimeoutsBoundIt(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	srv, tr, conns := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i == 1 {
			<-r.Context().Done() // the first attempt hangs until the client gives up
			return
		}
		slowBody(release)(i, w, r)
	})
	st := h2Standard(t, tr, resilienthttp.WithAttemptTimeout(200*time.Millisecond), resilienthttp.WithOverallTimeout(5*time.Second))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := st.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("got HTTP/%d, want HTTP/2", resp.ProtoMajor)
	}
	close(release)
	if got := readAll(t, resp); got != "first part;second part" {
		t.Errorf("got body %q, want %q", got, "first part;second part")
	}
	if got := n.Load(); got != 2 {
		t.Errorf("server saw %d attempts, want 2 (one timed out)", got)
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("server accepted %d connections, want 1: a timed-out stream does not cost the connection", got)
	}
}

// TestHTTP2AttemptTimeoutEndsBodyRead: a body that stalls after RoundTrip
// returned is ended by the attempt's deadline, with an error that says so.
func TestHTTP2AttemptTimeoutEndsBodyRead(t *testing.T) {
	srv, tr, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part;")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	st := h2Standard(t, tr, resilienthttp.WithAttemptTimeout(200*time.Millisecond))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := st.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	if !bytes.Equal(b, []byte("first part;")) {
		t.Errorf("got body %q, want %q", b, "first part;")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, timeout.ErrTimeout) {
		t.Errorf("reading a stalled body: got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stalled body was ended after %v, want about 200ms", d)
	}
}

// TestHTTP2CallerCancelEndsStream: the caller's cancellation ends an HTTP/2
// request in flight, and the transport leaves nothing behind (goleak checks
// in TestMain).
func TestHTTP2CallerCancelEndsStream(t *testing.T) {
	arrived := make(chan struct{})
	srv, tr, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	st := h2Standard(t, tr)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := st.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("got a response, want the caller's cancellation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want an error matching context.Canceled", err)
	}
}
