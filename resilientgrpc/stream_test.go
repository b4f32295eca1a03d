package resilientgrpc_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

var watchReq = &healthpb.HealthCheckRequest{Service: "svc"}

// TestStreamPermitHeldUntilEnd: a bulkhead admits the stream when it opens
// and holds the slot until the stream ends, not until the interceptor
// returns; RecvMsg returns the end only after the slot is released.
func TestStreamPermitHeldUntilEnd(t *testing.T) {
	release := make(chan struct{})
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		for range 3 {
			if err := s.Send(serving()); err != nil {
				return err
			}
		}
		select {
		case <-release:
		case <-s.Context().Done():
		}
		return nil
	}}
	bh := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1})
	client := unaryClient(t, h, bh)

	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if got := bh.InFlight(); got != 1 {
		t.Errorf("InFlight after the stream opened = %d, want 1", got)
	}
	_, err = client.Watch(context.Background(), watchReq)
	if status.Code(err) != codes.ResourceExhausted || !errors.Is(err, bulkhead.ErrFull) {
		t.Errorf("second stream: err %v, want ResourceExhausted matching bulkhead.ErrFull", err)
	}
	for i := range 3 {
		if _, err := w.Recv(); err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if got := bh.InFlight(); got != 1 {
			t.Errorf("InFlight after message %d = %d, want 1", i, got)
		}
	}
	close(release)
	if _, err := w.Recv(); err != io.EOF {
		t.Fatalf("last Recv: %v, want io.EOF", err)
	}
	if got := bh.InFlight(); got != 0 {
		t.Errorf("InFlight after the stream ended = %d, want 0", got)
	}
	if got := h.watches.Load(); got != 1 {
		t.Errorf("server streams = %d, want 1", got)
	}
}

// TestStreamOutcomeRecordedAtEnd: the breaker records nothing while the
// stream is open, a failure when it ends with a failure status, a success
// when it ends with io.EOF.
func TestStreamOutcomeRecordedAtEnd(t *testing.T) {
	failNow := make(chan struct{})
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if err := s.Send(serving()); err != nil {
			return err
		}
		if n == 1 {
			<-failNow
			return status.Error(codes.Internal, "broken")
		}
		return nil
	}}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
	client := unaryClient(t, h, br)

	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	if c := br.Counts(); c.Requests != 0 {
		t.Errorf("counts while the stream is open: %+v, want none", c)
	}
	close(failNow)
	if _, err := w.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("Recv: %v, want Internal", err)
	}
	if c := br.Counts(); c.Failures != 1 || c.Requests != 1 {
		t.Errorf("counts after the stream failed: %+v, want 1 failure", c)
	}

	w, err = client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := recvAll[healthpb.HealthCheckResponse](w); len(msgs) != 1 || err != io.EOF {
		t.Fatalf("got %d messages and %v, want 1 and io.EOF", len(msgs), err)
	}
	if c := br.Counts(); c.Successes != 1 || c.Failures != 1 {
		t.Errorf("counts after the second stream: %+v, want 1 success, 1 failure", c)
	}
}

// TestStreamAbandonedNeutral: a stream the caller abandons by cancelling
// its context, without reading its end, is neutral for the breaker, its
// bulkhead slot is released, and the policy's goroutine ends.
func TestStreamAbandonedNeutral(t *testing.T) {
	h := &healthServer{watch: sendOneThenWait}
	sig, done := signal()
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
	bh := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1})
	client := unaryClient(t, h, resilience.Chain(sig, br, bh))

	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.Watch(ctx, watchReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if c := br.Counts(); c.Neutral != 1 || c.Failures != 0 {
		t.Errorf("counts %+v, want 1 neutral and no failure", c)
	}
	if got := br.State(); got != breaker.StateClosed {
		t.Errorf("breaker %v, want closed", got)
	}
	if got := bh.InFlight(); got != 0 {
		t.Errorf("InFlight = %d, want 0", got)
	}
	if _, err := w.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel: %v, want Canceled", err)
	}
}

