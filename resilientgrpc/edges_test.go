package resilientgrpc_test

import (
	"context"
	"errors"
	"google.golang.org/grpc/encoding"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/mem"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// TestLocalErrorsAreNeutral: the errors grpc-go raises about the call
// itself (a message it cannot marshal, a response over the caller's size
// limit) say nothing about the server: ten of them must not open the
// breaker of a healthy method, nor be retried.
func TestLocalErrorsAreNeutral(t *testing.T) {
	for name, call := range map[string]func(healthpb.HealthClient) error{
		"marshal": func(c healthpb.HealthClient) error {
			_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "\xff"}) // not UTF-8
			return err
		},
		"recv size": func(c healthpb.HealthClient) error {
			_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.MaxCallRecvMsgSize(1))
			return err
		},
		"send size": func(c healthpb.HealthClient) error {
			_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "long enough"}, grpc.MaxCallSendMsgSize(1))
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := &healthServer{}
			std := newStandard(t, resilientgrpc.WithRetryableCodes(codes.Unavailable, codes.Internal, codes.ResourceExhausted))
			client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
			before := h.checks.Load()
			for range 10 {
				err := call(client)
				if c := status.Code(err); c != codes.Internal && c != codes.ResourceExhausted {
					t.Fatalf("got %v, want gRPC's own Internal or ResourceExhausted", err)
				}
			}
			sent := h.checks.Load() - before
			if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("a valid call after 10 bad ones: %v", err)
			}
			kp := keyPolicies(t, std.Keys())[checkMethod]
			if c := kp.Breaker.Counts(); c.Failures != 0 {
				t.Errorf("breaker counts %+v after 10 bad calls, want no failure", c)
			}
			if sent > 10 {
				t.Errorf("server got %d of the 10 bad calls: they were retried", sent)
			}
		})
	}
}

// TestUnmarshalableReplyIsTheServersFailure: gRPC's "error while
// marshaling" is also what a server sends when it cannot marshal its own
// reply (a handler that returned a string that is not UTF-8). Its request
// marshals, so the failure is the server's: it counts for the breaker,
// which opens. (The caller's own unmarshalable request, the same words
// raised on the caller's side, stays neutral: TestLocalErrorsAreNeutral.)
func TestUnmarshalableReplyIsTheServersFailure(t *testing.T) {
	ts := &testService{unary: func(*testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return &testpb.SimpleResponse{Username: "\xff"}, nil // not UTF-8
	}}
	addr := serve(t, &healthServer{}, ts)
	const method = "/grpc.testing.TestService/UnaryCall"
	// CallContentSubtype("proto") selects grpc-go's own proto codec from
	// the registry, exactly as no option does.
	for name, opts := range map[string][]grpc.CallOption{
		"default codec":         nil,
		"content subtype proto": {grpc.CallContentSubtype("proto")},
	} {
		std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
		client := testpb.NewTestServiceClient(dial(t, addr, std.DialOptions()...))
		for i := range 3 {
			_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{}, opts...)
			wantMarshalError(t, i+1, err)
		}
		kp := keyPolicies(t, std.Keys())[method]
		wantBreakerOpen(t, kp, name+": after 3 replies the server could not marshal")
	}
}

// replyFails is the server's proto codec, except that it cannot marshal
// health replies: a server whose replies cannot be marshaled.
type replyFails struct{ encoding.CodecV2 }

func (c replyFails) Marshal(v any) (mem.BufferSlice, error) {
	if _, ok := v.(*healthpb.HealthCheckResponse); ok {
		return nil, errors.New("the test's codec refuses health replies")
	}
	return c.CodecV2.Marshal(v)
}

