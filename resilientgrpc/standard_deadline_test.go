package resilientgrpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/timeout"
)

// TestStandardDeadlineSentToServer: the server sees the caller's deadline,
// or the preset's per-attempt one when that comes first; a call whose caller
// set no deadline carries none to the server (the client enforces the
// preset's timeouts; see TestStandardTimeoutCancelsServer).
func TestStandardDeadlineSentToServer(t *testing.T) {
	type seen struct {
		left time.Duration // from the call's start to the server's deadline
		ok   bool          // the server's context had a deadline
	}
	got := make(chan seen, 1)
	var start time.Time
	h := &healthServer{check: func(ctx context.Context, _ int32) (*healthpb.HealthCheckResponse, error) {
		d, ok := ctx.Deadline()
		got <- seen{d.Sub(start), ok}
		return serving(), nil
	}}
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), newStandard(t).DialOptions()...))
	tests := []struct {
		name   string
		caller time.Duration // the caller's timeout; 0: none
		want   time.Duration // the server's deadline after the start; 0: none
	}{
		{"no caller deadline", 0, 0},
		{"the caller's comes first", 2 * time.Second, 2 * time.Second},
		{"the attempt's comes first", time.Hour, resilientgrpc.DefaultAttemptTimeout},
		{"between attempt and overall", 20 * time.Second, resilientgrpc.DefaultAttemptTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			start = time.Now()
			if tt.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.caller)
				defer cancel()
			}
			if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			s := <-got
			if tt.want == 0 {
				if s.ok {
					t.Errorf("server deadline %v after the start, want none", s.left)
				}
				return
			}
			if !s.ok || s.left > tt.want+10*time.Millisecond || s.left < tt.want-time.Second {
				t.Errorf("server deadline %v after the start (set: %v), want about %v", s.left, s.ok, tt.want)
			}
		})
	}
}

// TestStandardTimeoutCancelsServer: when one of the preset's own timeouts
// ends an attempt whose caller set no deadline, the client cancels the
// stream and the server's handler sees its context cancelled at once,
// though it never had a deadline; the caller gets DeadlineExceeded
// matching timeout.ErrTimeout.
func TestStandardTimeoutCancelsServer(t *testing.T) {
	tests := []struct {
		name string
		opts []resilientgrpc.StandardOption
	}{
		{"attempt", []resilientgrpc.StandardOption{resilientgrpc.WithAttemptTimeout(30 * time.Millisecond)}},
		{"overall", []resilientgrpc.StandardOption{resilientgrpc.WithOverallTimeout(30 * time.Millisecond), resilientgrpc.WithoutAttemptTimeout()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				err        error
				dl         bool
				afterStart time.Duration
			}
			got := make(chan seen, 1)
			start := time.Now()
			h := &healthServer{check: func(ctx context.Context, _ int32) (*healthpb.HealthCheckResponse, error) {
				_, dl := ctx.Deadline()
				<-ctx.Done()
				got <- seen{ctx.Err(), dl, time.Since(start)}
				return nil, status.FromContextError(ctx.Err()).Err()
			}}
			std := newStandard(t, append(tt.opts, resilientgrpc.WithoutRetry())...)
			client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
			_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
			var terr *timeout.Error
			if status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, timeout.ErrTimeout) || !errors.As(err, &terr) || terr.Name != tt.name {
				t.Fatalf("err %v, want DeadlineExceeded from a *timeout.Error named %q", err, tt.name)
			}
			select {
			case s := <-got:
				if s.dl || !errors.Is(s.err, context.Canceled) {
					t.Errorf("server: deadline %v, context error %v; want no deadline and cancellation", s.dl, s.err)
				}
				if s.afterStart > 5*time.Second {
					t.Errorf("server saw the cancellation %v after the start, want about 30ms", s.afterStart)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server's handler never saw its context end")
			}
		})
	}
}