// TestStreamEndsWithClientConn: a stream abandoned without cancelling its
// context ends, with the policy's goroutine, when the ClientConn closes.
func TestStreamEndsWithClientConn(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		<-s.Context().Done()
		return nil
	}}
	sig, done := signal()
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
	cc := dial(t, serve(t, h, nil), interceptors(resilience.Chain(sig, br))...)
	if _, err := healthpb.NewHealthClient(cc).Watch(context.Background(), watchReq); err != nil {
		t.Fatal(err)
	}
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if c := br.Counts(); c.Failures != 0 || c.Neutral != 1 {
		t.Errorf("counts %+v, want the closing connection neutral", c)
	}
}

// TestStreamPolicyTimeoutBoundsStream: a timeout in the policy bounds the
// stream's life, and its end leaves as DeadlineExceeded matching
// timeout.ErrTimeout.
func TestStreamPolicyTimeoutBoundsStream(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, _ int32) error {
		if err := s.Send(serving()); err != nil {
			return err
		}
		<-canceled(s.Context())
		return nil
	}}
	short, err := timeout.New(timeout.Config{Duration: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
	opts := append(interceptors(resilience.Chain(br, short)), hideDeadline()...)
	client := healthpb.NewHealthClient(dial(t, serve(t, h, nil), opts...))
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := recvAll[healthpb.HealthCheckResponse](w)
	if len(msgs) != 1 || status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, timeout.ErrTimeout) {
		t.Errorf("got %d messages and %v, want 1 and DeadlineExceeded matching timeout.ErrTimeout", len(msgs), err)
	}
	if c := br.Counts(); c.Failures != 1 {
		t.Errorf("counts %+v, want the timeout as a failure", c)
	}
}

// TestServerStreamRetry: a server-streaming call is retried, with its
// request sent again, only while no message has been received.
func TestServerStreamRetry(t *testing.T) {
	tests := []struct {
		name    string
		watch   func(n int32, s healthpb.Health_WatchServer) error
		msgs    int
		code    codes.Code
		streams int32
	}{
		{
			name: "fails before any message",
			watch: func(n int32, s healthpb.Health_WatchServer) error {
				if n == 1 {
					return status.Error(codes.Unavailable, "down")
				}
				_ = s.Send(serving())
				_ = s.Send(serving())
				return nil
			},
			msgs: 2, code: codes.OK, streams: 2,
		},
		{
			name: "fails after a message",
			watch: func(n int32, s healthpb.Health_WatchServer) error {
				_ = s.Send(serving())
				return status.Error(codes.Unavailable, "down")
			},
			msgs: 1, code: codes.Unavailable, streams: 1,
		},
		{
			name: "retried, then fails after messages",
			watch: func(n int32, s healthpb.Health_WatchServer) error {
				if n > 1 {
					_ = s.Send(serving())
					_ = s.Send(serving())
				}
				return status.Error(codes.Unavailable, "down")
			},
			msgs: 2, code: codes.Unavailable, streams: 2,
		},
		{
			name: "every attempt fails before any message",
			watch: func(int32, healthpb.Health_WatchServer) error {
				return status.Error(codes.Unavailable, "down")
			},
			msgs: 0, code: codes.Unavailable, streams: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var services []string
			h := &healthServer{watch: func(req *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
				mu.Lock()
				services = append(services, req.GetService())
				mu.Unlock()
				return tt.watch(n, s)
			}}
			client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
			w, err := client.Watch(context.Background(), watchReq)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := recvAll[healthpb.HealthCheckResponse](w)
			if tt.code == codes.OK && err != io.EOF || tt.code != codes.OK && status.Code(err) != tt.code {
				t.Errorf("stream ended with %v, want %v", err, tt.code)
			}
			if len(msgs) != tt.msgs {
				t.Errorf("got %d messages, want %d", len(msgs), tt.msgs)
			}
			if got := h.watches.Load(); got != tt.streams {
				t.Errorf("server streams = %d, want %d", got, tt.streams)
			}
			for i, s := range services {
				if s != "svc" {
					t.Errorf("stream %d got request for %q, want the caller's request (svc)", i+1, s)
				}
			}
		})
	}
}

