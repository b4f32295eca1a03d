package resilienthttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

func newStandard(t testing.TB, next http.RoundTripper, opts ...resilienthttp.StandardOption) *resilienthttp.Transport {
	t.Helper()
	tr, err := resilienthttp.NewStandardTransport(next, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// quickRetries retries at once and without a budget, so that a test sees
// every attempt the retry would make.
func quickRetries(attempts int) []resilienthttp.StandardOption {
	return []resilienthttp.StandardOption{
		resilienthttp.WithRetry(retry.Config{MaxAttempts: attempts, InitialDelay: retry.NoDelay}),
		resilienthttp.WithoutBudget(),
	}
}

func mustGet(t testing.TB, tr http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr.RoundTrip(req)
}

// hostPolicy returns the per-host policy that tr holds for srv.
func hostPolicy(t testing.TB, tr *resilienthttp.Transport, srv *server) *resilienthttp.HostPolicy {
	t.Helper()
	var found *resilienthttp.HostPolicy
	tr.Hosts().Range(func(host string, p resilience.Policy) bool {
		if host == strings.TrimPrefix(srv.URL, "http://") {
			found, _ = p.(*resilienthttp.HostPolicy)
			return false
		}
		return true
	})
	if found == nil {
		t.Fatalf("no host policy for %s", srv.URL)
	}
	return found
}

// TestStandardOrder: against a host that always answers 503, each request
// makes at most 3 attempts (retry outside the breaker), every attempt counts
// against the host's breaker, which opens after its minimum of 20 calls;
// from then on a request is rejected at once with breaker.ErrOpen, and the
// server sees nothing of it.
func TestStandardOrder(t *testing.T) {
	srv := newServer(t, statuses(503))
	tr := newStandard(t, newHTTPTransport(t), quickRetries(3)...)
	requests := 0
	var err error
	for ; requests < 50; requests++ {
		before := srv.requests.Load()
		var resp *http.Response
		resp, err = mustGet(t, tr, srv.URL)
		if err != nil {
			break
		}
		readAll(t, resp)
		if resp.StatusCode != 503 {
			t.Fatalf("got %d, want 503", resp.StatusCode)
		}
		if n := srv.requests.Load() - before; n < 1 || n > 3 {
			t.Fatalf("request %d made %d attempts, want 1 to 3", requests+1, n)
		}
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("after %d requests: got %v, want breaker.ErrOpen", requests, err)
	}
	seen := srv.requests.Load()
	if seen < resilienthttp.DefaultBreakerConsecutiveFailures {
		t.Errorf("breaker opened after %d attempts, want at least %d (failures in a row)", seen, resilienthttp.DefaultBreakerConsecutiveFailures)
	}
	if int64(requests) >= seen {
		t.Errorf("%d requests for %d attempts: the retry did not run outside the breaker", requests, seen)
	}
	start := time.Now()
	resp, err := mustGet(t, tr, srv.URL)
	if resp != nil || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("got %v, %v; want no response and breaker.ErrOpen", resp, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("rejection took %v, want it at once", d)
	}
	if got := srv.requests.Load(); got != seen {
		t.Errorf("server saw %d requests after the breaker opened, want 0", got-seen)
	}
	if got := hostPolicy(t, tr, srv).Breaker.State(); got != breaker.StateOpen {
		t.Errorf("breaker %v, want open", got)
	}
}

// TestStandardBulkheadPerHost: a host whose bulkhead is full rejects further
// requests with bulkhead.ErrFull, without retrying them, while another host
// is unaffected.
func TestStandardBulkheadPerHost(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	fast := newServer(t, statuses(200))
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithBulkhead(bulkhead.Config{MaxConcurrent: 1}))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if resp, err := mustGet(t, tr, slow.URL); err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived // the slow host's only slot is taken

	resp, err := mustGet(t, tr, slow.URL)
	if resp != nil || !errors.Is(err, bulkhead.ErrFull) {
		t.Errorf("slow host: got %v, %v; want bulkhead.ErrFull", resp, err)
	}
	resp, err = mustGet(t, tr, fast.URL)
	if err != nil {
		t.Fatalf("fast host: %v", err)
	}
	readAll(t, resp)
	close(release)
	wg.Wait()
	if got := slow.requests.Load(); got != 1 {
		t.Errorf("slow host saw %d requests, want 1 (the rejected one is not retried)", got)
	}
	if got := fast.requests.Load(); got != 1 {
		t.Errorf("fast host saw %d requests, want 1", got)
	}
}

// TestStandardBudgetSharedAcrossHosts: retries earned by requests to one
// host are spent by another host's: one budget for the whole transport.
func TestStandardBudgetSharedAcrossHosts(t *testing.T) {
	// 0.1 retry per request, and practically no floor.
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 1e-9, Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	healthy := newServer(t, statuses(200))
	failing := newServer(t, statuses(503))
	tr := newStandard(t, newHTTPTransport(t),
		resilienthttp.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay}),
		resilienthttp.WithBudget(budget))
	if tr.Budget() != budget {
		t.Fatalf("Budget() = %p, want %p", tr.Budget(), budget)
	}
	// The first failing request, and the healthy host's first nine, earn
	// 0.1 each: not a whole retry.
	resp, err := mustGet(t, tr, failing.URL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	for range 9 {
		resp, err := mustGet(t, tr, healthy.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	if got := failing.requests.Load(); got != 1 {
		t.Fatalf("failing host saw %d attempts before the budget had a retry, want 1", got)
	}
	// The healthy host's tenth request completes one retry, which the
	// failing host's next request spends; its third attempt finds the
	// budget empty.
	resp, err = mustGet(t, tr, healthy.URL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	resp, err = mustGet(t, tr, failing.URL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got := failing.requests.Load(); got != 3 {
		t.Errorf("failing host saw %d attempts, want 3 (1, then 2 with the retry earned on the other host)", got)
	}
	if st := budget.State(); st.Allowed != 1 || st.Rejected != 2 {
		t.Errorf("budget allowed %d and rejected %d retries, want 1 and 2", st.Allowed, st.Rejected)
	}
}

// TestStandardBudgetPerHost: by default each host has a retry budget of its
// own, so the retries to a failing host are paid for by its own requests:
// a busy healthy host's traffic does not fund them.
func TestStandardBudgetPerHost(t *testing.T) {
	healthy := newServer(t, statuses(200))
	failing := newServer(t, statuses(503))
	// No breaker, so that only the budget limits the retries.
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBreaker(),
		resilienthttp.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay}))
	start := time.Now()
	for range 100 { // 10 retries' worth, were the budget shared
		resp, err := mustGet(t, tr, healthy.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	const requests = 10
	for range requests {
		resp, err := mustGet(t, tr, failing.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	// The failing host's budget: its floor's first second (1 retry), a
	// tenth of a retry per request, and the floor's 1 retry a second
	// since.
	limit := requests + 1 + requests/10 + int64(time.Since(start)/time.Second) + 1
	if got := failing.requests.Load(); got > limit {
		t.Errorf("failing host saw %d attempts for %d requests, want at most %d: its retries were paid for by the healthy host's requests", got, requests, limit)
	}
	if got := failing.requests.Load(); got <= requests {
		t.Errorf("failing host saw %d attempts for %d requests, want some retries", got, requests)
	}
	if st := hostPolicy(t, tr, healthy).Budget.State(); st.Allowed != 0 || st.Available < 10 {
		t.Errorf("healthy host's budget: %d retries allowed, %.1f available; want 0 and at least 10", st.Allowed, st.Available)
	}
	if st := hostPolicy(t, tr, failing).Budget.State(); st.Allowed == 0 || st.Rejected == 0 {
		t.Errorf("failing host's budget: %d retries allowed, %d refused; want some of each", st.Allowed, st.Rejected)
	}
}

// TestStandardDefaults: what a transport with no options holds.
func TestStandardDefaults(t *testing.T) {
	srv := newServer(t, statuses(200))
	tr := newStandard(t, newHTTPTransport(t))
	resp, err := mustGet(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if tr.Budget() != nil {
		t.Errorf("Budget() = %p, want nil: each host has a budget of its own", tr.Budget())
	}
	h := hostPolicy(t, tr, srv)
	if h.Breaker == nil || h.Bulkhead == nil || h.Budget == nil {
		t.Fatalf("host policy %+v, want a breaker, a bulkhead and a budget", h)
	}
	if got := h.Budget.State().Config; got.Ratio != retry.DefaultBudgetRatio || got.MinPerSecond != retry.DefaultBudgetMinPerSecond {
		t.Errorf("host's budget config %+v, want the retry package's defaults", got)
	}
	if got := h.Bulkhead.MaxConcurrent(); got != resilienthttp.DefaultMaxInFlightPerHost {
		t.Errorf("bulkhead MaxConcurrent %d, want %d", got, resilienthttp.DefaultMaxInFlightPerHost)
	}
	if got := h.Bulkhead.MaxQueue(); got != 0 {
		t.Errorf("bulkhead MaxQueue %d, want 0", got)
	}
	if got := h.Breaker.Name(); got != "resilienthttp" {
		t.Errorf("breaker name %q, want %q", got, "resilienthttp")
	}
	if got := tr.Hosts().Stats().Keys; got != 1 {
		t.Errorf("%d hosts, want 1", got)
	}
	if got := resilienthttp.NewTransport(nil, nil); got.Hosts() != nil || got.Budget() != nil {
		t.Errorf("NewTransport: Hosts() %v, Budget() %v; want nil, nil", got.Hosts(), got.Budget())
	}
}

// TestStandardOptions: each option changes its part of the chain.
func TestStandardOptions(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(int64, http.ResponseWriter, *http.Request)
		opts     []resilienthttp.StandardOption
		requests int
		wantSeen int64 // requests the server saw
		wantErr  error // of the last request, nil for a response
	}{
		{name: "WithRetry", handler: statuses(503), requests: 1, wantSeen: 2,
			opts: quickRetries(2)},
		{name: "WithoutRetry", handler: statuses(503), requests: 1, wantSeen: 1,
			opts: append(quickRetries(3), resilienthttp.WithoutRetry())},
		{name: "WithBreaker", handler: statuses(503), requests: 2, wantSeen: 1, wantErr: breaker.ErrOpen,
			opts: []resilienthttp.StandardOption{resilienthttp.WithoutRetry(), resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1})}},
		{name: "WithoutBreaker", handler: statuses(503), requests: 30, wantSeen: 30,
			opts: []resilienthttp.StandardOption{resilienthttp.WithoutRetry(), resilienthttp.WithoutBreaker()}},
		{name: "WithClassifier", handler: statuses(503), requests: 1, wantSeen: 1,
			opts: append(quickRetries(3), resilienthttp.WithClassifier(func(*http.Response) resilienthttp.Outcome { return resilienthttp.Success }))},
		{name: "later option wins", handler: statuses(503), requests: 1, wantSeen: 3,
			opts: append([]resilienthttp.StandardOption{resilienthttp.WithoutRetry()}, quickRetries(3)...)},
		{name: "nil option", handler: statuses(200), requests: 1, wantSeen: 1,
			opts: []resilienthttp.StandardOption{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			tr := newStandard(t, newHTTPTransport(t), tt.opts...)
			var err error
			for range tt.requests {
				var resp *http.Response
				if resp, err = mustGet(t, tr, srv.URL); err == nil {
					readAll(t, resp)
				}
			}
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Errorf("last request: got %v, want %v", err, tt.wantErr)
			}
			if got := srv.requests.Load(); got != tt.wantSeen {
				t.Errorf("server saw %d requests, want %d", got, tt.wantSeen)
			}
		})
	}
}

// TestStandardHostOptions: the per-host parts can be turned off, and the
// number of hosts is bounded by WithMaxHosts.
func TestStandardHostOptions(t *testing.T) {
	a := newServer(t, statuses(200))
	b := newServer(t, statuses(200))
	get := func(tr *resilienthttp.Transport, url string) {
		t.Helper()
		resp, err := mustGet(t, tr, url)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}

	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithMaxHosts(1))
	get(tr, a.URL)
	get(tr, b.URL)
	// The second host made room by evicting the first, which was idle.
	if st := tr.Hosts().Stats(); st.Keys != 1 || st.Evicted != 1 {
		t.Errorf("WithMaxHosts(1): %d hosts and %d evicted, want 1 and 1", st.Keys, st.Evicted)
	}

	tr = newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBreaker())
	get(tr, a.URL)
	if h := hostPolicy(t, tr, a); h.Breaker != nil || h.Bulkhead == nil {
		t.Errorf("WithoutBreaker: %+v, want only a bulkhead", h)
	}
	tr = newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBulkhead())
	get(tr, a.URL)
	if h := hostPolicy(t, tr, a); h.Breaker == nil || h.Bulkhead != nil {
		t.Errorf("WithoutBulkhead: %+v, want only a breaker", h)
	}
	tr = newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBreaker(), resilienthttp.WithoutBulkhead(), resilienthttp.WithoutRetry())
	get(tr, a.URL)
	if tr.Hosts() != nil || tr.Budget() != nil {
		t.Errorf("without per-host parts and retries: Hosts() %v, Budget() %v; want nil, nil", tr.Hosts(), tr.Budget())
	}
	tr = newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBudget())
	if tr.Budget() != nil {
		t.Errorf("WithoutBudget: Budget() = %p, want nil", tr.Budget())
	}
	// WithKeyFunc keys the per-host parts: one key for both servers.
	tr = newStandard(t, newHTTPTransport(t), resilienthttp.WithKeyFunc(func(*http.Request) string { return "all" }))
	get(tr, a.URL)
	get(tr, b.URL)
	if got := tr.Hosts().Len(); got != 1 {
		t.Errorf("WithKeyFunc: %d keys, want 1", got)
	}
}

