package resilientgrpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
)

// cancelOnEvent is a recording span that cancels the call's context at its
// first span event: the retry's resilience.retry.scheduled, recorded just
// before its backoff wait.
type cancelOnEvent struct {
	trace.Span
	once   sync.Once
	cancel context.CancelFunc
}

func (s *cancelOnEvent) IsRecording() bool { return true }

func (s *cancelOnEvent) AddEvent(string, ...trace.EventOption) { s.once.Do(s.cancel) }

// TestCallerCancelDuringBackoffIsCanceled: a caller that cancels while the
// retry waits out its backoff gets Canceled (the caller's context ended),
// not the status of the last attempt.
func TestCallerCancelDuringBackoffIsCanceled(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3, InitialDelay: time.Hour, MaxDelay: time.Hour}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	span := &cancelOnEvent{Span: trace.SpanFromContext(ctx), cancel: cancel}
	_, err := client.Check(trace.ContextWithSpan(ctx, span), &healthpb.HealthCheckRequest{})
	if got := status.Code(err); got != codes.Canceled {
		t.Errorf("status.Code(err) = %v, want Canceled (err %v)", got, err)
	}
	var re *retry.Error
	if !errors.As(err, &re) || re.Reason != retry.ReasonCanceled {
		t.Errorf("err %v, want a retry.Error with ReasonCanceled", err)
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("server calls = %d, want 1", got)
	}
}

// TestClassifierSuccessForErrorIsClientError: a classifier that returns
// Success for a code other than OK gets ClientError treatment: the error is
// neutral for the breaker and not retried.
func TestClassifierSuccessForErrorIsClientError(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
	client := unaryClient(t, h, resilience.Chain(newRetry(t, retry.Config{MaxAttempts: 3}), br),
		resilientgrpc.WithClassifier(func(codes.Code) resilientgrpc.Outcome { return resilientgrpc.Success }))

	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if got := status.Code(err); got != codes.Unavailable {
		t.Errorf("status.Code(err) = %v, want Unavailable", got)
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("server calls = %d, want 1 (not retried)", got)
	}
	if c := br.Counts(); c.Neutral != 1 || c.Failures != 0 || c.Successes != 0 {
		t.Errorf("breaker counts %+v, want 1 neutral only", c)
	}
}

// marks returns a policy that records, for the last op it ran, whether the
// op's error was marked neutral and permanent.
func marks() (p resilience.Policy, got func() (neutral, permanent bool, err error)) {
	var mu sync.Mutex
	var last error
	p = resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		mu.Lock()
		last = err
		mu.Unlock()
		return err
	})
	return p, func() (bool, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return resilience.IsNeutral(last), retry.IsPermanent(last), last
	}
}

// TestCallerEndMarksOpErrorNeutral: once the caller's context has ended,
// the op's error carries the neutral and permanent marks, whatever the
// classifier says and whatever the code: a policy of the caller's own sees
// them, not only the package's breaker and retry, which also look at the
// context.
func TestCallerEndMarksOpErrorNeutral(t *testing.T) {
	allFailures := resilientgrpc.WithClassifier(func(codes.Code) resilientgrpc.Outcome { return resilientgrpc.Failure })
	tests := []struct {
		name     string
		deadline bool // the caller's deadline passes; else the caller cancels
		opts     []resilientgrpc.Option
	}{
		{"cancel, classifier says Failure", false, []resilientgrpc.Option{allFailures}},
		{"deadline, default classifier", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered := make(chan struct{})
			h := &healthServer{check: hang(entered)}
			p, got := marks()
			client := unaryClient(t, h, p, tt.opts...)

			var ctx context.Context
			var cancel context.CancelFunc
			if tt.deadline {
				ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(context.Background())
				go func() {
					<-entered
					cancel()
				}()
			}
			defer cancel()
			_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				t.Fatal("call succeeded, want the caller's end")
			}
			if neutral, permanent, opErr := got(); !neutral || !permanent {
				t.Errorf("op error %v: neutral %v, permanent %v; want both", opErr, neutral, permanent)
			}
		})
	}
}

// TestAbandonedStreamMarksOpErrorNeutral: the op of a stream the caller
// abandons returns an error marked neutral and permanent, whatever the
// classifier says.
func TestAbandonedStreamMarksOpErrorNeutral(t *testing.T) {
	h := &healthServer{watch: sendOneThenWait}
	p, got := marks()
	sig, done := signal()
	client := unaryClient(t, h, resilience.Chain(sig, p),
		resilientgrpc.WithClassifier(func(codes.Code) resilientgrpc.Outcome { return resilientgrpc.Failure }))

	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if neutral, permanent, opErr := got(); !neutral || !permanent {
		t.Errorf("op error %v: neutral %v, permanent %v; want both", opErr, neutral, permanent)
	}
}

// TestStandardCallerDeadlineBeforeOverallStopsRetry: under the standard
// preset, a caller deadline earlier than the overall timeout is the one the
// retry sees: a backoff that would outlast it ends the call at once
// (ReasonDeadline) instead of waiting until the deadline.
func TestStandardCallerDeadlineBeforeOverallStopsRetry(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	std, err := resilientgrpc.NewStandard(resilientgrpc.WithoutBudget(), resilientgrpc.WithoutBreaker(),
		resilientgrpc.WithRetry(retry.Config{MaxAttempts: 3, InitialDelay: 5 * time.Second, MaxDelay: 5 * time.Second, Jitter: retry.NoJitter}))
	if err != nil {
		t.Fatal(err)
	}
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{})
	var re *retry.Error
	if !errors.As(err, &re) || re.Reason != retry.ReasonDeadline {
		t.Errorf("err %v, want a retry.Error with ReasonDeadline", err)
	}
	if got := status.Code(err); got != codes.Unavailable {
		t.Errorf("status.Code(err) = %v, want the last attempt's Unavailable", got)
	}
}