// TestServerStreamRetryOnFinishAndTrailer: a retried stream calls the
// caller's OnFinish once, and the caller's Trailer option gets the last
// attempt's trailer.
func TestServerStreamRetryOnFinishAndTrailer(t *testing.T) {
	h := &healthServer{watch: failFirstWithTrailer}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	var finished atomic.Int32
	var md metadata.MD
	w, err := client.Watch(context.Background(), watchReq, grpc.Trailer(&md), grpc.OnFinish(func(err error) {
		if err != nil {
			t.Errorf("OnFinish(%v), want nil", err)
		}
		finished.Add(1)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := recvAll[healthpb.HealthCheckResponse](w); len(msgs) != 1 || err != io.EOF {
		t.Fatalf("got %d messages and %v, want 1 and io.EOF", len(msgs), err)
	}
	if got := finished.Load(); got != 1 {
		t.Errorf("OnFinish called %d times, want 1", got)
	}
	if got := md.Get("attempt"); len(got) != 1 || got[0] != "2" {
		t.Errorf("caller's trailer attempt = %q, want [2]", got)
	}
}

// TestClientAndBidiStreamsNeverRetried: client-streaming and bidirectional
// calls are not retried, even with a retryable code and nothing received.
func TestClientAndBidiStreamsNeverRetried(t *testing.T) {
	ts := &testService{
		fullDuplex: func(testpb.TestService_FullDuplexCallServer) error {
			return status.Error(codes.Unavailable, "down")
		},
		input: func(testpb.TestService_StreamingInputCallServer) error {
			return status.Error(codes.Unavailable, "down")
		},
	}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
	p := resilience.Chain(newRetry(t, retry.Config{MaxAttempts: 3}), br)
	client := testpb.NewTestServiceClient(dial(t, serve(t, &healthServer{}, ts), interceptors(p)...))

	bidi, err := client.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = bidi.Send(&testpb.StreamingOutputCallRequest{})
	if _, err := bidi.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("bidi Recv: %v, want Unavailable", err)
	}
	if got := ts.calls.Load(); got != 1 {
		t.Errorf("bidi: server calls = %d, want 1", got)
	}

	ts.calls.Store(0)
	in, err := client.StreamingInputCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Send(&testpb.StreamingInputCallRequest{})
	if _, err := in.CloseAndRecv(); status.Code(err) != codes.Unavailable {
		t.Errorf("client stream CloseAndRecv: %v, want Unavailable", err)
	}
	if got := ts.calls.Load(); got != 1 {
		t.Errorf("client stream: server calls = %d, want 1", got)
	}
	if c := br.Counts(); c.Failures != 2 {
		t.Errorf("breaker counts %+v, want 2 failures", c)
	}
}

// TestClientStreamSuccess: a client-streaming call that succeeds is a
// success once its response arrives, and CloseAndRecv returns the
// response.
func TestClientStreamSuccess(t *testing.T) {
	ts := &testService{input: func(s testpb.TestService_StreamingInputCallServer) error {
		size := 0
		for {
			m, err := s.Recv()
			if err == io.EOF {
				return s.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(size)})
			}
			if err != nil {
				return err
			}
			size += len(m.GetPayload().GetBody())
		}
	}}
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
	client := testpb.NewTestServiceClient(dial(t, serve(t, &healthServer{}, ts), interceptors(br)...))
	in, err := client.StreamingInputCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := in.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("ab")}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := in.CloseAndRecv()
	if err != nil || resp.GetAggregatedPayloadSize() != 6 {
		t.Fatalf("CloseAndRecv = %v, %v; want size 6", resp, err)
	}
	if c := br.Counts(); c.Successes != 1 {
		t.Errorf("counts %+v, want 1 success", c)
	}
}

// fakeStream is a ClientStream that ends when the test says, for tests in
// a synctest bubble (a real connection cannot be in one). Like gRPC's, it
// calls its OnFinish options when it ends.
type fakeStream struct {
	ctx      context.Context
	onFinish []func(error)
	ended    chan struct{}
	err      error
	once     sync.Once
}

func fakeStreamer(streams chan<- *fakeStream) grpc.Streamer {
	return func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		f := &fakeStream{ctx: ctx, ended: make(chan struct{})}
		for _, o := range opts {
			if o, ok := o.(grpc.OnFinishCallOption); ok {
				f.onFinish = append(f.onFinish, o.OnFinish)
			}
		}
		streams <- f
		return f, nil
	}
}