// TestStandardBadOptions: a bad option makes NewStandardTransport fail with
// an error that names the option and the value, and return no transport.
func TestStandardBadOptions(t *testing.T) {
	tests := []struct {
		opt  resilienthttp.StandardOption
		want []string
	}{
		{resilienthttp.WithOverallTimeout(-time.Second), []string{"WithOverallTimeout(-1s)"}},
		{resilienthttp.WithOverallTimeout(0), []string{"WithOverallTimeout(0s)"}},
		{resilienthttp.WithAttemptTimeout(-time.Millisecond), []string{"WithAttemptTimeout(-1ms)"}},
		{resilienthttp.WithMaxHosts(0), []string{"WithMaxHosts(0)"}},
		{resilienthttp.WithMaxHosts(-5), []string{"WithMaxHosts(-5)"}},
		{resilienthttp.WithBudget(nil), []string{"WithBudget(nil)"}},
		{resilienthttp.WithBudget(&retry.Budget{}), []string{"WithBudget(0x", "not made by NewBudget"}},
		{resilienthttp.WithRetry(retry.Config{MaxAttempts: -1}), []string{"WithRetry", "MaxAttempts -1"}},
		{resilienthttp.WithRetry(retry.Config{Jitter: 2}), []string{"WithRetry", "Jitter 2"}},
		{resilienthttp.WithBreaker(breaker.Config{FailureRatio: 1.5}), []string{"WithBreaker", "1.5"}},
		{resilienthttp.WithBulkhead(bulkhead.Config{MaxConcurrent: -1}), []string{"WithBulkhead", "-1"}},
		{resilienthttp.WithBulkhead(bulkhead.Config{MaxQueue: -3}), []string{"WithBulkhead", "-3"}},
	}
	for _, tt := range tests {
		tr, err := resilienthttp.NewStandardTransport(nil, tt.opt)
		if err == nil || tr != nil {
			t.Errorf("got %v, %v; want an error containing %q", tr, err, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) || !strings.HasPrefix(err.Error(), "resilienthttp: ") {
				t.Errorf("error %q, want it to start with %q and contain %q", err, "resilienthttp: ", w)
			}
		}
	}
}

