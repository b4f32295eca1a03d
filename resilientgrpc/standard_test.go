package resilientgrpc_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

func newStandard(t testing.TB, opts ...resilientgrpc.StandardOption) *resilientgrpc.Standard {
	t.Helper()
	std, err := resilientgrpc.NewStandard(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return std
}

// keyPolicies returns the per-key policies of k by key.
func keyPolicies(t testing.TB, k interface {
	Range(func(string, resilience.Policy) bool)
}) map[string]*resilientgrpc.KeyPolicy {
	t.Helper()
	got := map[string]*resilientgrpc.KeyPolicy{}
	k.Range(func(key string, p resilience.Policy) bool {
		kp, ok := p.(*resilientgrpc.KeyPolicy)
		if !ok {
			t.Fatalf("key %q has a %T, want *KeyPolicy", key, p)
		}
		got[key] = kp
		return true
	})
	return got
}

// TestStandardDefaults: the preset keys by method, keeps its own timeouts
// of a unary call that has no deadline to the client (the server sees no
// deadline; see TestStandardDeadlineSentToServer), gives streams no
// deadline, and gives them their own bulkhead.
func TestStandardDefaults(t *testing.T) {
	var mu sync.Mutex
	var checkHasDeadline bool
	var watchHasDeadline bool
	release := make(chan struct{})
	h := &healthServer{
		check: func(ctx context.Context, _ int32) (*healthpb.HealthCheckResponse, error) {
			_, ok := ctx.Deadline()
			mu.Lock()
			checkHasDeadline = ok
			mu.Unlock()
			return serving(), nil
		},
		watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
			_, ok := s.Context().Deadline()
			mu.Lock()
			watchHasDeadline = ok
			mu.Unlock()
			if err := s.Send(serving()); err != nil {
				return err
			}
			<-release
			return nil
		},
	}
	std := newStandard(t)
	if std.Budget() != nil {
		t.Errorf("Budget() = %p, want nil: each key has a budget of its own", std.Budget())
	}
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if checkHasDeadline {
		t.Error("the server saw a deadline on a unary call without one, want none")
	}

	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	if watchHasDeadline {
		t.Error("the stream has a deadline, want none")
	}
	const check, watch = "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"
	unary, streams := keyPolicies(t, std.Keys()), keyPolicies(t, std.StreamKeys())
	if len(unary) != 1 || unary[check] == nil {
		t.Fatalf("unary keys %v, want only %s", unary, check)
	}
	if len(streams) != 1 || streams[watch] == nil {
		t.Fatalf("stream keys %v, want only %s", streams, watch)
	}
	if got := unary[check].Bulkhead.MaxConcurrent(); got != resilientgrpc.DefaultMaxInFlightPerKey {
		t.Errorf("bulkhead MaxConcurrent %d, want %d", got, resilientgrpc.DefaultMaxInFlightPerKey)
	}
	if got := streams[watch].Bulkhead.InFlight(); got != 1 {
		t.Errorf("stream bulkhead InFlight %d while the stream is open, want 1", got)
	}
	close(release)
	if _, err := w.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	if got := streams[watch].Bulkhead.InFlight(); got != 0 {
		t.Errorf("stream bulkhead InFlight %d after the end, want 0", got)
	}
	if c := streams[watch].Breaker.Counts(); c.Successes != 1 {
		t.Errorf("stream breaker counts %+v, want 1 success", c)
	}
}