// TestUnmarshalableStreamReplyIsTheServersFailure: the same for a
// server-streaming call, whose request the stream keeps: the server's
// "error while marshaling" about its own message counts as a failure.
func TestUnmarshalableStreamReplyIsTheServersFailure(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		return s.Send(serving())
	}}
	addr := serveWith(t, h, nil, grpc.ForceServerCodecV2(replyFails{encoding.GetCodecV2("proto")}))
	std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	client := healthpb.NewHealthClient(dial(t, addr, std.DialOptions()...))
	for i := range 3 {
		w, err := client.Watch(context.Background(), watchReq)
		if err == nil {
			_, err = w.Recv()
		}
		wantMarshalError(t, i+1, err)
	}
	kp := keyPolicies(t, std.StreamKeys())["/grpc.health.v1.Health/Watch"]
	wantBreakerOpen(t, kp, "after 3 replies the server could not marshal")

	// The caller's own request that cannot be marshaled, the same words
	// raised on the caller's side: neutral.
	std = newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	client = healthpb.NewHealthClient(dial(t, serve(t, &healthServer{}, nil), std.DialOptions()...))
	for i := range 3 {
		w, err := client.Watch(context.Background(), &healthpb.HealthCheckRequest{Service: "\xff"}) // not UTF-8
		if err == nil {
			_, err = w.Recv()
		}
		wantMarshalError(t, i+1, err)
	}
	kp = keyPolicies(t, std.StreamKeys())["/grpc.health.v1.Health/Watch"]
	if c := kp.Breaker.Counts(); c.Failures != 0 {
		t.Errorf("after 3 requests the caller could not marshal: breaker counts %+v, want no failure", c)
	}
}

// TestHeaderCommitsServerStream: once the caller has an attempt's header,
// no retry may replace the attempt: the caller would get the messages of
// another attempt under it.
func TestHeaderCommitsServerStream(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if err := s.SendHeader(metadata.Pairs("attempt", string('0'+rune(n)))); err != nil {
			return err
		}
		if n == 1 {
			return status.Error(codes.Unavailable, "down after its header")
		}
		return s.Send(serving())
	}}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	md, err := w.Header()
	if err != nil || len(md.Get("attempt")) != 1 {
		t.Fatalf("Header() = %v, %v; want attempt 1's", md, err)
	}
	msgs, err := recvAll[healthpb.HealthCheckResponse](w)
	if status.Code(err) != codes.Unavailable || len(msgs) != 0 || h.watches.Load() != 1 {
		t.Errorf("after attempt %q's header: %d messages, err %v, %d server streams; want attempt 1's Unavailable and no retry",
			md.Get("attempt"), len(msgs), err, h.watches.Load())
	}
}

// TestStreamContextSurvivesRetry: the stream's context is the call's, not
// an attempt's: a retry does not end it, the end of the stream does.
func TestStreamContextSurvivesRetry(t *testing.T) {
	release := make(chan struct{})
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "down")
		}
		if err := s.Send(serving()); err != nil {
			return err
		}
		select {
		case <-release:
		case <-s.Context().Done():
		}
		return nil
	}}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	sctx := w.Context()
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	if h.watches.Load() != 2 || sctx.Err() != nil {
		t.Errorf("after a retry (%d server streams), the stream's context: %v, want alive", h.watches.Load(), sctx.Err())
	}
	close(release)
	if _, err := recvAll[healthpb.HealthCheckResponse](w); err == nil {
		t.Fatal("want the end of the stream")
	}
	select {
	case <-sctx.Done():
	case <-time.After(5 * time.Second):
		t.Error("the stream ended, its context did not")
	}
}

// TestStandardDisablesGRPCRetries: under the preset, gRPC's own retries (a
// service config's retryPolicy) do not multiply the preset's attempts.
func TestStandardDisablesGRPCRetries(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	std := newStandard(t, resilientgrpc.WithRetry(retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay}), resilientgrpc.WithoutBudget(), resilientgrpc.WithoutBreaker())
	const config = `{"methodConfig":[{"name":[{"service":"grpc.health.v1.Health"}],
	  "retryPolicy":{"maxAttempts":3,"initialBackoff":"0.001s","maxBackoff":"0.001s","backoffMultiplier":1,"retryableStatusCodes":["UNAVAILABLE"]}}]}`
	cc, err := grpc.NewClient(serve(t, h, nil), append(std.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(config))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	_, err = healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if got := h.checks.Load(); status.Code(err) != codes.Unavailable || got != 2 {
		t.Errorf("got %v after %d server calls, want Unavailable after the preset's 2", err, got)
	}
}

// TestFailureThatOpensBreakerKeepsGRPCError: a failure whose retry the
// preset stops because it opened the breaker reaches the caller as gRPC's
// own error, not wrapped in an *Error.
func TestFailureThatOpensBreakerKeepsGRPCError(t *testing.T) {
	h := &healthServer{check: fail(codes.Unavailable)}
	std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 1}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	var e *resilientgrpc.Error
	if status.Code(err) != codes.Unavailable || errors.As(err, &e) {
		t.Errorf("got %T %v, want gRPC's own Unavailable", err, err)
	}
	if n := strings.Count(err.Error(), "rpc error:"); n != 1 {
		t.Errorf("error text %q says %q %d times, want once", err, "rpc error:", n)
	}
}

