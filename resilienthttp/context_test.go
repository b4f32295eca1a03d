package resilienthttp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/timeout"
)

func mustTimeout(t testing.TB, name string, d time.Duration) *timeout.Timeout {
	t.Helper()
	p, err := timeout.New(timeout.Config{Name: name, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// slowBody is a handler that writes the first part of a body, flushes, and
// writes the rest only once release is closed (or gives up when the client
// goes away, or after a while, so that a failing test cannot hang).
func slowBody(release <-chan struct{}) func(int64, http.ResponseWriter, *http.Request) {
	return func(n int64, w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part;")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
			io.WriteString(w, "second part")
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// TestBodyReadableAfterTimeouts: with an overall and a per-attempt timeout
// in the chain, both of which cancel their contexts when their Do returns,
// the caller reads the whole body after RoundTrip returned; the context the
// transport made for it ends when the body is closed.
func TestBodyReadableAfterTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		slowBody(release)(n, w, r)
	})
	p := resilience.Chain(mustTimeout(t, "overall", time.Minute), retryN(3), mustTimeout(t, "attempt", time.Minute))
	tr := resilienthttp.NewTransport(newHTTPTransport(t), p)
	ctx := newTrackingCtx()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	// Both timeouts have returned and cancelled their contexts by now.
	if got := ctx.live.Load(); got != 1 {
		t.Errorf("after RoundTrip: %d contexts attached to the caller's, want 1 (the body's)", got)
	}
	close(release)
	if got := readAll(t, resp); got != "first part;second part" {
		t.Errorf("got body %q, want %q", got, "first part;second part")
	}
	if got := ctx.live.Load(); got != 0 {
		t.Errorf("after Close: %d contexts attached to the caller's, want 0", got)
	}
}

// TestContextsReleased: whatever the outcome, every context the transport
// made ends: on error paths before RoundTrip returns, otherwise when the
// body is closed or read to its end; and the watch on the attempt context
// ends when the op returns.
func TestContextsReleased(t *testing.T) {
	big := strings.Repeat("x", 128<<10) // above the drain limit
	tests := []struct {
		name    string
		handler func(int64, http.ResponseWriter, *http.Request)
		method  string
		url     string // instead of the server's
		policy  func(attempt resilience.Policy) resilience.Policy
		liveRT  int64 // contexts attached after RoundTrip
		readEOF bool  // read to the end without Close
		unread  bool  // closed without reading
	}{
		{name: "success", handler: statuses(200), liveRT: 1},
		{name: "success closed unread", handler: statuses(200), liveRT: 1, unread: true},
		{name: "success read to EOF", handler: statuses(200), liveRT: 1, readEOF: true},
		{name: "no body", handler: statuses(204), liveRT: 0},
		{name: "HEAD", handler: statuses(200), method: "HEAD", liveRT: 0},
		{name: "failures exhausted", handler: statuses(503), liveRT: 0},
		{name: "large failures exhausted", handler: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			io.WriteString(w, big)
		}, liveRT: 1},
		{name: "client error", handler: statuses(404), liveRT: 1},
		{name: "POST failure", handler: statuses(503), method: "POST", liveRT: 1},
		{name: "network error", url: "dial", liveRT: 0},
		{name: "rejected", handler: statuses(200), policy: func(resilience.Policy) resilience.Policy {
			return resilience.PolicyFunc(func(context.Context, func(context.Context) error) error {
				return resilience.NewRejection("breaker: open")
			})
		}, liveRT: 0},
		{name: "rejected after a failure", handler: statuses(503), policy: func(attempt resilience.Policy) resilience.Policy {
			return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				attempt.Do(ctx, op)
				return resilience.NewRejection("breaker: open")
			})
		}, liveRT: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://" + closedAddr(t)
			if tt.url == "" {
				url = newServer(t, tt.handler).URL
			}
			// The op gets an attempt context that is a trackingCtx with a
			// deadline, so that the transport watches it.
			actx := &deadlineCtx{newTrackingCtx(), time.Now().Add(time.Minute)}
			attempt := resilience.PolicyFunc(func(_ context.Context, op func(context.Context) error) error {
				return op(actx)
			})
			p := resilience.Chain(retryN(3), attempt)
			if tt.policy != nil {
				p = tt.policy(attempt)
			}
			tr := resilienthttp.NewTransport(newHTTPTransport(t), p)
			ctx := newTrackingCtx()
			req, _ := http.NewRequestWithContext(ctx, cmp(tt.method, "GET"), url, nil)
			resp, err := tr.RoundTrip(req)
			if got := actx.live.Load(); got != 0 {
				t.Errorf("after RoundTrip: %d watches on the attempt context, want 0", got)
			}
			if got := ctx.live.Load(); got != tt.liveRT {
				t.Errorf("after RoundTrip: %d contexts attached to the caller's, want %d", got, tt.liveRT)
			}
			if err != nil {
				return
			}
			switch {
			case tt.readEOF:
				io.ReadAll(resp.Body)
			case tt.unread:
				resp.Body.Close()
			default:
				readAll(t, resp)
			}
			if got := ctx.live.Load(); got != 0 {
				t.Errorf("after reading the body: %d contexts attached to the caller's, want 0", got)
			}
			resp.Body.Close()
		})
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type deadlineCtx struct {
	*trackingCtx
	deadline time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestDeadlineBoundsBody: the attempt's deadline bounds reading the body,
// as http.Client.Timeout does.
func TestDeadlineBoundsBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newServer(t, slowBody(release))
	tr := resilienthttp.NewTransport(newHTTPTransport(t), mustTimeout(t, "attempt", 100*time.Millisecond))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("reading the body: got %v, want context.DeadlineExceeded", err)
	}
}

