package resilienthttp

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, file := cannotFail(f, 10)
	if !ok || file.fi == nil {
		t.Fatalf("cannotFail of a file of the declared length = %v, %+v; want it handed over", ok, file)
	}
	if badBody(errClosedRead, file, false, noProxy) {
		t.Errorf("closed read, file unchanged: judged the body's fault")
	}
	if err := os.WriteFile(path, []byte("0123456789 and more"), 0o600); err != nil {
		t.Fatal(err)
	}
	if badBody(errClosedRead, file, false, noProxy) {
		t.Errorf("closed read, file grew: judged the body's fault")
	}
	if err := os.Truncate(path, 3); err != nil {
		t.Fatal(err)
	}
	if !badBody(errClosedRead, file, false, noProxy) {
		t.Errorf("closed read, file shrank: not judged the body's fault")
	}
	if badBody(errors.New("connection reset by peer"), file, false, noProxy) {
		t.Errorf("another error, file shrank: judged the body's fault")
	}
	if badBody(errClosedRead, sentFile{}, false, noProxy) {
		t.Errorf("closed read, no file: judged the body's fault")
	}
}

func noProxy() bool { return false }
func proxied() bool { return true }

// TestBodyLengthWordsAndTheFile: net/http's words about a body of the wrong
// length blame a file handed over unwatched. Without a proxy they are
// net/http's, whatever the file looks like afterwards (rewritten in place
// to its old size, its name removed); through one they may be the proxy's
// reason phrase to CONNECT, and blame the file only if it shrank or grew.
func TestBodyLengthWordsAndTheFile(t *testing.T) {
	errLength := errors.New("http: ContentLength=10 with Body length 3")
	errLarger := errors.New("http2: request body larger than specified content length")
	handOver := func(t *testing.T) (string, sentFile) {
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
	for _, c := range []struct {
		name    string
		change  func(t *testing.T, path string)
		err     error
		direct  bool // blamed on the file without a proxy
		proxied bool // blamed on the file through a proxy
	}{
		{"unchanged", func(*testing.T, string) {}, errLength, true, false},
		{"shrank", func(t *testing.T, p string) { must(t, os.Truncate(p, 3)) }, errLength, true, true},
		{"grew", func(t *testing.T, p string) { must(t, os.Truncate(p, 20)) }, errLarger, true, true},
		{"rewritten to its size", func(t *testing.T, p string) {
			must(t, os.Truncate(p, 3))
			must(t, os.Truncate(p, 10))
		}, errLength, true, false},
		{"name removed", func(t *testing.T, p string) { must(t, os.Remove(p)) }, errLength, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, file := handOver(t)
			c.change(t, path)
			if got := badBody(c.err, file, false, noProxy); got != c.direct {
				t.Errorf("without a proxy: badBody = %v, want %v", got, c.direct)
			}
			if got := badBody(c.err, file, false, proxied); got != c.proxied {
				t.Errorf("through a proxy: badBody = %v, want %v", got, c.proxied)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
