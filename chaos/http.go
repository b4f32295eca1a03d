package chaos

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Handler returns middleware that injects inj's faults into the requests
// that next serves. For each request it asks inj for a fault and then:
//
//   - Latency: waits, then goes on; when the client gives up meanwhile,
//     returns without calling next;
//   - Status: writes that status with a short text/plain body and the
//     Retry-After header, without calling next;
//   - Hang: reads and discards the request body (so that net/http notices
//     when the client goes away) and returns once the request's context
//     ends, writing nothing;
//   - Reset: hijacks the connection and closes it with SO_LINGER 0, so
//     the client sees ECONNRESET. HTTP/2 connections cannot be hijacked;
//     the handler then aborts with http.ErrAbortHandler, which resets the
//     stream.
//
// A request with no fault goes to next unchanged (a nil next answers it 404
// Not Found). A nil inj returns next.
//
// A hanging request ends only when its client gives up or the server closes
// its connection: http.Server.Close does, but httptest.Server.Close and
// http.Server.Shutdown wait for it.
//
// Beware that net/http's client retries a replayable request (GET, HEAD, or
// one with GetBody) once, on a new connection, when a connection it reused
// is reset before the first response byte: the server then sees a reset
// request twice, and inj counts it twice.
func Handler(next http.Handler, inj *Injector) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	if inj == nil {
		return next
	}
	return &handler{next: next, inj: inj}
}

type handler struct {
	next http.Handler
	inj  *Injector
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.inj.Next()
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	if f.Hang {
		// An HTTP/1 server notices that the client went away only once
		// the request body is read to its end.
		_, _ = io.Copy(io.Discard, r.Body)
		<-ctx.Done()
		return
	}
	if wait(ctx, f.Latency) != nil {
		return
	}
	switch {
	case f.Reset:
		reset(w)
	case f.Status != 0:
		writeStatus(w, f)
	default:
		h.next.ServeHTTP(w, r)
	}
}

// wait waits for d, or until ctx ends and then returns its error.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func writeStatus(w http.ResponseWriter, f Fault) {
	h := w.Header()
	if v := f.retryAfterHeader(); v != "" {
		h.Set("Retry-After", v)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, statusBody(f.Status))
}

func statusBody(code int) string {
	return "chaos: injected " + strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
}

// reset drops the connection of w so that the client reads ECONNRESET.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2, or a ResponseWriter that hides its connection: abort
		// the response, which net/http turns into a stream reset or a
		// closed connection.
		panic(http.ErrAbortHandler)
	}
	// Reach the TCP connection under TLS or other wrappers: SO_LINGER 0
	// makes Close send RST instead of FIN, and closing the TCP connection
	// itself keeps a TLS layer from sending close_notify first.
	for {
		if l, ok := conn.(interface{ SetLinger(int) error }); ok {
			_ = l.SetLinger(0)
			break
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = u.NetConn()
	}
	_ = conn.Close()
}

// Transport returns an http.RoundTripper that injects inj's faults into the
// requests it sends through next (http.DefaultTransport when nil). For each
// request it asks inj for a fault and then:
//
//   - Latency: waits, then goes on; when the request's context ends
//     meanwhile, returns its error without sending;
//   - Status: returns a response with that status, the Retry-After header
//     and a short text/plain body, without sending; the response's Request
//     is req;
//   - Hang: waits until the request's context ends and returns its error,
//     without sending;
//   - Reset: returns, without sending, a *net.OpError that wraps an
//     *os.SyscallError for syscall.ECONNRESET, as a real reset does
//     (errors.Is(err, syscall.ECONNRESET) is true).
//
// A request with no fault goes to next unchanged. Like any RoundTripper it
// never modifies req and closes req.Body when it does not send it. A nil inj
// returns next. The returned RoundTripper passes CloseIdleConnections on to
// next.
func Transport(next http.RoundTripper, inj *Injector) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if inj == nil {
		return next
	}
	return &transport{next: next, inj: inj}
}

type transport struct {
	next http.RoundTripper
	inj  *Injector
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	f, ok := t.inj.Next()
	if !ok {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	if f.Hang {
		<-ctx.Done()
		closeBody(req)
		return nil, ctx.Err()
	}
	if err := wait(ctx, f.Latency); err != nil {
		closeBody(req)
		return nil, err
	}
	switch {
	case f.Reset:
		closeBody(req)
		err := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
		if req.URL != nil && req.URL.Host != "" {
			err.Addr = hostAddr(req.URL.Host)
		}
		return nil, err
	case f.Status != 0:
		closeBody(req)
		return response(req, f), nil
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of the next
// RoundTripper, if it has that method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

func response(req *http.Request, f Fault) *http.Response {
	h := make(http.Header, 3)
	if v := f.retryAfterHeader(); v != "" {
		h.Set("Retry-After", v)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	resp := &http.Response{
		Status:     strconv.Itoa(f.Status) + " " + http.StatusText(f.Status),
		StatusCode: f.Status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Request:    req,
	}
	if req.Method != http.MethodHead {
		body := statusBody(f.Status)
		resp.Body = io.NopCloser(strings.NewReader(body))
		resp.ContentLength = int64(len(body))
	}
	return resp
}

// hostAddr is the net.Addr of a host:port as written in a URL, so that a
// reset reads like a real one: "read tcp example.com:80: read: connection
// reset by peer".
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }

func (a hostAddr) String() string { return string(a) }
