package resilienthttp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errClosedRead is what net/http may report, at random, in place of a write
// it could not make: the read from the connection it closed because of it.
var errClosedRead = &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}

// TestClosedReadAfterARefusedNilBody: HTTP/1 refuses a ContentLength with a
// nil Body before writing anything and closes the connection; when net/http
// reports the read from that closed connection instead, the refusal is
// still the caller's. Any other request with that error is not.
func TestClosedReadAfterARefusedNilBody(t *testing.T) {
	next := &http.Transport{}
	for _, c := range []struct {
		name   string
		length int64
		body   bool
		err    error
		want   bool
	}{
		{"nil Body with a length", 5, false, errClosedRead, true},
		{"nil Body with a length, wrapped", 5, false, errors.Join(errors.New("trace"), errClosedRead), true},
		{"nil Body, no length", 0, false, errClosedRead, false},
		{"a body with a length", 5, true, errClosedRead, false},
		{"nil Body with a length, another error", 5, false, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false},
	} {
		req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:1/x", nil)
		req.ContentLength = c.length
		if c.body {
			req.Body = http.NoBody
		}
		if got := refused(req, next, c.err); got != c.want {
			t.Errorf("%s: refused = %v, want %v", c.name, got, c.want)
		}
	}
	// Another RoundTripper may send such a request (as HTTP/2 does).
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:1/x", nil)
	req.ContentLength = 5
	if refused(req, http.RoundTripper(nil), errClosedRead) {
		t.Errorf("through another RoundTripper: refused, want the host's")
	}
}

// TestClosedReadAfterAFileShrank: a file handed over unwatched that shrank
// while it was sent is the caller's fault when net/http reports the read
// from the connection it closed; one that did not shrink (or grew) is not,
// nor is another error.
func TestClosedReadAfterAFileShrank(t *testing.T) {
	path, file := handedOverFile(t)
	if badBody(errClosedRead, file, false) {
		t.Errorf("closed read, file unchanged: judged the body's fault")
	}
	if err := os.WriteFile(path, []byte("0123456789 and more"), 0o600); err != nil {
		t.Fatal(err)
	}
	if badBody(errClosedRead, file, false) {
		t.Errorf("closed read, file grew: judged the body's fault")
	}
	if err := os.Truncate(path, 3); err != nil {
		t.Fatal(err)
	}
	if !badBody(errClosedRead, file, false) {
		t.Errorf("closed read, file shrank: not judged the body's fault")
	}
	if badBody(errors.New("connection reset by peer"), file, false) {
		t.Errorf("another error, file shrank: judged the body's fault")
	}
	if badBody(errClosedRead, sentFile{}, false) {
		t.Errorf("closed read, no file: judged the body's fault")
	}
}

// TestLengthErrorAsNetHTTPDeliversIt: HTTP/1's words about a body of the
// wrong length count only as net/http delivers them, inside its
// write-failure wrapper (through any layer above); the same words as a
// bare error, a proxy's CONNECT phrase, do not, whatever wraps them.
// HTTP/2's come bare, and are left to the file's size (see
// TestHTTP2TooLongNeedsAGrownFile).
func TestLengthErrorAsNetHTTPDeliversIt(t *testing.T) {
	h1 := errors.New("http: ContentLength=10 with Body length 3")
	h2 := errors.New("http2: request body larger than specified content length")
	broken := fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", h1)
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"HTTP/1, connection broken", broken, true},
		{"HTTP/1, connection broken, through a client", &url.Error{Op: "Put", URL: "http://x", Err: broken}, true},
		{"HTTP/1, as net/http delivers it", netHTTPLengthError(t), true},
		{"HTTP/2", h2, false},
		{"HTTP/2, through a layer", fmt.Errorf("layer: %w", h2), false},
		{"bare: a CONNECT phrase", h1, false},
		{"bare, through a layer", fmt.Errorf("layer: %w", h1), false},
		{"bare, through a client", &url.Error{Op: "Put", URL: "http://x", Err: h1}, false},
		{"other words, wrapped as net/http does", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", errors.New("write: broken pipe")), false},
	} {
		if got := anyWrappedLeaf(c.err, 0, nil, isHTTP1LengthError); got != c.want {
			t.Errorf("%s: HTTP/1 length error in %v = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// netHTTPLengthError returns net/http's own error about a body shorter
// than its declared length, as net/http's HTTP/1 transport delivers it: a
// PUT declaring 10 bytes whose body has 3.
func netHTTPLengthError(t *testing.T) error {
	t.Helper()
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/", io.NopCloser(strings.NewReader("abc")))
	req.ContentLength = 10
	_, err := tr.RoundTrip(req)
	if err == nil || !anyLeaf(err, 0, isBodyLengthError) {
		t.Fatalf("got %v, want net/http's error about the body's length", err)
	}
	return err
}

// TestHTTP2TooLongNeedsAGrownFile: HTTP/2's words about a body longer than
// declared, which come bare as a proxy's phrase would, blame a file handed
// over unwatched only if it grew.
func TestHTTP2TooLongNeedsAGrownFile(t *testing.T) {
	h2 := fmt.Errorf("layer: %w", errors.New("http2: request body larger than specified content length"))
	path, file := handedOverFile(t)
	if badBody(h2, file, false) {
		t.Errorf("file unchanged: HTTP/2's words judged the body's fault")
	}
	if err := os.Truncate(path, 20); err != nil {
		t.Fatal(err)
	}
	if !badBody(h2, file, false) {
		t.Errorf("file grew: HTTP/2's words not judged the body's fault")
	}
}

// handedOverFile makes a file of 10 bytes, opens it and checks that
// cannotFail hands it over unwatched for a declared length of 10; it
// returns the file's path and what cannotFail kept of it.
func handedOverFile(t *testing.T) (string, sentFile) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ok, file := cannotFail(f, 10)
	if !ok || file.fi == nil {
		t.Fatalf("cannotFail of a file of the declared length = %v, %+v; want it handed over", ok, file)
	}
	return path, file
}