// end ends the stream with err (nil: success).
func (f *fakeStream) end(err error) {
	f.once.Do(func() {
		f.err = err
		close(f.ended)
		for _, fn := range f.onFinish {
			fn(err)
		}
	})
}

func (f *fakeStream) RecvMsg(any) error {
	<-f.ended
	if f.err == nil {
		return io.EOF
	}
	return f.err
}
func (f *fakeStream) SendMsg(any) error            { return nil }
func (f *fakeStream) CloseSend() error             { return nil }
func (f *fakeStream) Header() (metadata.MD, error) { return nil, nil }
func (f *fakeStream) Trailer() metadata.MD         { return nil }
func (f *fakeStream) Context() context.Context     { return f.ctx }

// TestAbandonedStreamProbeExpires: a stream admitted as the half-open
// breaker's probe that never ends does not leave the breaker stuck: after
// ProbeTimeout another stream is admitted as the probe, and its success
// closes the breaker.
func TestAbandonedStreamProbeExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1, ProbeTimeout: 5 * time.Second})
		if err := br.SetMode(breaker.ModeForcedOpen); err != nil {
			t.Fatal(err)
		}
		if err := br.SetMode(breaker.ModeNormal); err != nil {
			t.Fatal(err)
		}
		if got := br.State(); got != breaker.StateHalfOpen {
			t.Fatalf("breaker %v, want half-open", got)
		}
		intercept := resilientgrpc.StreamClientInterceptor(br)
		streams := make(chan *fakeStream, 3)
		streamer := fakeStreamer(streams)
		desc := &grpc.StreamDesc{ServerStreams: true}
		open := func() error {
			_, err := intercept(context.Background(), desc, nil, "/svc/Watch", streamer)
			return err
		}

		if err := open(); err != nil {
			t.Fatalf("first stream: %v", err)
		}
		abandoned := <-streams
		if err := open(); status.Code(err) != codes.Unavailable || !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("second stream while the probe is out: %v, want Unavailable matching breaker.ErrOpen", err)
		}
		time.Sleep(5*time.Second + time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		if err := open(); err != nil {
			t.Fatalf("stream after ProbeTimeout: %v, want admitted", err)
		}
		probe := <-streams
		probe.end(nil)
		synctest.Wait()
		if got := br.State(); got != breaker.StateClosed {
			t.Errorf("breaker %v after the new probe succeeded, want closed", got)
		}
		// The abandoned stream ends at last; its outcome is ignored, and
		// its goroutine ends.
		abandoned.end(status.Error(codes.Unavailable, "late"))
		synctest.Wait()
		if got := br.State(); got != breaker.StateClosed {
			t.Errorf("breaker %v after the stale probe failed, want closed", got)
		}
	})
}

// TestStreamGoroutineEndsWithCallerContext: when a stream's ClientStream
// never reports its end (a streamer that is not gRPC's), the caller's
// cancellation still ends the policy's goroutine, as neutral.
func TestStreamGoroutineEndsWithCallerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
		sig, done := signal()
		intercept := resilientgrpc.StreamClientInterceptor(resilience.Chain(sig, br))
		streams := make(chan *fakeStream, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cs, err := intercept(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, nil, "/svc/Chat", fakeStreamer(streams))
		if err != nil {
			t.Fatal(err)
		}
		f := <-streams
		cancel()
		<-done
		if c := br.Counts(); c.Neutral != 1 {
			t.Errorf("counts %+v, want 1 neutral", c)
		}
		f.end(context.Canceled)
		if err := cs.RecvMsg(nil); status.Code(err) != codes.Canceled {
			t.Errorf("RecvMsg: %v, want Canceled", err)
		}
	})
}

