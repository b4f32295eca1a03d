package chaos_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/cascadeguard/resilience/chaos"
)

// backend is a healthy handler that counts its hits.
type backend struct{ hits atomic.Int64 }

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, "ok")
}

// serve starts a loopback server running h and a client with its own
// transport; both are closed when the test ends.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, &http.Client{Transport: tr}
}

// returned wraps h and reports on the channel each time h returns. Calling
// release ends the contexts of the requests h holds, so that a test that
// fails with a request stuck in h still closes its server: defer it.
func returned(h http.Handler) (wrapped http.Handler, done <-chan struct{}, release func()) {
	ch := make(chan struct{}, 16)
	stop, cancel := context.WithCancel(context.Background())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { ch <- struct{}{} }()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(stop, cancel)()
		h.ServeHTTP(w, r.WithContext(ctx))
	}), ch, cancel
}

// within waits for ch, failing the test after a real-time bound that only a
// bug reaches.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not within 5s", what)
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

func TestHandlerAnswersStatusWithRetryAfter(t *testing.T) {
	tests := []struct {
		fault chaos.Fault
		want  string // Retry-After
	}{
		{chaos.Fault{Status: 503, RetryAfter: 2 * time.Second}, "2"},
		{chaos.Fault{Status: 503, RetryAfter: 1500 * time.Millisecond}, "2"}, // rounded up
		{chaos.Fault{Status: 429, RetryAfter: time.Nanosecond}, "1"},
		{chaos.Fault{Status: 503, RetryAfterValue: "Wed, 21 Oct 2015 07:28:00 GMT"}, "Wed, 21 Oct 2015 07:28:00 GMT"},
		{chaos.Fault{Status: 503, RetryAfterValue: "-5"}, "-5"},
		{chaos.Fault{Status: 500}, ""},
	}
	for _, tt := range tests {
		var b backend
		srv, c := serve(t, chaos.Handler(&b, mustNew(t, chaos.Config{Faults: []chaos.Fault{tt.fault}})))
		resp, body := get(t, c, srv.URL)
		if resp.StatusCode != tt.fault.Status {
			t.Errorf("%v: got status %d, want %d", tt.fault, resp.StatusCode, tt.fault.Status)
		}
		if got := resp.Header.Get("Retry-After"); got != tt.want {
			t.Errorf("%v: got Retry-After %q, want %q", tt.fault, got, tt.want)
		}
		if !strings.HasPrefix(body, "chaos: injected") {
			t.Errorf("%v: got body %q, want the injected-fault text", tt.fault, body)
		}
		if got := b.hits.Load(); got != 0 {
			t.Errorf("%v: the backend got %d hits, want 0", tt.fault, got)
		}
	}
}

func TestHandlerPassesRequestsWithoutFault(t *testing.T) {
	var b backend
	inj := mustNew(t, chaos.Config{Seed: 1, Faults: []chaos.Fault{{Probability: 0.5, Status: 503}}})
	srv, c := serve(t, chaos.Handler(&b, inj))
	var ok, failed int
	for range 200 {
		resp, body := get(t, c, srv.URL)
		switch {
		case resp.StatusCode == 200 && body == "ok":
			ok++
		case resp.StatusCode == 503:
			failed++
		default:
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	}
	s := inj.Stats()
	if int(b.hits.Load()) != ok || s.Requests != 200 || int(s.Errors) != failed || ok == 0 || failed == 0 {
		t.Errorf("got %d ok, %d failed, %d backend hits, Stats %+v; want both kinds and counts that agree", ok, failed, b.hits.Load(), s)
	}
}

func TestHandlerNilNextAnswersNotFound(t *testing.T) {
	inj := mustNew(t, chaos.Config{})
	rec := httptest.NewRecorder()
	chaos.Handler(nil, inj).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("Handler(nil, inj) answered %d to a request without a fault, want 404", rec.Code)
	}
}

func TestHandlerNilInjectorIsNext(t *testing.T) {
	var b backend
	if h := chaos.Handler(&b, nil); h != http.Handler(&b) {
		t.Errorf("Handler(next, nil) = %v, want next itself", h)
	}
}