// TestStreamBreakerClosesOnFirstMessage: a plain breaker wrapped in
// StreamBreaker closes when a probe stream's first message arrives, so
// long, healthy streams are admitted again after an outage.
func TestStreamBreakerClosesOnFirstMessage(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "restarting")
		}
		if err := s.Send(serving()); err != nil {
			return err
		}
		select { // a long, healthy watch
		case <-release:
		case <-s.Context().Done():
		}
		return nil
	}}
	const openFor = 50 * time.Millisecond
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: openFor})
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), interceptors(resilientgrpc.StreamBreaker(br))...))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := firstWatchMessage(ctx, client); status.Code(err) != codes.Unavailable {
		t.Fatalf("first watch: %v, want Unavailable", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for br.State() == breaker.StateOpen && time.Now().Before(deadline) {
		time.Sleep(openFor / 5) // sleep-ok: a real server; waits out the open period
	}
	if err := firstWatchMessage(ctx, client); err != nil {
		t.Fatalf("probe watch: %v", err)
	}
	if got := br.State(); got != breaker.StateClosed {
		t.Fatalf("breaker %v after the probe's first message, want closed", got)
	}
	for i := range 5 {
		if err := firstWatchMessage(ctx, client); err != nil {
			t.Errorf("watch %d after the probe: %v, want admitted", i, err)
		}
	}
}

// TestUnaryPolicyThatSkipsTheCall: a policy that returns nil without
// running the call leaves the reply empty: the caller gets ErrNoCall, not
// an empty answer that looks like the server's.
func TestUnaryPolicyThatSkipsTheCall(t *testing.T) {
	h := &healthServer{}
	var n atomic.Int32
	// Skips the first call, runs the second, skips the third: the pooled
	// call must not remember that an earlier one ran.
	p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if n.Add(1) == 2 {
			return op(ctx)
		}
		return nil
	})
	client := unaryClient(t, h, p)
	for i, wantRun := range []bool{false, true, false} {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		switch {
		case wantRun && err != nil:
			t.Errorf("call %d, which the policy runs: %v", i+1, err)
		case !wantRun && (status.Code(err) != codes.Internal || !errors.Is(err, resilientgrpc.ErrNoCall)):
			t.Errorf("call %d, which the policy skips: %v, want Internal matching ErrNoCall", i+1, err)
		}
	}
	if got := h.checks.Load(); got != 1 {
		t.Errorf("server got %d calls, want 1", got)
	}
}

// failingCreds is per-call credentials whose token source is down.
type failingCreds struct{}

func (failingCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return nil, errors.New("token source unreachable")
}
func (failingCreds) RequireTransportSecurity() bool { return false }

// TestRefusedMetadataAndCredentialsAreNeutral: outgoing metadata that gRPC
// refuses to send (a header value with a line break, often copied from an
// incoming request) and per-call credentials that failed never reach the
// server: ten of them must not open the method's breaker.
func TestRefusedMetadataAndCredentialsAreNeutral(t *testing.T) {
	for name, call := range map[string]func(healthpb.HealthClient) error{
		"metadata value": func(c healthpb.HealthClient) error {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "x-user", "line\nbreak")
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		"metadata key": func(c healthpb.HealthClient) error {
			ctx := metadata.NewOutgoingContext(context.Background(), metadata.MD{"X-User": {"v"}})
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		"per-call credentials": func(c healthpb.HealthClient) error {
			_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.PerRPCCredentials(failingCreds{}))
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := &healthServer{}
			std := newStandard(t)
			client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
			for range 10 {
				if err := call(client); status.Code(err) != codes.Internal {
					t.Fatalf("got %v, want gRPC's own Internal", err)
				}
			}
			if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("a valid call after 10 refused ones: %v", err)
			}
			if c := keyPolicies(t, std.Keys())[checkMethod].Breaker.Counts(); c.Failures != 0 {
				t.Errorf("breaker counts %+v, want no failure", c)
			}
		})
	}
}