// TestCallerCancelEndsBody: the caller's cancellation reaches the body the
// transport handed over.
func TestCallerCancelEndsBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newServer(t, slowBody(release))
	tr := resilienthttp.NewTransport(newHTTPTransport(t), mustTimeout(t, "attempt", time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len("first part;"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err = io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("reading the body after cancel: got %v, want context.Canceled", err)
	}
}

// TestAttemptTimeoutIsRetried: a per-attempt timeout ends a hanging attempt
// (its deadline is carried into the request), the op's error says so, and
// the next attempt succeeds.
func TestAttemptTimeoutIsRetried(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, "ok")
	})
	rec := &recorder{}
	p := resilience.Chain(retryN(2), mustTimeout(t, "attempt", 100*time.Millisecond), rec)
	tr := resilienthttp.NewTransport(newHTTPTransport(t), p)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "ok" {
		t.Errorf("got %q, want %q", got, "ok")
	}
	if errs := rec.errors(); len(errs) != 2 || !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Errorf("op errors %v, want a deadline error then nil", errs)
	}
}

// TestAttemptCancelledWhileInFlight: a policy that cancels the attempt
// context (a hedge whose other attempt won) ends the request at once.
func TestAttemptCancelledWhileInFlight(t *testing.T) {
	arrived := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	cancelling := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			<-arrived
			cancel()
		}()
		return op(actx)
	})
	tr := resilienthttp.NewTransport(newHTTPTransport(t), cancelling)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("RoundTrip took %v: the cancellation did not reach the request", d)
	}
}

// TestOverallTimeoutDuringBackoff: the overall deadline passes while the
// retry waits after a failure response: the caller gets that response,
// readable, with a nil error.
func TestOverallTimeoutDuringBackoff(t *testing.T) {
	srv := newServer(t, statuses(503))
	waitForever := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil {
			return nil
		}
		<-ctx.Done() // a backoff wait longer than the overall deadline
		return ctx.Err()
	})
	p := resilience.Chain(mustTimeout(t, "overall", 50*time.Millisecond), waitForever, mustTimeout(t, "attempt", time.Minute))
	tr := resilienthttp.NewTransport(newHTTPTransport(t), p)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v, want the 503 response", err)
	}
	if got := readAll(t, resp); resp.StatusCode != 503 || got != "attempt 1" {
		t.Errorf("got %d %q, want 503 %q", resp.StatusCode, got, "attempt 1")
	}
}

// TestCallerCancelDuringBackoff: the caller gives up while the retry waits
// after a failure response: RoundTrip returns the caller's context error,
// and no StatusError.
func TestCallerCancelDuringBackoff(t *testing.T) {
	srv := newServer(t, statuses(503))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelInBackoff := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		cancel()
		return errors.Join(err, ctx.Err())
	})
	tr := resilienthttp.NewTransport(newHTTPTransport(t), cancelInBackoff)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
		t.Errorf("got a response, want none")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	var se *resilienthttp.StatusError
	if errors.As(err, &se) {
		t.Errorf("error %v carries a StatusError to the caller", err)
	}
}

// TestUpgradeBodyStaysWritable: a 101 response's body, wrapped to end the
// transport's context, is still an io.ReadWriteCloser.
func TestUpgradeBodyStaysWritable(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		io.WriteString(brw, strings.ToUpper(line))
		brw.Flush()
	})
	tr := resilienthttp.NewTransport(newHTTPTransport(t), mustTimeout(t, "attempt", time.Minute))
	resp := upgradeTo(t, tr, srv.URL)
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != 101 || !ok {
		t.Fatalf("got %d, body %T; want 101 and an io.ReadWriteCloser", resp.StatusCode, resp.Body)
	}
	io.WriteString(rw, "hello\n")
	if line, _ := bufio.NewReader(rw).ReadString('\n'); line != "HELLO\n" {
		t.Errorf("echo: got %q, want %q", line, "HELLO\n")
	}
}