// TestStreamPanicReachesCaller: a panic while the stream opens goes through
// the policies in the stream's goroutine (the bulkhead releases its slot,
// the breaker counts a failure) and then panics in the caller's goroutine.
func TestStreamPanicReachesCaller(t *testing.T) {
	br := newBreaker(t, breaker.Config{ConsecutiveFailures: 100})
	bh := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1})
	intercept := resilientgrpc.StreamClientInterceptor(resilience.Chain(br, bh))
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		panic("streamer bug")
	}
	var finished atomic.Int32
	got := func() (v any) {
		defer func() { v = recover() }()
		_, _ = intercept(context.Background(), &grpc.StreamDesc{ServerStreams: true}, nil, "/svc/Watch", streamer,
			grpc.OnFinish(func(error) { finished.Add(1) }))
		return nil
	}()
	if got != "streamer bug" {
		t.Errorf("recovered %v, want the streamer's panic", got)
	}
	// gRPC promises OnFinish exactly once, a panic notwithstanding.
	if n := finished.Load(); n != 1 {
		t.Errorf("OnFinish called %d times, want 1", n)
	}
	if n := bh.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after the panic, want 0", n)
	}
	if c := br.Counts(); c.Failures != 1 {
		t.Errorf("breaker counts %+v, want the panic as 1 failure", c)
	}
}

// scriptStream is a ClientStream whose RecvMsg returns what the test sends
// on recv (nil: a message); finish calls its OnFinish options, as gRPC does
// when a stream ends.
type scriptStream struct {
	fakeStream
	recv chan error
}

func (s *scriptStream) RecvMsg(any) error { return <-s.recv }

// TestRetiredAttemptMessageDropped: once the policy retries a
// server-streaming attempt, a message that attempt still returns is
// dropped, so the caller sees the new attempt's stream once.
func TestRetiredAttemptMessageDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		streams := make(chan *scriptStream, 2)
		streamer := func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s := &scriptStream{fakeStream: fakeStream{ctx: ctx, ended: make(chan struct{})}, recv: make(chan error)}
			for _, o := range opts {
				if o, ok := o.(grpc.OnFinishCallOption); ok {
					s.onFinish = append(s.onFinish, o.OnFinish)
				}
			}
			streams <- s
			return s, nil
		}
		intercept := resilientgrpc.StreamClientInterceptor(newRetry(t, retry.Config{MaxAttempts: 2}))
		cs, err := intercept(context.Background(), &grpc.StreamDesc{ServerStreams: true}, nil, "/svc/Watch", streamer)
		if err != nil {
			t.Fatal(err)
		}
		first := <-streams
		got := make(chan []error, 1)
		go func() {
			var errs []error
			for {
				err := cs.RecvMsg(nil)
				errs = append(errs, err)
				if err != nil {
					got <- errs
					return
				}
			}
		}()
		synctest.Wait() // the caller waits in the first attempt's RecvMsg
		first.end(status.Error(codes.Unavailable, "down"))
		second := <-streams // the retry opened the second attempt
		first.recv <- nil   // a message the first attempt had buffered
		second.recv <- nil
		second.recv <- nil
		second.end(nil)
		second.recv <- io.EOF
		errs := <-got
		if len(errs) != 3 || errs[0] != nil || errs[1] != nil || errs[2] != io.EOF {
			t.Errorf("RecvMsg returned %v, want two messages (the second attempt's) and io.EOF", errs)
		}
	})
}

// TestServerStreamRetryHeader: the header a caller reads before the first
// message is the one of the attempt that serves it, not the empty answer of
// an attempt that failed before its header and was retried.
func TestServerStreamRetryHeader(t *testing.T) {
	h := &healthServer{watch: func(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer, n int32) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "down")
		}
		if err := s.SendHeader(metadata.Pairs("attempt", string('0'+rune(n)))); err != nil {
			return err
		}
		return s.Send(serving())
	}}
	client := unaryClient(t, h, newRetry(t, retry.Config{MaxAttempts: 3}))
	w, err := client.Watch(context.Background(), watchReq)
	if err != nil {
		t.Fatal(err)
	}
	md, err := w.Header()
	if err != nil {
		t.Fatalf("Header: %v", err)
	}
	if got := md.Get("attempt"); len(got) != 1 || got[0] != "2" {
		t.Errorf("header attempt = %q, want [2]", got)
	}
	if msgs, err := recvAll[healthpb.HealthCheckResponse](w); len(msgs) != 1 || err != io.EOF {
		t.Fatalf("got %d messages and %v, want 1 and io.EOF", len(msgs), err)
	}
}