func TestHandlerAddsLatency(t *testing.T) {
	var b backend
	srv, c := serve(t, chaos.Handler(&b, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Latency: 30 * time.Millisecond}}})))
	start := time.Now()
	resp, body := get(t, c, srv.URL)
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("took %v, want at least the 30ms latency", took)
	}
	if resp.StatusCode != 200 || body != "ok" || b.hits.Load() != 1 {
		t.Errorf("got %d %q after %d hits, want the backend's answer", resp.StatusCode, body, b.hits.Load())
	}
}

func TestHandlerLatencyEndsWhenClientGivesUp(t *testing.T) {
	var b backend
	h, done, release := returned(chaos.Handler(&b, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Latency: time.Hour, Status: 503}}})))
	srv, c := serve(t, h)
	defer release()
	c.Timeout = 50 * time.Millisecond
	if _, err := c.Get(srv.URL); err == nil {
		t.Fatal("got a response, want the client's timeout")
	}
	within(t, done, "handler return after the client gave up")
	if b.hits.Load() != 0 {
		t.Errorf("backend called after an abandoned delay")
	}
}

func TestHandlerHangEndsWhenClientCancels(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			var b backend
			inj := mustNew(t, chaos.Config{Faults: []chaos.Fault{{Hang: true}}})
			h, done, release := returned(chaos.Handler(&b, inj))
			srv, c := serve(t, h)
			defer release()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// A POST whose body the server never reads: net/http notices the
			// client going away only once the body is read.
			var body io.Reader
			if method == "POST" {
				body = strings.NewReader("payload")
			}
			req, _ := http.NewRequestWithContext(ctx, method, srv.URL, body)
			errc := make(chan error, 1)
			go func() {
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			// Cancel only once the server holds the request.
			for deadline := time.Now().Add(5 * time.Second); inj.Stats().Hangs == 0; time.Sleep(time.Millisecond) { // sleep-ok: polls a real server's counter, bounded by 5 s
				if time.Now().After(deadline) {
					t.Fatal("the request never reached the server")
				}
			}
			select {
			case <-done:
				t.Fatal("handler returned while the client still waited")
			case <-time.After(20 * time.Millisecond):
			}
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client got %v, want context.Canceled", err)
			}
			within(t, done, "hanging handler return after the client cancelled")
			if b.hits.Load() != 0 {
				t.Errorf("backend called by a hang")
			}
		})
	}
}

func TestHandlerResetIsSeenByClient(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/1.1 over TLS"}[tls]
		t.Run(name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			var b backend
			inj := mustNew(t, chaos.Config{Faults: []chaos.Fault{{Reset: true}}})
			srv := httptest.NewUnstartedServer(chaos.Handler(&b, inj))
			if tls {
				srv.StartTLS() // without EnableHTTP2: HTTP/1.1
			} else {
				srv.Start()
			}
			defer srv.Close()
			// A transport of our own, closed before goleak looks.
			tr := srv.Client().Transport.(*http.Transport).Clone()
			defer tr.CloseIdleConnections()

			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got status %d, want a connection error", resp.StatusCode)
			}
			// Under TLS too: the reset reaches the TCP connection under the TLS layer.
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("got %v, want ECONNRESET", err)
			}
			if got, want := inj.Stats(), (chaos.Stats{Requests: 1, Faults: 1, Resets: 1}); got != want {
				t.Errorf("Stats() = %+v, want %+v", got, want)
			}
			if b.hits.Load() != 0 {
				t.Errorf("backend called by a reset")
			}
		})
	}
}

// HTTP/2 connections cannot be hijacked: the stream is reset instead.
func TestHandlerResetOverHTTP2(t *testing.T) {
	var b backend
	inj := mustNew(t, chaos.Config{Faults: []chaos.Fault{{Reset: true}}})
	srv := httptest.NewUnstartedServer(chaos.Handler(&b, inj))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s %s, want a stream error", resp.Proto, resp.Status)
	}
	if !strings.Contains(err.Error(), "stream error") {
		t.Errorf("got %v, want an HTTP/2 stream error", err)
	}
	if inj.Stats().Resets != 1 || b.hits.Load() != 0 {
		t.Errorf("Stats() = %+v with %d backend hits, want 1 reset and no hit", inj.Stats(), b.hits.Load())
	}
}

