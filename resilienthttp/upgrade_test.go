package resilienthttp_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/resilienthttp"
)

// echoUntilEOF is a handler that switches protocols, answers each line with
// the line in upper case and, once the client has half-closed its side,
// sends "BYE\n" and closes.
func echoUntilEOF(_ int64, w http.ResponseWriter, _ *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a failing test cannot hang
	io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	brw.Flush()
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			break
		}
		io.WriteString(brw, strings.ToUpper(line))
		brw.Flush()
	}
	io.WriteString(brw, "BYE\n")
	brw.Flush()
}

// TestUpgradeBodyCloseWrite: the body of a 101 response keeps net/http's
// CloseWrite, so a half-close reaches the server and its last words still
// reach the caller.
func TestUpgradeBodyCloseWrite(t *testing.T) {
	srv := newServer(t, echoUntilEOF)
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"transport", resilienthttp.NewTransport(newHTTPTransport(t), mustTimeout(t, "attempt", time.Minute))},
		{"standard", newStandard(t, newHTTPTransport(t))},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := upgradeTo(t, c.rt, srv.URL)
			cw, ok := resp.Body.(interface{ CloseWrite() error })
			if !ok {
				t.Fatalf("101 body %T has no CloseWrite; net/http's has", resp.Body)
			}
			rw := resp.Body.(io.ReadWriteCloser)
			io.WriteString(rw, "hello\n")
			if err := cw.CloseWrite(); err != nil {
				t.Fatalf("CloseWrite: %v", err)
			}
			got, err := io.ReadAll(rw)
			if want := "HELLO\nBYE\n"; string(got) != want {
				t.Errorf("after the half-close: got %q (%v), want %q", got, err, want)
			}
		})
	}
}

// TestReverseProxyUpgradeHalfClose: an httputil.ReverseProxy sending
// through the standard transport relays a client's half-close of an
// upgraded connection to the backend, and the backend's reply after it back
// to the client, as it does over a bare http.Transport. (Without CloseWrite
// on the backend's body, the proxy tears both connections down when the
// client half-closes, and the reply is lost.)
func TestReverseProxyUpgradeHalfClose(t *testing.T) {
	backend := newServer(t, echoUntilEOF)
	target, _ := url.Parse(backend.URL)
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", newHTTPTransport(t)},
		{"standard", newStandard(t, newHTTPTransport(t))},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.Transport = c.rt
			proxyHalfClose(t, newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) { proxy.ServeHTTP(w, r) }))
		})
	}
}

// proxyHalfClose upgrades a connection through front, echoes a line,
// half-closes and expects the backend's "BYE\n".
func proxyHalfClose(t *testing.T, front *server) {
	t.Helper()

	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: front\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %d, want 101", resp.StatusCode)
	}
	io.WriteString(conn, "hello\n")
	if line, _ := br.ReadString('\n'); line != "HELLO\n" {
		t.Fatalf("echo: got %q, want %q", line, "HELLO\n")
	}
	conn.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(br)
	if string(rest) != "BYE\n" {
		t.Errorf("after the client's half-close: got %q (%v), want %q", rest, err, "BYE\n")
	}
}

// TestUpgradedConnectionOutlivesTheTimeouts: the connection of a 101 body
// is the caller's once RoundTrip returns: the standard transport's attempt
// and overall timeouts, long past, do not end it.
func TestUpgradedConnectionOutlivesTheTimeouts(t *testing.T) {
	srv := newServer(t, echoUntilEOF)
	const attempt, overall = 20 * time.Millisecond, 40 * time.Millisecond
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithAttemptTimeout(attempt), resilienthttp.WithOverallTimeout(overall))
	rw := upgradeTo(t, tr, srv.URL).Body.(io.ReadWriteCloser)
	// Real time, not a synctest bubble: the connection is a real socket.
	time.Sleep(2 * overall) // sleep-ok: the timeouts must have passed on the wall clock
	io.WriteString(rw, "still there\n")
	if line, err := bufio.NewReader(rw).ReadString('\n'); line != "STILL THERE\n" {
		t.Errorf("after the timeouts: got %q (%v), want %q", line, err, "STILL THERE\n")
	}
}

// upgradeTo asks url, through rt, to switch to the "echo" protocol and
// returns the response, whose body is closed when the test ends.
func upgradeTo(t *testing.T, rt http.RoundTripper, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