// TestStandardBudgetPerKey: by default each key has a retry budget of its
// own, so the retries to a failing target are paid for by its own calls:
// a busy healthy target's traffic does not fund them.
func TestStandardBudgetPerKey(t *testing.T) {
	healthy := &healthServer{}
	failing := &healthServer{check: func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "down")
	}}
	// Per target, and no breaker, so that only the budget limits retries.
	std := newStandard(t, resilientgrpc.WithKeyFunc(resilientgrpc.TargetKey), resilientgrpc.WithoutBreaker(),
		resilientgrpc.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay}))
	healthyAddr, failingAddr := serve(t, healthy, nil), serve(t, failing, nil)
	healthyClient := healthpb.NewHealthClient(dial(t, healthyAddr, std.DialOptions()...))
	failingClient := healthpb.NewHealthClient(dial(t, failingAddr, std.DialOptions()...))
	start := time.Now()
	for range 100 { // 10 retries' worth, were the budget shared
		if _, err := healthyClient.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	const calls = 10
	for range calls {
		if _, err := failingClient.Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
			t.Fatalf("failing target: err %v, want Unavailable", err)
		}
	}
	// The failing key's budget: its floor's first second (1 retry), a
	// tenth of a retry per call, and the floor's 1 retry a second since.
	limit := int32(calls + 1 + calls/10 + int(time.Since(start)/time.Second) + 1)
	if got := failing.checks.Load(); got > limit || got <= calls {
		t.Errorf("failing target saw %d attempts for %d calls, want some retries and at most %d: more were paid for by the healthy target's calls", got, calls, limit)
	}
	var seen int
	for key, k := range keyPolicies(t, std.Keys()) {
		if k.Budget == nil {
			t.Fatalf("key %s has no budget", key)
		}
		st := k.Budget.State()
		switch {
		case strings.Contains(key, healthyAddr):
			seen++
			if st.Allowed != 0 || st.Available < 10 {
				t.Errorf("healthy key's budget: %d retries allowed, %.1f available; want 0 and at least 10", st.Allowed, st.Available)
			}
		case strings.Contains(key, failingAddr):
			seen++
			if st.Allowed == 0 || st.Rejected == 0 {
				t.Errorf("failing key's budget: %d retries allowed, %d refused; want some of each", st.Allowed, st.Rejected)
			}
		}
	}
	if seen != 2 {
		t.Errorf("found %d of the 2 targets among the keys", seen)
	}
}

func TestStandardPerTarget(t *testing.T) {
	std := newStandard(t, resilientgrpc.WithKeyFunc(resilientgrpc.TargetKey))
	addr := serve(t, &healthServer{}, nil)
	client := healthpb.NewHealthClient(dial(t, addr, std.DialOptions()...))
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvAll[healthpb.HealthCheckResponse](w); err != io.EOF {
		t.Fatal(err)
	}
	for name, k := range map[string]map[string]*resilientgrpc.KeyPolicy{
		"unary":  keyPolicies(t, std.Keys()),
		"stream": keyPolicies(t, std.StreamKeys()),
	} {
		if len(k) != 1 || k[addr] == nil {
			t.Errorf("%s keys %v, want only the target %s", name, k, addr)
		}
	}
}

func TestStandardBadOptions(t *testing.T) {
	tests := []struct {
		opt  resilientgrpc.StandardOption
		want string
	}{
		{resilientgrpc.WithOverallTimeout(-time.Second), "WithOverallTimeout(-1s)"},
		{resilientgrpc.WithAttemptTimeout(0), "WithAttemptTimeout(0s)"},
		{resilientgrpc.WithBudget(nil), "WithBudget(nil)"},
		{resilientgrpc.WithMaxKeys(0), "WithMaxKeys(0)"},
		{resilientgrpc.WithRetry(retry.Config{MaxAttempts: -1}), "WithRetry: retry: MaxAttempts -1"},
		{resilientgrpc.WithBreaker(breaker.Config{FailureRatio: 1.5}), "WithBreaker: breaker: FailureRatio 1.5"},
		{resilientgrpc.WithBulkhead(bulkhead.Config{MaxConcurrent: -1}), "WithBulkhead: bulkhead: MaxConcurrent -1"},
	}
	for _, tt := range tests {
		std, err := resilientgrpc.NewStandard(tt.opt)
		if err == nil || std != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewStandard: %v, %v; want no preset and an error containing %q", std, err, tt.want)
		}
	}
}

// TestStandardBreakerOpens: the per-method breaker opens, and its
// rejection leaves as Unavailable matching breaker.ErrOpen without a call
// to the server.
func TestStandardBreakerOpens(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	std := newStandard(t, resilientgrpc.WithoutRetry(), resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 2}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	for i := range 3 {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Unavailable || errors.Is(err, breaker.ErrOpen) != (i == 2) {
			t.Errorf("call %d: %v, want Unavailable, from the breaker only on the third", i+1, err)
		}
	}
	if got := h.checks.Load(); got != 2 {
		t.Errorf("server calls = %d, want 2", got)
	}
	// The stream of another method has a breaker of its own.
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatalf("Watch while Check's breaker is open: %v", err)
	}
	if _, err := recvAll[healthpb.HealthCheckResponse](w); err != io.EOF {
		t.Fatal(err)
	}
}

