package resilientgrpc_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

func newRetry(t testing.TB, cfg retry.Config) *retry.Retry {
	t.Helper()
	if cfg.InitialDelay == 0 {
		cfg.InitialDelay = retry.NoDelay
	}
	r, err := retry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newBreaker(t testing.TB, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newBulkhead(t testing.TB, cfg bulkhead.Config) *bulkhead.Bulkhead {
	t.Helper()
	b, err := bulkhead.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefaultClassifier(t *testing.T) {
	tests := []struct {
		code codes.Code
		want resilientgrpc.Outcome
	}{
		{codes.OK, resilientgrpc.Success},
		{codes.Canceled, resilientgrpc.ClientError},
		{codes.Unknown, resilientgrpc.Failure},
		{codes.InvalidArgument, resilientgrpc.ClientError},
		{codes.DeadlineExceeded, resilientgrpc.Failure},
		{codes.NotFound, resilientgrpc.ClientError},
		{codes.AlreadyExists, resilientgrpc.ClientError},
		{codes.PermissionDenied, resilientgrpc.ClientError},
		{codes.ResourceExhausted, resilientgrpc.Failure},
		{codes.FailedPrecondition, resilientgrpc.ClientError},
		{codes.Aborted, resilientgrpc.ClientError},
		{codes.OutOfRange, resilientgrpc.ClientError},
		{codes.Unimplemented, resilientgrpc.ClientError},
		{codes.Internal, resilientgrpc.Failure},
		{codes.Unavailable, resilientgrpc.Failure},
		{codes.DataLoss, resilientgrpc.Failure},
		{codes.Unauthenticated, resilientgrpc.ClientError},
		{codes.Code(99), resilientgrpc.ClientError},
	}
	for _, tt := range tests {
		if got := resilientgrpc.DefaultClassifier(tt.code); got != tt.want {
			t.Errorf("DefaultClassifier(%v) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

// TestClassification runs every code through a real server, under a retry
// of 3 attempts around a breaker: failures count, client errors are
// neutral, only Unavailable is retried, and the caller gets the server's
// status.
func TestClassification(t *testing.T) {
	tests := []struct {
		code     codes.Code
		calls    int32
		failures uint32
		neutral  uint32
	}{
		{codes.Unavailable, 3, 3, 0},
		{codes.Unknown, 1, 1, 0},
		{codes.Internal, 1, 1, 0},
		{codes.DataLoss, 1, 1, 0},
		{codes.ResourceExhausted, 1, 1, 0},
		{codes.DeadlineExceeded, 1, 1, 0}, // from the server, the caller's context alive
		{codes.InvalidArgument, 1, 0, 1},
		{codes.NotFound, 1, 0, 1},
		{codes.AlreadyExists, 1, 0, 1},
		{codes.PermissionDenied, 1, 0, 1},
		{codes.Unauthenticated, 1, 0, 1},
		{codes.FailedPrecondition, 1, 0, 1},
		{codes.OutOfRange, 1, 0, 1},
		{codes.Unimplemented, 1, 0, 1},
		{codes.Aborted, 1, 0, 1},
		{codes.Canceled, 1, 0, 1},
	}
	h := &healthServer{}
	addr := serve(t, h, nil)
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			h.checks.Store(0)
			h.check = fail(tt.code)
			br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
			p := resilience.Chain(newRetry(t, retry.Config{MaxAttempts: 3}), br)
			client := healthpb.NewHealthClient(dial(t, addr, interceptors(p)...))

			_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tt.code {
				t.Errorf("status.Code(err) = %v, want %v (err %v)", got, tt.code, err)
			}
			if got := h.checks.Load(); got != tt.calls {
				t.Errorf("server calls = %d, want %d", got, tt.calls)
			}
			c := br.Counts()
			if c.Failures != tt.failures || c.Neutral != tt.neutral || c.Successes != 0 {
				t.Errorf("breaker counts %+v, want %d failures and %d neutral", c, tt.failures, tt.neutral)
			}
		})
	}
}

// TestCallerCancellationNeutral: a call the caller cancels while the
// server works is neutral for the breaker and not retried, whatever the
// code it ends with.
func TestCallerCancellationNeutral(t *testing.T) {
	entered := make(chan struct{})
	h := &healthServer{check: hang(entered)}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
	client := unaryClient(t, h, resilience.Chain(newRetry(t, retry.Config{}), br),
		resilientgrpc.WithRetryableCodes(codes.Unavailable, codes.Canceled))

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	if got := status.Code(err); got != codes.Canceled {
		t.Errorf("status.Code(err) = %v, want Canceled", got)
	}
	if c := br.Counts(); c.Neutral != 1 || c.Failures != 0 {
		t.Errorf("breaker counts %+v, want 1 neutral, 0 failures", c)
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("server calls = %d, want 1", got)
	}
	if got := br.State(); got != breaker.StateClosed {
		t.Errorf("breaker %v, want closed", got)
	}
}

func TestWithClassifierAndRetryableCodes(t *testing.T) {
	h := &healthServer{check: fail(codes.NotFound)}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
	notFoundIsFailure := resilientgrpc.WithClassifier(func(c codes.Code) resilientgrpc.Outcome {
		if c == codes.NotFound {
			return resilientgrpc.Failure
		}
		return resilientgrpc.DefaultClassifier(c)
	})
	client := unaryClient(t, h, resilience.Chain(newRetry(t, retry.Config{MaxAttempts: 2}), br),
		notFoundIsFailure, resilientgrpc.WithRetryableCodes(codes.NotFound))
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if got := status.Code(err); got != codes.NotFound {
		t.Errorf("status.Code(err) = %v, want NotFound", got)
	}
	if got := h.checks.Load(); got != 2 {
		t.Errorf("server calls = %d, want 2", got)
	}
	if c := br.Counts(); c.Failures != 2 {
		t.Errorf("breaker counts %+v, want 2 failures", c)
	}
}

// hints is a policy that records the retry hint of each error op returns.
type hints struct {
	mu  sync.Mutex
	got []string
}

func (h *hints) Do(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	d, ok := resilience.RetryAfter(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		h.got = append(h.got, d.String())
	} else {
		h.got = append(h.got, "none")
	}
	return err
}

func TestPushback(t *testing.T) {
	tests := []struct {
		name     string
		pushback []string
		calls    int32
		hint     string
		reason   retry.Reason // of the *retry.Error, if the retry gave up on it
	}{
		{"absent", nil, 3, "none", retry.ReasonExhausted},
		{"zero", []string{"0"}, 3, "0s", retry.ReasonExhausted},
		{"delay", []string{"5"}, 3, "5ms", retry.ReasonExhausted},
		{"above MaxRetryAfter", []string{"60000"}, 1, "1m0s", retry.ReasonRetryAfter},
		{"beyond int64", []string{"99999999999999999999999"}, 1, "2562047h47m16.854s", retry.ReasonRetryAfter},
		{"negative", []string{"-1"}, 1, "none", 0},
		{"malformed", []string{"soon"}, 1, "none", 0},
		{"decimal", []string{"1.5"}, 1, "none", 0},
		{"several values", []string{"1", "2"}, 1, "none", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &healthServer{check: fail(codes.Unavailable, tt.pushback...)}
			rec := &hints{}
			p := resilience.Chain(newRetry(t, retry.Config{MaxAttempts: 3}), rec)
			client := unaryClient(t, h, p)
			_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != codes.Unavailable {
				t.Errorf("status.Code(err) = %v, want Unavailable", got)
			}
			if got := h.checks.Load(); got != tt.calls {
				t.Errorf("server calls = %d, want %d", got, tt.calls)
			}
			if rec.got[0] != tt.hint {
				t.Errorf("hint = %s, want %s", rec.got[0], tt.hint)
			}
			var rerr *retry.Error
			switch {
			case tt.reason == 0 && errors.As(err, &rerr):
				t.Errorf("the retry gave up (%v), want the error returned at once as not retryable", rerr.Reason)
			case tt.reason != 0 && !errors.As(err, &rerr):
				t.Errorf("err %v is no *retry.Error, want one with reason %v", err, tt.reason)
			case tt.reason != 0 && rerr.Reason != tt.reason:
				t.Errorf("retry reason %v, want %v", rerr.Reason, tt.reason)
			}
		})
	}
}

// TestPushbackDelaysRetry: the retry waits at least the pushback.
func TestPushbackDelaysRetry(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable, "30")}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 2}))
	start := time.Now()
	_, _ = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if got := time.Since(start); got < 30*time.Millisecond {
		t.Errorf("two attempts took %v, want at least the pushback of 30ms", got)
	}
	if got := h.checks.Load(); got != 2 {
		t.Errorf("server calls = %d, want 2", got)
	}
}