// Documents what Handler's comment warns about: net/http's client retries a
// GET once when a reused connection is reset, so the server sees it twice.
func TestHandlerResetOnReusedConnectionIsRetriedByNetHTTP(t *testing.T) {
	var b backend
	inj := mustNew(t, chaos.Config{Start: time.Now().Add(time.Hour), Faults: []chaos.Fault{{Reset: true}}})
	srv, c := serve(t, chaos.Handler(&b, inj))
	get(t, c, srv.URL) // healthy: the schedule has not started; the connection goes idle
	inj.Restart()
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want a connection error", resp.StatusCode)
	}
	if got := inj.Stats(); got.Requests != 3 || got.Resets != 2 {
		t.Errorf("Stats() = %+v, want 3 requests and 2 resets (1 healthy, 1 reset, 1 reset retry)", got)
	}
}

// nopWriter is a ResponseWriter that records only the status.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// In fake time the delays are exact.
func TestHandlerTimingInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b backend
		inj := mustNew(t, chaos.Config{Phases: []chaos.Phase{
			{Duration: time.Second, Faults: []chaos.Fault{{Latency: 200 * time.Millisecond, Jitter: 1}}},
			{Faults: []chaos.Fault{{Hang: true}}},
		}})
		h := chaos.Handler(&b, inj)
		start := time.Now()
		h.ServeHTTP(&nopWriter{}, httptest.NewRequest("GET", "/", nil))
		if got := time.Since(start); got != 200*time.Millisecond || b.hits.Load() != 1 {
			t.Errorf("latency: returned after %v with %d hits, want 200ms and 1", got, b.hits.Load())
		}

		time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(3*time.Second, cancel)
		start = time.Now()
		w := &nopWriter{}
		h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", "/", nil))
		if got := time.Since(start); got != 3*time.Second || w.code != 0 {
			t.Errorf("hang: returned after %v having written %d, want 3s and nothing", got, w.code)
		}
	})
}

// fakeRT is a RoundTripper that answers 200 and counts calls.
type fakeRT struct {
	calls atomic.Int64
	idle  atomic.Int64
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}

func (f *fakeRT) CloseIdleConnections() { f.idle.Add(1) }

// trackedBody reports whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func newPost(t *testing.T, ctx context.Context) (*http.Request, *trackedBody) {
	t.Helper()
	body := &trackedBody{Reader: strings.NewReader("payload")}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://inventory.internal:8080/items?id=1", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request", "1")
	return req, body
}

func TestTransportAnswersStatusWithoutSending(t *testing.T) {
	next := &fakeRT{}
	rt := chaos.Transport(next, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Status: 503, RetryAfter: 1500 * time.Millisecond}}}))
	req, body := newPost(t, context.Background())
	before := req.Header.Clone()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Status != "503 Service Unavailable" || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("got %q Retry-After %q, want 503 Service Unavailable and 2", resp.Status, resp.Header.Get("Retry-After"))
	}
	if string(got) != "chaos: injected 503 Service Unavailable\n" || resp.ContentLength != int64(len(got)) {
		t.Errorf("got body %q length %d", got, resp.ContentLength)
	}
	if resp.Request != req || resp.ProtoMajor != 1 {
		t.Errorf("response Request %p Proto %d, want the request %p and HTTP/1", resp.Request, resp.ProtoMajor, req)
	}
	if next.calls.Load() != 0 {
		t.Errorf("next called %d times, want 0", next.calls.Load())
	}
	if !body.closed.Load() {
		t.Errorf("request body not closed")
	}
	if len(req.Header) != len(before) || req.Header.Get("X-Request") != "1" {
		t.Errorf("request headers changed: %v, were %v", req.Header, before)
	}
}