// hangUntilDone is a next transport for synctest bubbles: attempt n (from
// 1) answers at once with status[n-1] when it is not zero, and otherwise
// waits until its request's context ends.
type hangUntilDone struct {
	statuses []int
	attempts atomic.Int64
	starts   []time.Duration // when each attempt started, since start
	start    time.Time
	mu       sync.Mutex
}

func (h *hangUntilDone) RoundTrip(req *http.Request) (*http.Response, error) {
	n := h.attempts.Add(1)
	h.mu.Lock()
	h.starts = append(h.starts, time.Since(h.start))
	h.mu.Unlock()
	if code := h.statuses[min(int(n), len(h.statuses))-1]; code != 0 {
		return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
	}
	<-req.Context().Done()
	return nil, context.Cause(req.Context())
}

// TestStandardTimeouts: with fake time, the overall deadline spans the
// attempts, each attempt gets the per-attempt timeout or what remains of the
// overall one, a per-attempt timeout is retried and the overall one ends the
// call; the caller's earlier deadline and cancellation stay the caller's.
func TestStandardTimeouts(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int // 0: hang
		opts       []resilienthttp.StandardOption
		callerCtx  func(context.Context) (context.Context, context.CancelFunc)
		wantStarts []time.Duration
		wantTook   time.Duration
		wantStatus int    // 0: an error
		wantName   string // the timeout.Error's name, "" for none
		wantErr    error
		// What the host's breaker counted, if not nil: the attempts the
		// per-attempt timeout ended are failures, one that the overall
		// deadline ended is neutral (the breaker's context had ended).
		wantCounts *breaker.Counts
	}{{
		name:     "overall spans attempts",
		statuses: []int{0},
		// A window longer than the test, so the counts hold all attempts.
		opts: append(quickRetries(5), resilienthttp.WithOverallTimeout(30*time.Second), resilienthttp.WithAttemptTimeout(10*time.Second),
			resilienthttp.WithBreaker(breaker.Config{FailureRatio: 0.5, MinCalls: 20, Window: time.Minute})),
		wantStarts: []time.Duration{0, 10 * time.Second, 20 * time.Second},
		wantTook:   30 * time.Second,
		wantName:   "overall",
		wantCounts: &breaker.Counts{Requests: 3, Failures: 2, Neutral: 1, ConsecutiveFailures: 2},
	}, {
		name:       "attempt timeout defaults to half a short overall one",
		statuses:   []int{0},
		opts:       append(quickRetries(3), resilienthttp.WithOverallTimeout(4*time.Second)),
		wantStarts: []time.Duration{0, 2 * time.Second},
		wantTook:   4 * time.Second,
		wantName:   "overall",
		wantCounts: &breaker.Counts{Requests: 2, Failures: 1, Neutral: 1, ConsecutiveFailures: 1},
	}, {
		name:       "last attempt cut by the overall deadline",
		statuses:   []int{0},
		opts:       append(quickRetries(5), resilienthttp.WithOverallTimeout(25*time.Second), resilienthttp.WithAttemptTimeout(10*time.Second)),
		wantStarts: []time.Duration{0, 10 * time.Second, 20 * time.Second},
		wantTook:   25 * time.Second,
		wantName:   "overall",
	}, {
		name:       "attempt timeout retried",
		statuses:   []int{0, 200},
		opts:       quickRetries(3),
		wantStarts: []time.Duration{0, resilienthttp.DefaultAttemptTimeout},
		wantTook:   resilienthttp.DefaultAttemptTimeout,
		wantStatus: 200,
		wantCounts: &breaker.Counts{Requests: 2, Successes: 1, Failures: 1},
	}, {
		name:       "attempts exhausted on attempt timeouts",
		statuses:   []int{0},
		opts:       append(quickRetries(2), resilienthttp.WithAttemptTimeout(time.Second)),
		wantStarts: []time.Duration{0, time.Second},
		wantTook:   2 * time.Second,
		wantName:   "attempt",
	}, {
		name:     "no sleep past the overall deadline",
		statuses: []int{0},
		opts: []resilienthttp.StandardOption{
			resilienthttp.WithRetry(retry.Config{InitialDelay: 20 * time.Second, Jitter: retry.NoJitter}),
			resilienthttp.WithoutBudget(), resilienthttp.WithAttemptTimeout(time.Second), resilienthttp.WithOverallTimeout(10 * time.Second)},
		wantStarts: []time.Duration{0},
		wantTook:   time.Second,
		wantName:   "attempt",
		wantErr:    context.DeadlineExceeded,
	}, {
		name:     "backoff within the overall deadline",
		statuses: []int{503, 503, 503},
		opts: []resilienthttp.StandardOption{
			resilienthttp.WithRetry(retry.Config{InitialDelay: 4 * time.Second, MaxDelay: time.Minute, Jitter: retry.NoJitter}),
			resilienthttp.WithoutBudget(), resilienthttp.WithOverallTimeout(10 * time.Second)},
		// The second wait (8 s) would end past the deadline.
		wantStarts: []time.Duration{0, 4 * time.Second},
		wantTook:   4 * time.Second,
		wantStatus: 503,
	}, {
		name:     "without timeouts",
		statuses: []int{0},
		opts:     append(quickRetries(3), resilienthttp.WithoutOverallTimeout(), resilienthttp.WithoutAttemptTimeout()),
		callerCtx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Hour)
		},
		wantStarts: []time.Duration{0},
		wantTook:   time.Hour,
		wantErr:    context.DeadlineExceeded,
	}, {
		name:     "caller's earlier deadline",
		statuses: []int{0},
		opts:     quickRetries(3),
		callerCtx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 5*time.Second)
		},
		wantStarts: []time.Duration{0},
		wantTook:   5 * time.Second,
		wantErr:    context.DeadlineExceeded,
	}, {
		name:     "caller's cancellation",
		statuses: []int{0},
		opts:     quickRetries(3),
		callerCtx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(3*time.Second, cancel)
			return ctx, cancel
		},
		wantStarts: []time.Duration{0},
		wantTook:   3 * time.Second,
		wantErr:    context.Canceled,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				next := &hangUntilDone{statuses: tt.statuses, start: time.Now()}
				tr := newStandard(t, next, tt.opts...)
				ctx := context.Background()
				if tt.callerCtx != nil {
					var cancel context.CancelFunc
					ctx, cancel = tt.callerCtx(ctx)
					defer cancel()
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://inventory.test/items", nil)
				resp, err := tr.RoundTrip(req)
				took := time.Since(next.start)
				if resp != nil {
					readAll(t, resp)
				}
				if tt.wantCounts != nil {
					var counts breaker.Counts
					tr.Hosts().Range(func(_ string, p resilience.Policy) bool {
						counts = p.(*resilienthttp.HostPolicy).Breaker.Counts()
						return false
					})
					if counts != *tt.wantCounts {
						t.Errorf("breaker counts %+v, want %+v", counts, *tt.wantCounts)
					}
				}
				if took != tt.wantTook {
					t.Errorf("took %v, want %v", took, tt.wantTook)
				}
				if !equalDurations(next.starts, tt.wantStarts) {
					t.Errorf("attempts started at %v, want %v", next.starts, tt.wantStarts)
				}
				if tt.wantStatus != 0 {
					if err != nil || resp.StatusCode != tt.wantStatus {
						t.Fatalf("got %v, %v; want %d", resp, err, tt.wantStatus)
					}
					return
				}
				if resp != nil || err == nil {
					t.Fatalf("got %v, %v; want an error", resp, err)
				}
				var te *timeout.Error
				isTimeout := errors.As(err, &te)
				switch {
				case tt.wantName != "" && (!isTimeout || te.Name != tt.wantName):
					t.Errorf("got %v, want a %s timeout", err, tt.wantName)
				case tt.wantName != "" && (!errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded)):
					t.Errorf("got %v, want it to match timeout.ErrTimeout and context.DeadlineExceeded", err)
				case tt.wantName == "" && isTimeout:
					t.Errorf("got %v, want no timeout of the transport's", err)
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Errorf("got %v, want %v", err, tt.wantErr)
				}
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne); tt.wantName != "" && !ne.Timeout() {
					t.Errorf("got %v, whose Timeout() is false", err)
				}
			})
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStandardAttemptTimeoutCountsForBreaker: on a real server, an attempt
// that hangs past the per-attempt timeout is retried, and the host's breaker
// counts it as a failure.
func TestStandardAttemptTimeoutCountsForBreaker(t *testing.T) {
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
	tr := newStandard(t, newHTTPTransport(t), append(quickRetries(3), resilienthttp.WithAttemptTimeout(100*time.Millisecond))...)
	resp, err := mustGet(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "ok" {
		t.Errorf("got %q, want %q", got, "ok")
	}
	if c := hostPolicy(t, tr, srv).Breaker.Counts(); c.Failures != 1 || c.Successes != 1 {
		t.Errorf("breaker counted %d failures and %d successes, want 1 and 1", c.Failures, c.Successes)
	}
}

// TestStandardOverallTimeoutRealServer: on a real server that hangs, the
// overall deadline ends the call across attempts, and an http.Client sees a
// timeout.
func TestStandardOverallTimeoutRealServer(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	tr := newStandard(t, newHTTPTransport(t), append(quickRetries(10),
		resilienthttp.WithOverallTimeout(250*time.Millisecond), resilienthttp.WithAttemptTimeout(100*time.Millisecond))...)
	client := &http.Client{Transport: tr}
	start := time.Now()
	resp, err := client.Get(srv.URL)
	took := time.Since(start)
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want timeout.ErrTimeout and context.DeadlineExceeded", err)
	}
	var ue interface{ Timeout() bool }
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Errorf("client error %v does not report Timeout()", err)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("took %v, want about 250ms", took)
	}
	if got := srv.requests.Load(); got < 2 || got > 3 {
		t.Errorf("server saw %d attempts, want 2 or 3 in 250ms of 100ms attempts", got)
	}
}