// TestCallerTrailerStillFilled: the interceptor's own trailer option does not
// take the caller's place; the caller gets the last attempt's trailer.
func TestCallerTrailerStillFilled(t *testing.T) {
	h := &healthServer{check: func(ctx context.Context, n int32) (*healthpb.HealthCheckResponse, error) {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("attempt", string('0'+rune(n)), "grpc-retry-pushback-ms", "0"))
		if n < 3 {
			return nil, status.Error(codes.Unavailable, "down")
		}
		return serving(), nil
	}}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	var md metadata.MD
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Trailer(&md)); err != nil {
		t.Fatal(err)
	}
	if got := md.Get("attempt"); len(got) != 1 || got[0] != "3" {
		t.Errorf("caller's trailer attempt = %q, want [3]", got)
	}
	if got := md.Get("grpc-retry-pushback-ms"); len(got) != 1 || got[0] != "0" {
		t.Errorf("caller's trailer pushback = %q, want [0]", got)
	}
}

// TestOnFinishOnce: a caller's OnFinish is called once per call, with the
// interceptor's error, not once per attempt.
func TestOnFinishOnce(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	var calls atomic.Int32
	var got error
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.OnFinish(func(err error) {
		calls.Add(1)
		got = err
	}))
	if n := calls.Load(); n != 1 {
		t.Errorf("OnFinish called %d times, want 1", n)
	}
	if got != err {
		t.Errorf("OnFinish got %v, want the call's error %v", got, err)
	}
	if n := h.checks.Load(); n != 3 {
		t.Errorf("server calls = %d, want 3", n)
	}
}