func TestTransportHeadAnswerHasNoBody(t *testing.T) {
	rt := chaos.Transport(&fakeRT{}, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Status: 500}}}))
	req, _ := http.NewRequest("HEAD", "http://x.internal/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	if resp.StatusCode != 500 || resp.Body != http.NoBody || resp.ContentLength != 0 {
		t.Errorf("HEAD: got %d, body %v, length %d; want 500 with NoBody", resp.StatusCode, resp.Body, resp.ContentLength)
	}
}

func TestTransportResetLooksLikeAReset(t *testing.T) {
	next := &fakeRT{}
	rt := chaos.Transport(next, mustNew(t, chaos.Config{Faults: []chaos.Fault{{Reset: true}}}))
	req, body := newPost(t, context.Background())
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		t.Fatalf("got a response %v, want none", resp.Status)
	}
	var op *net.OpError
	if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &op) {
		t.Fatalf("got %v (%T), want a *net.OpError matching ECONNRESET", err, err)
	}
	if want := "read tcp inventory.internal:8080: read: connection reset by peer"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if next.calls.Load() != 0 || !body.closed.Load() {
		t.Errorf("next called %d times, body closed %v; want 0 and true", next.calls.Load(), body.closed.Load())
	}
}

func TestTransportTimingInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &fakeRT{}
		inj := mustNew(t, chaos.Config{Phases: []chaos.Phase{
			{Duration: time.Minute, Faults: []chaos.Fault{{Latency: 300 * time.Millisecond}}},
			{Faults: []chaos.Fault{{Hang: true}}},
		}})
		rt := chaos.Transport(next, inj)

		// Latency, then the request goes on.
		req, _ := newPost(t, context.Background())
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 || time.Since(start) != 300*time.Millisecond || next.calls.Load() != 1 {
			t.Errorf("latency: got %v after %v with %d calls, want 200 after 300ms and 1 call", err, time.Since(start), next.calls.Load())
		}

		// The caller's deadline ends the latency: nothing is sent.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		req, body := newPost(t, ctx)
		start = time.Now()
		_, err = rt.RoundTrip(req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 100*time.Millisecond || next.calls.Load() != 1 || !body.closed.Load() {
			t.Errorf("cancelled latency: got %v after %v, %d calls, body closed %v", err, time.Since(start), next.calls.Load(), body.closed.Load())
		}

		// Hang until an http.Client's timeout.
		time.Sleep(time.Minute) // sleep-ok: fake time inside a synctest bubble
		c := &http.Client{Transport: rt, Timeout: 2 * time.Second}
		start = time.Now()
		_, err = c.Get("http://inventory.internal/")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) != 2*time.Second {
			t.Errorf("hang: got %v after %v, want the client's timeout after 2s", err, time.Since(start))
		}
		if next.calls.Load() != 1 {
			t.Errorf("next called during a hang")
		}
	})
}

func TestTransportDefaultsAndCloseIdle(t *testing.T) {
	if got := chaos.Transport(nil, nil); got != http.DefaultTransport {
		t.Errorf("Transport(nil, nil) = %v, want http.DefaultTransport", got)
	}
	next := &fakeRT{}
	c := &http.Client{Transport: chaos.Transport(next, mustNew(t, chaos.Config{}))}
	c.CloseIdleConnections()
	if next.idle.Load() != 1 {
		t.Errorf("CloseIdleConnections reached next %d times, want 1", next.idle.Load())
	}
}

// End to end: a real client, server and transport, with faults on some
// requests only.
func TestTransportWithRealServer(t *testing.T) {
	var b backend
	srv, c := serve(t, &b)
	inj := mustNew(t, chaos.Config{Seed: 11, Faults: []chaos.Fault{{Probability: 0.5, Status: 503}}})
	c.Transport = chaos.Transport(c.Transport, inj)
	var ok int
	for range 100 {
		resp, body := get(t, c, srv.URL)
		if resp.StatusCode == 200 && body == "ok" {
			ok++
		} else if resp.StatusCode != 503 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	}
	if int(b.hits.Load()) != ok || int(inj.Stats().Errors) != 100-ok {
		t.Errorf("%d ok, %d hits, %d injected: want hits = ok = 100 - injected", ok, b.hits.Load(), inj.Stats().Errors)
	}
}
