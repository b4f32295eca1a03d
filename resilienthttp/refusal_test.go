package resilienthttp_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// TestRefusalThroughJoiningWrappers: a layer that wraps net/http's refusal
// with one or two %w, or joins it with errors.Join, in either order, still
// leaves it the caller's fault: one attempt, neutral, the breaker closed.
func TestRefusalThroughJoiningWrappers(t *testing.T) {
	srv := newServer(t, statuses(200))
	h := newHTTPTransport(t)
	errSpan := errors.New("span recorded")
	for name, wrap := range map[string]func(error) error{
		"one %w":   func(err error) error { return fmt.Errorf("tracing: %w", err) },
		"two %w":   func(err error) error { return fmt.Errorf("tracing: %w (%w)", err, errSpan) },
		"Join":     func(err error) error { return errors.Join(err, errSpan) },
		"Join rev": func(err error) error { return errors.Join(errSpan, err) },
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int64
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls.Add(1)
				resp, err := h.RoundTrip(r)
				if err != nil {
					return nil, wrap(err)
				}
				return resp, nil
			})
			tr := newStandard(t, next, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
			bad, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			bad.Header["X-Bad"] = []string{"a\x00b"} // the caller's mistake
			_, err := tr.RoundTrip(bad)
			if err == nil || !resilience.IsNeutral(err) || calls.Load() != 1 {
				t.Errorf("invalid header through a wrapper: %v after %d attempts; want a neutral error after 1", err, calls.Load())
			}
			stillServes(t, tr, srv.URL, "the caller's bad one")
		})
	}
}

// rawH2C is a cleartext HTTP/2 server (prior knowledge) that records each
// request's :path and then either answers 200 or drops the connection.
func rawH2C(t *testing.T, answer bool) (string, chan string) {
	t.Helper()
	paths := make(chan string, 16)
	addr := rawServer(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		fr := http2.NewFramer(c, br)
		if fr.WriteSettings() != nil {
			return
		}
		dec := hpack.NewDecoder(4096, nil)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				hf, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, h := range hf {
					if h.Name == ":path" {
						paths <- h.Value
					}
				}
				if !answer {
					return // the server dies with the request in hand
				}
				var buf bytes.Buffer
				enc := hpack.NewEncoder(&buf)
				_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: buf.Bytes(), EndStream: true, EndHeaders: true})
			}
		}
	})
	return addr, paths
}

func h2cTransport(t *testing.T) *http.Transport {
	h := newHTTPTransport(t)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h.Protocols = &p
	return h
}

// TestControlCharacterOverHTTP2IsSent: net/http refuses a control
// character in the URL only over HTTP/1; over HTTP/2 it sends it, so a
// server that then dies with the request in hand is the host's failure,
// with or without the control character.
func TestControlCharacterOverHTTP2IsSent(t *testing.T) {
	t.Run("HTTP/2 sends it", func(t *testing.T) {
		addr, paths := rawH2C(t, true)
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
		req.URL.RawQuery = "q=a\x7fb"
		resp, err := h2cTransport(t).RoundTrip(req)
		if err != nil {
			t.Fatalf("net/http over HTTP/2: %v; want the server's 200", err)
		}
		resp.Body.Close()
		if p := <-paths; p != "/x?q=a\x7fb" {
			t.Errorf("server got :path %q", p)
		}
	})
	for _, query := range []string{"q=ab", "q=a\x7fb"} {
		t.Run(fmt.Sprintf("server dies, query %q", query), func(t *testing.T) {
			addr, paths := rawH2C(t, false)
			tr := newStandard(t, h2cTransport(t), resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
			req.URL.RawQuery = query
			_, err := tr.RoundTrip(req)
			<-paths // the request reached the server
			if err == nil || resilience.IsNeutral(err) {
				t.Errorf("the server dropped the connection after receiving the request: %v, neutral %v; want a failure of the host's", err, resilience.IsNeutral(err))
			}
		})
	}
}

// TestHTTP2RefusalsAreTheCallersFault: over HTTP/2 net/http refuses,
// before sending anything, requests that HTTP/1 sends (or sends altered):
// an invalid Host header, a connection-specific header, a :path that does
// not begin with '/'. They are the caller's fault, with net/http's transport
// as the wrapped one or behind a layer.
func TestHTTP2RefusalsAreTheCallersFault(t *testing.T) {
	srv, h, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {})
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) { return h.RoundTrip(r) })
	for _, bad := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"Host", func(r *http.Request) { r.Host = "a b" }},
		{"Connection", func(r *http.Request) { r.Header.Set("Connection", "foo") }},
		{"Opaque", func(r *http.Request) { r.URL.Opaque = "x" }},
	} {
		for _, rt := range []struct {
			name string
			rt   http.RoundTripper
		}{{"http.Transport", h}, {"wrapped", next}} {
			t.Run(bad.name+"/"+rt.name, func(t *testing.T) {
				tr := newStandard(t, rt.rt, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				bad.set(req) // the caller's mistake
				resp, err := tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %s, want net/http's refusal", resp.Status)
				}
				if !resilience.IsNeutral(err) {
					t.Errorf("%v; want a neutral error", err)
				}
				stillServes(t, tr, srv.URL, "the caller's bad one")
			})
		}
	}
}