// TestServerStatusPassesThrough: the caller gets gRPC's error itself, with
// the server's details; through a retry that gave up, the same status.
func TestServerStatusPassesThrough(t *testing.T) {
	st, err := status.New(codes.Unavailable, "down for maintenance").WithDetails(serving())
	if err != nil {
		t.Fatal(err)
	}
	for _, attempts := range []int{1, 2} {
		h := &healthServer{check: func(context.Context, int32) (*healthpb.HealthCheckResponse, error) { return nil, st.Err() }}
		client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: attempts}))
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		got, ok := status.FromError(err)
		if !ok || got.Code() != codes.Unavailable || got.Message() != "down for maintenance" || len(got.Details()) != 1 {
			t.Errorf("%d attempts: status %v (ok %v) with %d details, want Unavailable %q with 1 detail",
				attempts, got, ok, len(got.Details()), "down for maintenance")
		}
		var rerr *retry.Error
		if isRetryErr := errors.As(err, &rerr); isRetryErr != (attempts > 1) {
			t.Errorf("%d attempts: errors.As(err, *retry.Error) = %v", attempts, isRetryErr)
		}
		if attempts == 1 && (reflect.TypeOf(err) != reflect.TypeOf(st.Err()) || err.Error() != st.Err().Error()) {
			t.Errorf("1 attempt: err %T %q, want gRPC's own %T %q", err, err, st.Err(), st.Err())
		}
		// The marks for the policies stay inside the interceptor.
		if retry.IsPermanent(err) || resilience.IsNeutral(err) {
			t.Errorf("%d attempts: the caller's error is marked permanent or neutral", attempts)
		}
	}
}

// pastDeadline is a context whose deadline has passed but whose timer has
// not run yet: Err is still nil.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestCallerDeadlinePassedNeutral: an attempt that fails once the caller's
// deadline has passed is neutral, even before the context's timer has run
// (gRPC may report the deadline first).
func TestCallerDeadlinePassedNeutral(t *testing.T) {
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
	intercept := resilientgrpc.UnaryClientInterceptor(br)
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		return status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	}
	err := intercept(pastDeadline{context.Background()}, "/svc/Method", nil, nil, nil, invoker)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("err %v, want DeadlineExceeded", err)
	}
	if c := br.Counts(); c.Neutral != 1 || c.Failures != 0 {
		t.Errorf("breaker counts %+v, want 1 neutral", c)
	}
	// The breaker checks the deadline itself; a policy of the caller's own
	// sees only the marks on the op's error.
	p, got := marks()
	resilientgrpc.UnaryClientInterceptor(p)(pastDeadline{context.Background()}, "/svc/Method", nil, nil, nil, invoker)
	if neutral, permanent, opErr := got(); !neutral || !permanent {
		t.Errorf("op error %v: neutral %v, permanent %v; want both", opErr, neutral, permanent)
	}
}

