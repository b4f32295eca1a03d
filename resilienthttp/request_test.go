package resilienthttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilienthttp"
)

func TestIsIdempotent(t *testing.T) {
	tests := []struct {
		method string
		header string
		want   bool
	}{
		{"", "", true},
		{"GET", "", true},
		{"HEAD", "", true},
		{"OPTIONS", "", true},
		{"TRACE", "", true},
		{"PUT", "", true},
		{"DELETE", "", true},
		{"POST", "", false},
		{"PATCH", "", false},
		{"CONNECT", "", false},
		{"PURGE", "", false},
		{"get", "", false}, // methods are case-sensitive
		{"POST", "Idempotency-Key", true},
		{"PATCH", "X-Idempotency-Key", true},
		{"POST", "X-Request-Id", false},
	}
	for _, tt := range tests {
		req := &http.Request{Method: tt.method, Header: http.Header{}}
		if tt.header != "" {
			req.Header[tt.header] = nil // presence is enough, as in net/http
		}
		if got := resilienthttp.IsIdempotent(req); got != tt.want {
			t.Errorf("IsIdempotent(%q, header %q) = %v, want %v", tt.method, tt.header, got, tt.want)
		}
	}
}

// TestIdempotency sends requests that fail in different ways and counts the
// attempts that a retry makes.
func TestIdempotency(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		header   string
		failure  string // "503", "reset" (the connection closes after the request arrived) or "dial"
		opts     []resilienthttp.Option
		attempts int64 // attempts the op ran
	}{
		{"GET 503", "GET", "", "503", nil, 3},
		{"PUT 503", "PUT", "", "503", nil, 3},
		{"DELETE 503", "DELETE", "", "503", nil, 3},
		{"OPTIONS 503", "OPTIONS", "", "503", nil, 3},
		{"TRACE 503", "TRACE", "", "503", nil, 3},
		{"HEAD 503", "HEAD", "", "503", nil, 3},
		{"POST 503", "POST", "", "503", nil, 1},
		{"PATCH 503", "PATCH", "", "503", nil, 1},
		{"POST 503 with Idempotency-Key", "POST", "Idempotency-Key", "503", nil, 3},
		{"POST 503 with X-Idempotency-Key", "POST", "X-Idempotency-Key", "503", nil, 3},
		{"GET reset", "GET", "", "reset", nil, 3},
		{"POST reset", "POST", "", "reset", nil, 1},
		{"POST dial refused", "POST", "", "dial", nil, 3},
		{"PATCH dial refused", "PATCH", "", "dial", nil, 3},
		{"POST 503 widened", "POST", "", "503", []resilienthttp.Option{resilienthttp.WithIdempotent(func(*http.Request) bool { return true })}, 3},
		{"GET 503 narrowed", "GET", "", "503", []resilienthttp.Option{resilienthttp.WithIdempotent(func(*http.Request) bool { return false })}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://" + closedAddr(t) + "/"
			var srv *server
			if tt.failure != "dial" {
				srv = newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					if tt.failure == "reset" {
						conn, _, err := http.NewResponseController(w).Hijack()
						if err == nil {
							conn.Close()
						}
						return
					}
					w.WriteHeader(503)
				})
				url = srv.URL
			}
			rec := &recorder{}
			tr := resilienthttp.NewTransport(newHTTPTransport(t), resilience.Chain(retryN(3), rec), tt.opts...)
			req, _ := http.NewRequest(tt.method, url, strings.NewReader("body"))
			if tt.header != "" {
				req.Header.Set(tt.header, "key-1")
			}
			resp, err := tr.RoundTrip(req)
			if err == nil {
				readAll(t, resp)
			}
			errs := rec.errors()
			if got := int64(len(errs)); got != tt.attempts {
				t.Errorf("the op ran %d times, want %d (errors %v)", got, tt.attempts, errs)
			}
			if srv != nil && srv.requests.Load() != tt.attempts {
				t.Errorf("server got %d requests, want %d", srv.requests.Load(), tt.attempts)
			}
			last := errs[len(errs)-1]
			if tt.attempts == 1 && !isPermanent(last) {
				t.Errorf("op error %v is not permanent", last)
			}
			// A non-idempotent failure still counts against the breaker.
			if tt.failure == "503" && resilience.IsNeutral(last) {
				t.Errorf("op error %v is neutral, want a failure", last)
			}
		})
	}
}

// TestNothingSent checks which errors prove that a request never left.
func TestNothingSent(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	dns := &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	write := &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken pipe")}
	tests := []struct {
		err  error
		want bool
	}{
		{dial, true},
		{fmt.Errorf("proxyconnect tcp: %w", dial), true},
		// What net/http returns for a proxy that cannot be reached.
		{&net.OpError{Op: "proxyconnect", Net: "tcp", Err: dial}, true},
		{&net.OpError{Op: "proxyconnect", Net: "tcp", Err: read}, false},
		{dns, true},
		{&net.OpError{Op: "dial", Err: dns}, true},
		{read, false},
		{write, false},
		{io.EOF, false},
		{io.ErrUnexpectedEOF, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		failing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, tt.err })
		rec := &recorder{}
		tr := resilienthttp.NewTransport(failing, resilience.Chain(retryN(3), rec))
		req, _ := http.NewRequest("POST", "http://127.0.0.1:1/", nil)
		tr.RoundTrip(req)
		if got := len(rec.errors()) > 1; got != tt.want {
			t.Errorf("POST failing with %v: retried %v, want %v", tt.err, got, tt.want)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