// TestStreamFailingAfterFirstMessageCounts: a stream that fails after its
// first message counts as a failure (outside a probe, a stream counts by
// how it ends): a backend that greets and then fails opens the breaker.
func TestStreamFailingAfterFirstMessageCounts(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		if err := s.Send(serving()); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "crashed")
	}}
	std := newStandard(t, resilientgrpc.WithoutRetry(), resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	for i := range 3 {
		w, err := client.Watch(context.Background(), watchReq)
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		if _, err := recvAll[healthpb.HealthCheckResponse](w); status.Code(err) != codes.Unavailable {
			t.Fatalf("watch %d: %v, want Unavailable", i, err)
		}
	}
	for key, k := range keyPolicies(t, std.StreamKeys()) {
		if got := k.Breaker.State(); got != breaker.StateOpen {
			t.Errorf("%s: breaker %v (counts %+v) after 3 streams that failed after their first message, want open", key, got, k.Breaker.Counts())
		}
	}
}

// TestNestedStreamBreakersBothLearnTheFirstMessage: with two
// StreamBreakers in one chain, a probe's first message closes both.
func TestNestedStreamBreakersBothLearnTheFirstMessage(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if err := s.Send(serving()); err != nil {
			return err
		}
		select { // a long, healthy watch
		case <-release:
		case <-s.Context().Done():
		}
		return nil
	}}
	outer := newBreaker(t, breaker.Config{Name: "outer", ConsecutiveFailures: 1, ProbeTimeout: time.Hour})
	inner := newBreaker(t, breaker.Config{Name: "inner", ConsecutiveFailures: 1, ProbeTimeout: time.Hour})
	for _, b := range []*breaker.Breaker{outer, inner} {
		b.SetMode(breaker.ModeForcedOpen)
		b.SetMode(breaker.ModeNormal) // half-open: the next stream is a probe of each
	}
	p := resilience.Chain(resilientgrpc.StreamBreaker(outer), resilientgrpc.StreamBreaker(inner))
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), interceptors(p)...))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := firstWatchMessage(ctx, client); err != nil {
		t.Fatalf("probe watch: %v", err)
	}
	for _, b := range []*breaker.Breaker{outer, inner} {
		if got := b.State(); got != breaker.StateClosed {
			t.Errorf("%s breaker %v after the probe's first message, want closed", b.Name(), got)
		}
	}
}

// keepCtx is a slog handler that keeps the context of the first record, as
// an asynchronous handler would.
type keepCtx struct {
	mu  sync.Mutex
	ctx context.Context
}

func (h *keepCtx) Enabled(context.Context, slog.Level) bool { return true }
func (h *keepCtx) Handle(ctx context.Context, _ slog.Record) error {
	h.mu.Lock()
	if h.ctx == nil {
		h.ctx = ctx
	}
	h.mu.Unlock()
	return nil
}
func (h *keepCtx) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *keepCtx) WithGroup(string) slog.Handler      { return h }

type requestKey struct{}

// TestPolicyContextOutlivesTheCall: the context the preset's policies get
// under its overall timeout may be kept after the call (here by a logger):
// it is then done, keeps its call's values, and never shows another call's.
func TestPolicyContextOutlivesTheCall(t *testing.T) {
	h := &keepCtx{}
	var hangNow atomic.Bool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv := &healthServer{check: func(ctx context.Context, _ int32) (*healthpb.HealthCheckResponse, error) {
		if hangNow.Load() {
			entered <- struct{}{}
			<-release
			return serving(), nil
		}
		return nil, status.Error(codes.Unavailable, "down")
	}}
	// A budget without a floor: the first failure's retry is refused,
	// which logs (budget exhausted) with the policy's context.
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	std := newStandard(t, resilientgrpc.WithoutBreaker(), resilientgrpc.WithBudget(budget),
		resilientgrpc.WithRetry(retry.Config{InitialDelay: retry.NoDelay}),
		resilientgrpc.WithTelemetry(telemetry.Settings{Logger: slog.New(h)}))
	client := healthpb.NewHealthClient(dial(t, serve(t, srv, nil), std.DialOptions()...))
	_, _ = client.Check(context.WithValue(context.Background(), requestKey{}, "request 1"), &healthpb.HealthCheckRequest{})
	h.mu.Lock()
	kept := h.ctx
	h.mu.Unlock()
	if kept == nil {
		t.Fatal("no log record: the test needs the budget's log")
	}
	if err := kept.Err(); err == nil {
		t.Errorf("the kept context after the call: Err nil, want it done")
	}
	select {
	case <-kept.Done():
	default:
		t.Errorf("the kept context's Done is not closed after the call")
	}
	hangNow.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = client.Check(context.WithValue(context.Background(), requestKey{}, "request 2"), &healthpb.HealthCheckRequest{})
	}()
	<-entered
	if v := kept.Value(requestKey{}); v != "request 1" {
		t.Errorf("request 1's kept context, while request 2 runs: Value = %v, want %q", v, "request 1")
	}
	close(release)
	<-done
}