// TestRejectionsAreStatusErrors: policy errors leave the interceptor as
// status errors with the documented code, and still match the sentinels.
func TestRejectionsAreStatusErrors(t *testing.T) {
	open := newBreaker(t, breaker.Config{})
	if err := open.SetMode(breaker.ModeForcedOpen); err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Config{Rate: rate.Limit(1e-6), Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := limiter.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	short, err := timeout.New(timeout.Config{Duration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	full := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1})
	hold := make(chan struct{})
	held := make(chan struct{})
	go func() {
		_ = full.Do(context.Background(), func(context.Context) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	defer close(hold)
	custom := resilience.NewRejection("custom: no")

	tests := []struct {
		name   string
		p      resilience.Policy
		check  func(context.Context, int32) (*healthpb.HealthCheckResponse, error)
		ctx    func() context.Context
		code   codes.Code
		target error
	}{
		{name: "breaker open", p: open, code: codes.Unavailable, target: breaker.ErrOpen},
		{name: "bulkhead full", p: full, code: codes.ResourceExhausted, target: bulkhead.ErrFull},
		{name: "rate limited", p: limiter, code: codes.ResourceExhausted, target: ratelimit.ErrLimited},
		{name: "other rejection", p: resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return custom }),
			code: codes.Unavailable, target: resilience.ErrRejected},
		{name: "timeout", p: short, check: hang(nil), code: codes.DeadlineExceeded, target: timeout.ErrTimeout},
		{name: "caller cancelled", p: newRetry(t, retry.Config{}), check: hang(nil), code: codes.Canceled,
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			}},
		{name: "retries exhausted", p: newRetry(t, retry.Config{MaxAttempts: 2}), check: fail(codes.Unavailable), code: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &healthServer{check: tt.check}
			opts := append(interceptors(tt.p), hideDeadline()...)
			client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), opts...))
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tt.code {
				t.Errorf("status.Code(err) = %v, want %v (err %v)", got, tt.code, err)
			}
			if st, ok := status.FromError(err); !ok || st.Code() != tt.code {
				t.Errorf("status.FromError(err) = %v, %v; want a status with code %v", st, ok, tt.code)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("errors.Is(err, %v) = false, want true (err %v)", tt.target, err)
			}
		})
	}
}

// TestBudgetExhaustedKeepsLastStatus: when the retry budget refuses the
// retry, the caller gets the last attempt's status, and the error still
// matches retry.ErrBudgetExhausted.
func TestBudgetExhaustedKeepsLastStatus(t *testing.T) {
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	h := &healthServer{check: func(context.Context, int32) (*healthpb.HealthCheckResponse, error) {
		return nil, status.Error(codes.ResourceExhausted, "quota exceeded")
	}}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3, Budget: budget}),
		resilientgrpc.WithRetryableCodes(codes.ResourceExhausted))
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || st.Message() != "quota exceeded" {
		t.Errorf("status %v, want the last attempt's: ResourceExhausted %q", st, "quota exceeded")
	}
	if !errors.Is(err, retry.ErrBudgetExhausted) {
		t.Errorf("errors.Is(err, retry.ErrBudgetExhausted) = false (err %v)", err)
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("server calls = %d, want 1", got)
	}
}

// TestNilPolicy: a nil policy passes calls and streams through.
func TestNilPolicy(t *testing.T) {
	h := &healthServer{}
	client := unaryClient(t, h, nil)
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	w, err := client.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := recvAll[healthpb.HealthCheckResponse](w)
	if len(msgs) != 1 || err != io.EOF {
		t.Errorf("Watch got %d messages and %v, want 1 and io.EOF", len(msgs), err)
	}
}

// TestDeadlineReachesServer: each attempt carries the earlier of the
// per-attempt deadline and the overall one to the server.
func TestDeadlineReachesServer(t *testing.T) {
	var mu sync.Mutex
	var deadlines []time.Time
	h := &healthServer{check: func(ctx context.Context, n int32) (*healthpb.HealthCheckResponse, error) {
		d, _ := ctx.Deadline()
		mu.Lock()
		deadlines = append(deadlines, d)
		mu.Unlock()
		return nil, status.Error(codes.Unavailable, "down")
	}}
	overall, _ := timeout.New(timeout.Config{Duration: time.Minute})
	perAttempt, _ := timeout.New(timeout.Config{Duration: time.Hour})
	client := unaryClient(t, h, resilience.Chain(overall, newRetry(t, retry.Config{MaxAttempts: 3}), perAttempt))
	start := time.Now()
	_, _ = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if len(deadlines) != 3 {
		t.Fatalf("server saw %d attempts, want 3", len(deadlines))
	}
	for i, d := range deadlines {
		// Every attempt has the overall deadline (start+1m), not its own
		// per-attempt one (1h).
		if left := d.Sub(start); left <= 0 || left > time.Minute+time.Second {
			t.Errorf("attempt %d: server deadline %v after the start, want about 1m", i+1, left)
		}
	}
}