// TestStandardRetries: the preset retries Unavailable, within its budget.
func TestStandardRetries(t *testing.T) {
	failTwice := func(_ context.Context, n int32) (*healthpb.HealthCheckResponse, error) {
		if n < 3 {
			return nil, status.Error(codes.Unavailable, "down")
		}
		return serving(), nil
	}
	t.Run("no budget", func(t *testing.T) {
		h := &healthServer{check: failTwice}
		std := newStandard(t, resilientgrpc.WithRetry(retry.Config{InitialDelay: retry.NoDelay}), resilientgrpc.WithoutBudget())
		client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
		if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := h.checks.Load(); got != 3 {
			t.Errorf("server calls = %d, want 3", got)
		}
	})
	t.Run("budget", func(t *testing.T) {
		// A ratio of 1 and no floor: each call earns one retry.
		budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 1, MinPerSecond: 1e-9})
		if err != nil {
			t.Fatal(err)
		}
		h := &healthServer{check: failTwice}
		std := newStandard(t, resilientgrpc.WithRetry(retry.Config{InitialDelay: retry.NoDelay}), resilientgrpc.WithBudget(budget))
		client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
		_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Unavailable || !errors.Is(err, retry.ErrBudgetExhausted) {
			t.Errorf("err %v, want Unavailable matching retry.ErrBudgetExhausted", err)
		}
		if got := h.checks.Load(); got != 2 {
			t.Errorf("server calls = %d, want 2", got)
		}
		if st := std.Budget().State(); st.Allowed != 1 || st.Rejected != 1 {
			t.Errorf("budget %+v, want 1 retry allowed and 1 rejected", st)
		}
	})
}

// TestStandardTimeouts: the preset's own timeouts leave as DeadlineExceeded
// matching timeout.ErrTimeout, named after the one that fired, and are not
// retried; a per-attempt timeout is a failure for the breaker.
func TestStandardTimeouts(t *testing.T) {
	tests := []struct {
		name     string
		opts     []resilientgrpc.StandardOption
		want     string
		failures uint32 // the overall timeout ends the breaker's context too: neutral
	}{
		{"attempt", []resilientgrpc.StandardOption{resilientgrpc.WithAttemptTimeout(20 * time.Millisecond)}, "attempt", 1},
		{"overall", []resilientgrpc.StandardOption{resilientgrpc.WithOverallTimeout(20 * time.Millisecond), resilientgrpc.WithoutAttemptTimeout()}, "overall", 0},
		// An overall timeout set alone halves the default attempt timeout,
		// so a hung attempt still fails as an attempt.
		{"attempt from overall", []resilientgrpc.StandardOption{resilientgrpc.WithOverallTimeout(40 * time.Millisecond)}, "attempt", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &healthServer{check: hang(nil)}
			std := newStandard(t, append(tt.opts, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 100}))...)
			client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
			_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
			var terr *timeout.Error
			if status.Code(err) != codes.DeadlineExceeded || !errors.As(err, &terr) || terr.Name != tt.want {
				t.Fatalf("err %v, want DeadlineExceeded from a *timeout.Error named %q", err, tt.want)
			}
			if !errors.Is(err, timeout.ErrTimeout) {
				t.Errorf("errors.Is(err, timeout.ErrTimeout) = false")
			}
			if got := h.checks.Load(); got != 1 {
				t.Errorf("server calls = %d, want 1", got)
			}
			kp := keyPolicies(t, std.Keys())["/grpc.health.v1.Health/Check"]
			if c := kp.Breaker.Counts(); c.Failures != tt.failures || c.Requests != 1 {
				t.Errorf("breaker counts %+v, want 1 outcome, %d failures", c, tt.failures)
			}
		})
	}
}