// TestStandardBodyReadable: the body of the response stays readable after
// RoundTrip returned, though both timeouts run; the transport's contexts are
// released when it is closed.
func TestStandardBodyReadable(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		slowBody(release)(n, w, r)
	})
	tr := newStandard(t, newHTTPTransport(t), quickRetries(3)...)
	ctx := newTrackingCtx()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
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

// TestStandardContextsReleased: whatever the outcome, the contexts of a
// standard transport end: on error paths before RoundTrip returns,
// otherwise when the body is closed.
func TestStandardContextsReleased(t *testing.T) {
	tests := []struct {
		name    string
		handler func(int64, http.ResponseWriter, *http.Request)
		dial    bool // to a closed port
		opts    []resilienthttp.StandardOption
		liveRT  int64 // contexts attached after RoundTrip
		wantErr bool
	}{
		{name: "success", handler: statuses(200), liveRT: 1},
		{name: "no body", handler: statuses(204), liveRT: 0},
		{name: "client error", handler: statuses(404), liveRT: 1},
		{name: "failures exhausted", handler: statuses(503), liveRT: 0, opts: quickRetries(3)},
		{name: "failures with backoff", handler: statuses(503), liveRT: 0,
			opts: []resilienthttp.StandardOption{resilienthttp.WithRetry(retry.Config{InitialDelay: time.Millisecond}), resilienthttp.WithoutBudget()}},
		{name: "network error", dial: true, liveRT: 0, wantErr: true, opts: quickRetries(3)},
		{name: "breaker open", handler: statuses(503), liveRT: 0, wantErr: true,
			opts: []resilienthttp.StandardOption{resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}), resilienthttp.WithoutRetry()}},
		{name: "attempt timeouts", handler: func(n int64, w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, liveRT: 0, wantErr: true, opts: append(quickRetries(2), resilienthttp.WithAttemptTimeout(20*time.Millisecond))},
		{name: "overall timeout", handler: func(n int64, w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, liveRT: 0, wantErr: true, opts: []resilienthttp.StandardOption{resilienthttp.WithOverallTimeout(50 * time.Millisecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://" + closedAddr(t)
			if !tt.dial {
				url = newServer(t, tt.handler).URL
			}
			tr := newStandard(t, newHTTPTransport(t), tt.opts...)
			if tt.name == "breaker open" {
				resp, err := mustGet(t, tr, url)
				if err != nil {
					t.Fatal(err)
				}
				readAll(t, resp)
			}
			ctx := newTrackingCtx()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := tr.RoundTrip(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want an error: %v", err, tt.wantErr)
			}
			if got := ctx.live.Load(); got != tt.liveRT {
				t.Errorf("after RoundTrip: %d contexts attached to the caller's, want %d", got, tt.liveRT)
			}
			if err != nil {
				return
			}
			readAll(t, resp)
			if got := ctx.live.Load(); got != 0 {
				t.Errorf("after Close: %d contexts attached to the caller's, want 0", got)
			}
		})
	}
}

// TestAttemptContext: the context that the wrapped transport gets keeps
// the context contract: the caller's values, the deadline, contexts derived
// from it and AfterFuncs registered on it end when the body is closed, and
// Err says why.
func TestAttemptContext(t *testing.T) {
	type key struct{}
	var got context.Context
	capture := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		got = req.Context()
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
	})
	tr := newStandard(t, capture, resilienthttp.WithAttemptTimeout(time.Hour), resilienthttp.WithOverallTimeout(2*time.Hour))
	ctx := context.WithValue(context.Background(), key{}, "value")
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://inventory.test/", nil)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Value(key{}); v != "value" {
		t.Errorf("Value: got %v, want the caller's %q", v, "value")
	}
	if d, ok := got.Deadline(); !ok || d.Before(start.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
		t.Errorf("Deadline: got %v, %v; want in an hour", d, ok)
	}
	child, cancelChild := context.WithCancel(got)
	defer cancelChild()
	stopped, cancelStopped := context.WithCancel(got)
	cancelStopped()
	ran := make(chan struct{})
	context.AfterFunc(got, func() { close(ran) })
	notRun := context.AfterFunc(got, func() { t.Error("stopped AfterFunc ran") })
	if !notRun() {
		t.Errorf("stop of a registered AfterFunc returned false")
	}
	if got.Err() != nil || child.Err() != nil {
		t.Fatalf("before Close: Err %v, child's %v; want nil", got.Err(), child.Err())
	}
	readAll(t, resp)
	for _, done := range []<-chan struct{}{got.Done(), child.Done(), ran} {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the context, a child or an AfterFunc did not end when the body was closed")
		}
	}
	if !errors.Is(got.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) || !errors.Is(stopped.Err(), context.Canceled) {
		t.Errorf("after Close: Err %v, child's %v; want context.Canceled", got.Err(), child.Err())
	}
	// Registering on an ended context runs the function at once.
	late := make(chan struct{})
	context.AfterFunc(got, func() { close(late) })
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc on an ended context did not run")
	}
}

