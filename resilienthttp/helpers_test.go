package resilienthttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/retry"
)

// server is an httptest server on 127.0.0.1 that counts the connections
// it accepts and the requests it serves.
type server struct {
	*httptest.Server
	conns    atomic.Int64 // connections accepted
	requests atomic.Int64 // requests served
}

// newServer starts a server whose handler gets the number (from 1) of each
// request. It is closed when the test ends.
func newServer(t testing.TB, h func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(s.requests.Add(1), w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// statuses returns a handler that answers the n-th request with codes[n-1]
// (the last code once they run out) and the body "attempt n".
func statuses(codes ...int) func(int64, http.ResponseWriter, *http.Request) {
	return func(n int64, w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		code := codes[min(int(n), len(codes))-1]
		w.WriteHeader(code)
		io.WriteString(w, "attempt "+itoa(n))
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// newHTTPTransport returns a transport of the test's own, whose idle
// connections are closed when the test ends: http.DefaultTransport would
// keep them, and goleak would see their goroutines.
func newHTTPTransport(t testing.TB) *http.Transport {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// retryN is a minimal retry policy: up to n attempts, without delay, until
// an attempt succeeds or fails with an error that must not be retried.
func retryN(n int) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var err error
		for range n {
			err = op(ctx)
			if err == nil || isPermanent(err) || resilience.IsNeutral(err) || ctx.Err() != nil {
				return err
			}
		}
		return err
	})
}

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// recorder is a policy that records the error of every run of the op.
type recorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *recorder) Do(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return err
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// readAll reads and closes resp's body.
func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

// trackingCtx is a context that counts the contexts derived from it that
// are still attached: context.WithCancel and context.AfterFunc register with
// a parent that has an AfterFunc method and unregister when they end. It is
// never cancelled by itself.
type trackingCtx struct {
	done chan struct{}
	live atomic.Int64
	vals map[any]any
}

func newTrackingCtx() *trackingCtx { return &trackingCtx{done: make(chan struct{})} }

func (c *trackingCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *trackingCtx) Done() <-chan struct{}       { return c.done }
func (c *trackingCtx) Err() error                  { return nil }
func (c *trackingCtx) Value(key any) any           { return c.vals[key] }

func (c *trackingCtx) AfterFunc(f func()) func() bool {
	c.live.Add(1)
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() { c.live.Add(-1); stopped = true })
		return stopped
	}
}

// closedAddr returns the address of a listener on 127.0.0.1 that was
// closed: dialling it is refused.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func mustBudget(t testing.TB) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawServer listens on a loopback port and serves each connection with
// serve, in a goroutine of its own, which must close it; it returns the
// address. The listener closes, and every serve returns, when the test
// ends.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(c) })
		}
	})
	return l.Addr().String()
}

// stillServes checks that a good GET of url through tr gets its answer
// after what (a request that failed by the caller's fault): the host's
// breaker did not count that failure.
func stillServes(t *testing.T, tr http.RoundTripper, url, what string) {
	t.Helper()
	resp, err := mustGet(t, tr, url)
	if err != nil {
		t.Fatalf("a good request after %s: %v", what, err)
	}
	readAll(t, resp)
}

// throughClient is a wrapped transport that sends each request with an
// http.Client over rt, as a layer that follows redirects does: the
// client's *url.Error and its own requests (redirect hops) come back
// through it.
func throughClient(rt http.RoundTripper) roundTripFunc {
	client := &http.Client{Transport: rt}
	return func(r *http.Request) (*http.Response, error) {
		r2 := r.Clone(r.Context())
		r2.RequestURI = ""
		return client.Do(r2)
	}
}

// counting returns rt as a RoundTripper that counts its calls in calls.
func counting(rt http.RoundTripper) (roundTripFunc, *atomic.Int64) {
	var calls atomic.Int64
	return func(r *http.Request) (*http.Response, error) { calls.Add(1); return rt.RoundTrip(r) }, &calls
}

// wantOneNeutralAttempt sends req, whose body is not of its declared
// length, through tr and checks that the caller gets a neutral error
// after one attempt (calls counts the attempts that reached next).
func wantOneNeutralAttempt(t *testing.T, tr http.RoundTripper, calls *atomic.Int64, req *http.Request) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("got a response, want net/http's error about the body's length")
	}
	if !resilience.IsNeutral(err) || calls.Load() != 1 {
		t.Errorf("%v: neutral %v after %d attempts; want a neutral error after 1 attempt", err, resilience.IsNeutral(err), calls.Load())
	}
}