// TestUnaryPolicyThatSwallowsAFailure: a policy that runs the call, sees it
// fail and returns nil leaves the reply empty: the caller gets the failure.
func TestUnaryPolicyThatSwallowsAFailure(t *testing.T) {
	swallow := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { _ = op(ctx); return nil })
	client := unaryClient(t, &healthServer{check: fail(codes.Unavailable)}, swallow)
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("got %v, want the call's Unavailable", err)
	}
}

// tagKey is the context key a test stats handler sets per RPC.
type tagKey struct{}

// tagger is a stats handler that tags every RPC's context, as tracing
// handlers put their span there.
type tagger struct{}

func (tagger) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, tagKey{}, "tagged")
}
func (tagger) HandleRPC(context.Context, stats.RPCStats)                         {}
func (tagger) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (tagger) HandleConn(context.Context, stats.ConnStats)                       {}

// TestStreamContextCarriesTheAttemptsValues: the stream's Context has the
// values gRPC and its stats handlers put in the attempt's context.
func TestStreamContextCarriesTheAttemptsValues(t *testing.T) {
	h := &healthServer{}
	std := newStandard(t)
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), append(std.DialOptions(), grpc.WithStatsHandler(tagger{}))...))
	w, err := client.Watch(context.WithValue(context.Background(), requestKey{}, "caller's"), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Context().Value(tagKey{}); got != "tagged" {
		t.Errorf("stream Context's stats handler value: %v, want tagged", got)
	}
	if got := w.Context().Value(requestKey{}); got != "caller's" {
		t.Errorf("stream Context's caller value: %v, want the caller's", got)
	}
	if _, err := recvAll[healthpb.HealthCheckResponse](w); err == nil {
		t.Fatal("want the end of the stream")
	}
	// The preset's stream retries are named apart from its unary ones.
	for key, k := range keyPolicies(t, std.StreamKeys()) {
		if k.Retry == nil || k.Retry.Name() != "resilientgrpc-stream" {
			t.Errorf("stream key %s: retry %v, want one named resilientgrpc-stream", key, k.Retry)
		}
	}
}

// TestContextsDerivedFromAStreamStartNoGoroutine: contexts derived from a
// stream's Context, directly or through a value layer (the usual way: a
// span, metadata, a logger's value), register with its end without a
// goroutine each, and end when the call ends.
func TestContextsDerivedFromAStreamStartNoGoroutine(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		if err := s.Send(serving()); err != nil {
			return err
		}
		<-s.Context().Done()
		return nil
	}}
	std := newStandard(t)
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), std.DialOptions()...))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := client.Watch(ctx, watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	type key struct{}
	layers := []struct {
		name string
		wrap func(context.Context) context.Context
	}{
		{"direct", func(c context.Context) context.Context { return c }},
		{"WithValue", func(c context.Context) context.Context { return context.WithValue(c, key{}, 1) }},
		{"metadata", func(c context.Context) context.Context { return metadata.AppendToOutgoingContext(c, "k", "v") }},
	}
	var derived []context.Context
	for _, l := range layers {
		before := runtime.NumGoroutine()
		var cancels []context.CancelFunc
		for range 100 {
			_, c := context.WithCancel(l.wrap(w.Context()))
			cancels = append(cancels, c)
		}
		after := runtime.NumGoroutine()
		for _, c := range cancels {
			c()
		}
		if after-before >= 50 {
			t.Errorf("%s: 100 contexts derived from the stream's Context started %d goroutines", l.name, after-before)
		}
		d, dcancel := context.WithCancel(l.wrap(w.Context()))
		defer dcancel()
		derived = append(derived, d)
	}
	cancel()
	if _, err := w.Recv(); err == nil {
		t.Fatal("Recv after the caller's cancel: got a message, want the call's end")
	}
	for i, d := range derived {
		<-d.Done() // hangs (and the test times out) if it did not end with the call
		if d.Err() != context.Canceled {
			t.Errorf("%s: derived context ended with %v, want context.Canceled", layers[i].name, d.Err())
		}
	}
}
