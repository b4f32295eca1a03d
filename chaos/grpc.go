package chaos

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// pushbackKey is the trailer with which a gRPC server asks the client to
// wait before retrying, in milliseconds; the gRPC counterpart of
// Retry-After.
const pushbackKey = "grpc-retry-pushback-ms"

// UnaryServerInterceptor returns a gRPC server interceptor that injects
// inj's faults into unary calls. For each call it asks inj for a fault and
// then:
//
//   - Latency: waits, then goes on; when the call's context ends meanwhile,
//     returns its status (Canceled or DeadlineExceeded) without calling the
//     handler;
//   - Code: returns a status error with that code, and the
//     grpc-retry-pushback-ms trailer when the fault has a RetryAfter,
//     without calling the handler;
//   - Hang: waits until the call's context ends and returns its status;
//   - Reset: returns codes.Unavailable (interceptors cannot reach the
//     connection).
//
// A call with no fault goes to the handler unchanged. A nil inj injects
// nothing.
//
// A hanging call ends only when its client gives up or the server stops:
// grpc.Server.Stop ends it, grpc.Server.GracefulStop waits for it.
func UnaryServerInterceptor(inj *Injector) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		f, ok := inj.Next()
		if !ok {
			return handler(ctx, req)
		}
		if err := grpcFault(ctx, f, func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns a gRPC server interceptor that injects
// inj's faults into streams when they open, as [UnaryServerInterceptor]
// does for unary calls: a stream that gets a fault with a Code, Hang or
// Reset ends before the handler sees it, with no message sent. As for
// unary calls, grpc.Server.Stop ends a hanging stream and
// grpc.Server.GracefulStop waits for it.
func StreamServerInterceptor(inj *Injector) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		f, ok := inj.Next()
		if !ok {
			return handler(srv, ss)
		}
		if err := grpcFault(ss.Context(), f, ss.SetTrailer); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// grpcFault applies f to a call and returns the error that ends it, or nil
// to let it through.
func grpcFault(ctx context.Context, f Fault, setTrailer func(metadata.MD)) error {
	if f.Hang {
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	if err := wait(ctx, f.Latency); err != nil {
		return status.FromContextError(err).Err()
	}
	switch {
	case f.Reset:
		return status.Error(codes.Unavailable, "chaos: injected connection reset")
	case f.Code != codes.OK:
		if v := f.pushbackTrailer(); v != "" {
			setTrailer(metadata.Pairs(pushbackKey, v))
		}
		return status.Error(f.Code, "chaos: injected "+f.Code.String())
	}
	return nil
}