// TestStandardNewTransportRetriesAtOnce: with the default budget, a
// transport that has just been made retries its first failure (the
// budget's floor starts with one second's worth), and not a second one
// right away.
func TestStandardNewTransportRetriesAtOnce(t *testing.T) {
	srv := newServer(t, statuses(503, 200, 503, 503, 200))
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithRetry(retry.Config{InitialDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "attempt 2" {
		t.Errorf("first request: got %d %q, want 200 %q", resp.StatusCode, got, "attempt 2")
	}
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); resp.StatusCode != 503 || got != "attempt 3" {
		t.Errorf("second request: got %d %q, want 503 %q (the budget has no second retry yet)", resp.StatusCode, got, "attempt 3")
	}
}

// TestFailureThatOpensBreakerIsNotRetried: a request whose failure opens
// its host's breaker gets that response at once, instead of after a
// retry's backoff and the breaker's rejection.
func TestFailureThatOpensBreakerIsNotRetried(t *testing.T) {
	srv := newServer(t, statuses(503))
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithoutBudget(),
		resilienthttp.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: 300 * time.Millisecond, MaxDelay: 300 * time.Millisecond, Jitter: retry.NoJitter}),
		resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); resp.StatusCode != 503 || got != "attempt 1" {
		t.Errorf("got %d %q, want 503 %q", resp.StatusCode, got, "attempt 1")
	}
	if got := time.Since(start); got > 200*time.Millisecond {
		t.Errorf("answered after %v, want at once (not after a 300 ms backoff and a rejection by the open breaker)", got)
	}
	if got := srv.requests.Load(); got != 1 {
		t.Errorf("server requests = %d, want 1", got)
	}
}

// TestOpenHostSurvivesEviction: a host whose breaker is open keeps its
// instance when the table is full and another host arrives, so that its
// next request is still rejected rather than sent to it with a fresh,
// closed breaker.
func TestOpenHostSurvivesEviction(t *testing.T) {
	a, b := newServer(t, statuses(503)), newServer(t, statuses(200))
	tr := newStandard(t, newHTTPTransport(t), resilienthttp.WithMaxHosts(1), resilienthttp.WithoutRetry(),
		resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Hour}))
	for _, u := range []string{a.URL, b.URL, a.URL} {
		req, _ := http.NewRequest("GET", u, nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			readAll(t, resp)
		}
	}
	if got := a.requests.Load(); got != 1 {
		t.Errorf("host a got %d requests, want 1: its open breaker was evicted", got)
	}
	if got := b.requests.Load(); got != 1 {
		t.Errorf("host b got %d requests, want 1", got)
	}
}