// TestOneDeadlineAcrossAttempts: attempts share one overall deadline, and
// each gets the earlier of its own timeout and what remains of it; the
// retry starts no attempt after it. Both with timeout policies around the
// interceptor's op and with the preset's own timeouts.
func TestOneDeadlineAcrossAttempts(t *testing.T) {
	retryDeadline := resilientgrpc.WithRetryableCodes(codes.Unavailable, codes.DeadlineExceeded)
	tests := []struct {
		name      string
		intercept func(t *testing.T) grpc.UnaryClientInterceptor
	}{
		{"policies", func(t *testing.T) grpc.UnaryClientInterceptor {
			overall, _ := timeout.New(timeout.Config{Duration: time.Second})
			perAttempt, _ := timeout.New(timeout.Config{Duration: 400 * time.Millisecond})
			p := resilience.Chain(overall, newRetry(t, retry.Config{MaxAttempts: 10}), perAttempt)
			return resilientgrpc.UnaryClientInterceptor(p, retryDeadline)
		}},
		{"standard", func(t *testing.T) grpc.UnaryClientInterceptor {
			return newStandard(t,
				resilientgrpc.WithOverallTimeout(time.Second),
				resilientgrpc.WithAttemptTimeout(400*time.Millisecond),
				resilientgrpc.WithRetry(retry.Config{MaxAttempts: 10, InitialDelay: retry.NoDelay}),
				resilientgrpc.WithoutBudget(),
				retryDeadline,
			).UnaryClientInterceptor()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				intercept := tt.intercept(t)
				// How long each attempt ran before its context ended: the
				// preset's attempt contexts report no deadline to gRPC when
				// the caller's has none, so it is measured, not read.
				var left []time.Duration
				invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
					start := time.Now()
					<-ctx.Done()
					left = append(left, time.Since(start))
					return status.FromContextError(ctx.Err()).Err()
				}
				start := time.Now()
				err := intercept(context.Background(), "/svc/Method", nil, nil, nil, invoker)
				if got := time.Since(start); got != time.Second {
					t.Errorf("the call took %v, want the overall 1s", got)
				}
				want := []time.Duration{400 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond}
				if len(left) != len(want) {
					t.Fatalf("attempt deadlines %v, want %v", left, want)
				}
				for i := range want {
					if left[i] != want[i] {
						t.Errorf("attempt %d had %v, want %v", i+1, left[i], want[i])
					}
				}
				if status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, timeout.ErrTimeout) {
					t.Errorf("err %v, want DeadlineExceeded matching timeout.ErrTimeout", err)
				}
			})
		})
	}
}

// Regression (found in review): a half-open stream breaker whose probe is a
// long, healthy stream closes at the probe's first message. When it learned
// the outcome only at the stream's end, the probe's slot expired first, its
// success was ignored, and the breaker stayed half-open, rejecting most new
// streams, for as long as streams kept coming.
func TestStreamProbeClosesBreakerAtFirstMessage(t *testing.T) {
	const openFor = 100 * time.Millisecond
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "restarting")
		}
		if err := s.Send(serving()); err != nil {
			return err
		}
		<-s.Context().Done() // a long, healthy watch
		return nil
	}}
	std := newStandard(t, resilientgrpc.WithoutRetry(), resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 1, OpenFor: openFor}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	watch := func() error { return firstWatchMessage(ctx, client) }
	if err := watch(); status.Code(err) != codes.Unavailable {
		t.Fatalf("first watch: got %v, want Unavailable", err)
	}
	breakerOf := func() *breaker.Breaker {
		for _, k := range keyPolicies(t, std.StreamKeys()) {
			return k.Breaker
		}
		t.Fatal("no stream breaker")
		return nil
	}
	if got := breakerOf().State(); got != breaker.StateOpen {
		t.Fatalf("after the failure: state %v, want open", got)
	}
	time.Sleep(openFor*11/10 + 20*time.Millisecond) // sleep-ok: a real gRPC server; wait out the (jittered) open period
	if err := watch(); err != nil {                 // the probe: a healthy watch that stays open
		t.Fatalf("probe: %v", err)
	}
	if got := breakerOf().State(); got != breaker.StateClosed {
		t.Fatalf("after the probe's first message: state %v, want closed", got)
	}
	for i := range 5 {
		if err := watch(); err != nil {
			t.Errorf("watch %d after the probe: %v, want it admitted", i, err)
		}
	}
}