// TestXNetHTTP2RefusalIsTheCallersFault: golang.org/x/net/http2's
// Transport refuses an invalid header with words of its own; that too is
// the caller's fault.
func TestXNetHTTP2RefusalIsTheCallersFault(t *testing.T) {
	srv, h, _ := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {})
	// x/net deprecates its Transport in favour of net/http's, but programs
	// still wrap it, and its refusals are worded apart.
	//lint:ignore SA1019 the deprecated transport is the one under test
	x := &http2.Transport{TLSClientConfig: h.TLSClientConfig}
	t.Cleanup(func() {
		//lint:ignore SA1019 the deprecated transport is the one under test
		x.CloseIdleConnections()
	})
	tr := newStandard(t, x, append(quickRetries(3), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))...)
	bad, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	bad.Header["X-Bad"] = []string{"a\x00b"}
	_, err := tr.RoundTrip(bad)
	if err == nil || !resilience.IsNeutral(err) {
		t.Errorf("invalid header through x/net http2.Transport: %v; want a neutral error", err)
	}
	stillServes(t, tr, srv.URL, "the caller's bad header")
}

// TestFileBodyThatPassesTheCheckAndFails: a file body of the declared
// length is handed over unwatched (sendfile), and can still fail by the
// caller's fault; that is judged after the attempt failed:
//   - a descriptor opened for writing only: sendfile fails with EBADF;
//   - the file shrinks after the check, before net/http reads it (a log
//     rotated away; here deterministically, in next).
func TestFileBodyThatPassesTheCheckAndFails(t *testing.T) {
	srv := newServer(t, statuses(200))
	const size = 2 * resilienthttp.DefaultMaxBufferedBody // streamed, not buffered
	for _, tc := range []struct {
		name   string
		flag   int
		before func(path string) // in next, before net/http reads the body
	}{
		{"write-only", os.O_WRONLY, func(string) {}},
		{"shrinks after the check", os.O_RDONLY, func(path string) { _ = os.Truncate(path, 5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "upload")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, tc.flag, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h := newHTTPTransport(t)
			var sent io.Reader
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = r.Body
				tc.before(path)
				return h.RoundTrip(r)
			})
			tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
			req, _ := http.NewRequest(http.MethodPut, srv.URL, f)
			req.ContentLength = size
			_, err = tr.RoundTrip(req)
			if err == nil || !resilience.IsNeutral(err) {
				t.Errorf("body sent as %T: %v; want a neutral error", sent, err)
			}
			stillServes(t, tr, srv.URL, "the caller's bad file")
		})
	}
}

// TestNestedClientsRedirectIsTheHosts: with two http.Clients in the
// wrapped transport, the outer client's *url.Error names the caller's URL,
// but the refused request is the inner client's redirect: the innermost
// *url.Error decides, and the dependency's bad redirect is the host's.
func TestNestedClientsRedirectIsTheHosts(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "http:///login")
		w.WriteHeader(http.StatusFound)
	})
	next := throughClient(throughClient(newHTTPTransport(t))) // two clients, nested
	tr := newStandard(t, next, resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	_, err := mustGet(t, tr, srv.URL)
	if err == nil || resilience.IsNeutral(err) {
		t.Errorf("%v: neutral %v; want a failure of the host's", err, resilience.IsNeutral(err))
	}
}

type plainReader struct{ r io.Reader }

func (p *plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

type eofWithData struct {
	s    string
	done bool
}

func (e *eofWithData) Read(b []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	e.done = true
	return copy(b, e.s), io.EOF
}

// TestExactBodyOverHTTP2StaysTheHosts: a watched body of exactly the
// declared length is not the caller's fault over HTTP/2 (net/http's extra
// one-byte read sees EOF), whether the last data comes with nil or with
// io.EOF: the server's reset stays the host's.
func TestExactBodyOverHTTP2StaysTheHosts(t *testing.T) {
	srv, h, _ := newH2Server(t, func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		panic(http.ErrAbortHandler)
	})
	for name, body := range map[string]func() io.Reader{
		"nil then EOF": func() io.Reader { return &plainReader{strings.NewReader("0123456789")} },
		"data+EOF":     func() io.Reader { return &eofWithData{s: "0123456789"} },
	} {
		t.Run(name, func(t *testing.T) {
			tr := h2Standard(t, h, resilienthttp.WithoutRetry())
			req, _ := http.NewRequest(http.MethodPut, srv.URL, body())
			req.ContentLength = 10
			_, err := tr.RoundTrip(req)
			if err == nil || resilience.IsNeutral(err) {
				t.Errorf("%v: neutral %v; want the host's failure", err, resilience.IsNeutral(err))
			}
		})
	}
}
