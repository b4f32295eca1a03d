package resilientgrpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilientgrpc"
)

// TestBlockedSendWhileServerFailsMarshal: the caller's SendMsg of a
// large server-streaming request is blocked by flow control (the server
// does not read it) while the server ends the stream with its own
// "error while marshaling". The attempt takes sendMu to read the kept
// request: nothing may hang, and the verdict is the server's failure.
func TestBlockedSendWhileServerFailsMarshal(t *testing.T) {
	early := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ss.SendMsg(serving()) // before reading the request; the codec refuses it
	}
	addr := serveWith(t, &healthServer{}, nil,
		grpc.ForceServerCodecV2(replyFails{encoding.GetCodecV2("proto")}),
		grpc.StreamInterceptor(early),
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10), grpc.MaxRecvMsgSize(16<<20))
	std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	client := healthpb.NewHealthClient(dial(t, addr, std.DialOptions()...))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("s", 8<<20)})
		if err == nil {
			_, err = w.Recv()
		}
		wantMarshalError(t, i+1, err)
	}
	kp := keyPolicies(t, std.StreamKeys())["/grpc.health.v1.Health/Watch"]
	if st := kp.Breaker.State(); st != breaker.StateOpen {
		t.Errorf("breaker %v (counts %+v), want open", st, kp.Breaker.Counts())
	}
}

// TestConcurrentRecvWhileSendBlocked: the same, with the caller
// receiving in another goroutine while its SendMsg is blocked.
func TestConcurrentRecvWhileSendBlocked(t *testing.T) {
	early := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ss.SendMsg(serving())
	}
	addr := serveWith(t, &healthServer{}, nil,
		grpc.ForceServerCodecV2(replyFails{encoding.GetCodecV2("proto")}),
		grpc.StreamInterceptor(early),
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10), grpc.MaxRecvMsgSize(16<<20))
	std := newStandard(t, resilientgrpc.WithBreaker(breaker.Config{ConsecutiveFailures: 3}))
	cc := dial(t, addr, std.DialOptions()...)
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		s, err := cc.NewStream(ctx, desc, "/grpc.health.v1.Health/Watch")
		if err != nil {
			t.Fatal(err)
		}
		recvd := make(chan error, 1)
		go func() { recvd <- s.RecvMsg(new(healthpb.HealthCheckResponse)) }()
		serr := s.SendMsg(&healthpb.HealthCheckRequest{Service: strings.Repeat("s", 8<<20)})
		err = <-recvd
		t.Logf("watch %d: send %v, recv %v", i+1, serr, err)
		wantMarshalError(t, i+1, err)
	}
	kp := keyPolicies(t, std.StreamKeys())["/grpc.health.v1.Health/Watch"]
	if st := kp.Breaker.State(); st != breaker.StateOpen {
		t.Errorf("breaker %v (counts %+v), want open", st, kp.Breaker.Counts())
	}
}