// TestStreamProbeSlowFirstMessageClosesBreaker: a stream probe whose first
// message comes after ProbeFailAfter (the breaker reopened meanwhile) still
// closes the breaker when it comes.
func TestStreamProbeSlowFirstMessageClosesBreaker(t *testing.T) {
	// Wide margins: a loaded machine may delay each step by a few hundred
	// milliseconds. The check runs 400 ms into the probe, 300 ms after it
	// went overdue and 400 ms before its first message, with the breaker
	// open for about a second from the overdue moment.
	const openFor, failAfter, firstMessage = time.Second, 100 * time.Millisecond, 800 * time.Millisecond
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "restarting")
		}
		select {
		case <-time.After(firstMessage): // sleep-ok: a real gRPC server, slow to send its first message
		case <-s.Context().Done():
			return nil
		}
		if err := s.Send(serving()); err != nil {
			return err
		}
		<-s.Context().Done()
		return nil
	}}
	std := newStandard(t, resilientgrpc.WithoutRetry(),
		resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 1, OpenFor: openFor, ProbeFailAfter: failAfter}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watch := func() error { return firstWatchMessage(ctx, client) }
	if err := watch(); status.Code(err) != codes.Unavailable {
		t.Fatalf("first watch: got %v, want Unavailable", err)
	}
	var br *breaker.Breaker
	for _, k := range keyPolicies(t, std.StreamKeys()) {
		br = k.Breaker
	}
	time.Sleep(openFor*11/10 + 20*time.Millisecond) // sleep-ok: a real gRPC server; wait out the (jittered) open period
	probe := make(chan error, 1)
	go func() { probe <- watch() }()
	time.Sleep(failAfter + 300*time.Millisecond) // sleep-ok: a real gRPC server; past ProbeFailAfter
	if err := watch(); status.Code(err) != codes.Unavailable {
		t.Fatalf("a stream while the probe is overdue: got %v, want Unavailable (the breaker reopened)", err)
	}
	if got := br.State(); got != breaker.StateOpen {
		t.Fatalf("while the probe is overdue: state %v, want open", got)
	}
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := br.State(); got != breaker.StateClosed {
		t.Errorf("after the probe's late first message: state %v, want closed", got)
	}
}

// TestFailureThatOpensBreakerIsNotRetried: a unary call whose failure opens
// its method's breaker comes back at once with that failure, instead of
// after a retry's backoff and the breaker's rejection.
func TestFailureThatOpensBreakerIsNotRetried(t *testing.T) {
	h := &healthServer{check: func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "down")
	}}
	std := newStandard(t, resilientgrpc.WithoutBudget(),
		resilientgrpc.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: 300 * time.Millisecond, MaxDelay: 300 * time.Millisecond, Jitter: retry.NoJitter}),
		resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	start := time.Now()
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want the server's Unavailable", err)
	}
	if got := time.Since(start); got > 200*time.Millisecond {
		t.Errorf("answered after %v, want at once (not after a 300 ms backoff and a rejection by the open breaker)", got)
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("server calls = %d, want 1", got)
	}
}

// firstWatchMessage opens a Watch stream and reads its first message.
func firstWatchMessage(ctx context.Context, client healthpb.HealthClient) error {
	w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = w.Recv()
	return err
}

// TestOpenKeySurvivesEviction: a method whose breaker is open keeps its
// instance when the table is full and another method is called, so that
// its next call is still rejected rather than sent with a fresh, closed
// breaker.
func TestOpenKeySurvivesEviction(t *testing.T) {
	h := &healthServer{check: func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "down")
	}}
	ts := &testService{unary: func(*testpb.SimpleRequest) (*testpb.SimpleResponse, error) { return &testpb.SimpleResponse{}, nil }}
	std := newStandard(t, resilientgrpc.WithMaxKeys(1), resilientgrpc.WithoutRetry(),
		resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Hour}))
	cc := dial(t, serve(t, h, ts), std.DialOptions()...)
	health, test := healthpb.NewHealthClient(cc), testpb.NewTestServiceClient(cc)
	ctx := context.Background()
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("first check: got %v, want Unavailable from the server", err)
	}
	if _, err := test.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("the other method: %v", err)
	}
	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	if !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("second check: got %v, want the open breaker's rejection", err)
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("the server got %d checks, want 1: the method's open breaker was evicted", got)
	}
}
