package resilientgrpc

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/retry"
)

// StreamClientInterceptor returns a gRPC stream client interceptor that runs
// each stream under p, from the moment it opens to the moment it ends:
//
//	conn, err := grpc.NewClient(target, creds,
//		grpc.WithChainStreamInterceptor(resilientgrpc.StreamClientInterceptor(p)))
//
// A breaker or bulkhead in p admits the stream when it opens and holds its
// permit until the stream ends; the stream's outcome is recorded then
// (wrap a breaker in [StreamBreaker] to record a success at the first
// message instead, which long-lived streams need). The policy's timeouts
// bound the stream's whole life. If p retries, pass grpc.WithDisableRetry
// to grpc.NewClient: gRPC's own retries would run under each attempt of
// p's. Only server-streaming
// calls are retried, and only until a message has been received. See
// "Streams" in the package documentation for the details, and for the
// goroutine that runs p for each stream. A nil p returns an interceptor that
// opens streams directly.
//
// p must not run the op concurrently with itself; an op that would is
// refused with a neutral, permanent error.
func StreamClientInterceptor(p resilience.Policy, opts ...Option) grpc.StreamClientInterceptor {
	if p == nil {
		return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(ctx, desc, cc, method, opts...)
		}
	}
	return newInterceptor(p, nil, opts).stream
}

// errConcurrentOp is the error of an op that the policy runs while another
// op of the same stream runs (hedging). A stream cannot be shared.
var errConcurrentOp = retry.Permanent(resilience.MarkNeutral(
	errors.New("resilientgrpc: the policy ran a stream's op concurrently with itself")))

// stream is the ClientStream the interceptor returns. The caller's
// goroutines call its methods; the policy runs in a goroutine of its own
// (run), whose op opens the gRPC stream of each attempt and waits for it to
// end.
type stream struct {
	ic         *interceptor
	ctx        context.Context // the caller's
	desc       *grpc.StreamDesc
	cc         *grpc.ClientConn
	method     string
	streamer   grpc.Streamer
	opts       []grpc.CallOption // the caller's options but OnFinish
	onFinish   []func(error)     // the caller's OnFinish callbacks, called once
	keyed      resilience.Policy // the key's instance (preset), or nil
	resendable bool              // server-streaming: may be sent again until a message was received

	// sendMu orders the caller's SendMsg and CloseSend with the replay of
	// a retry, so that a new attempt gets exactly what the caller sent.
	sendMu sync.Mutex
	req    any  // the message the caller sent, if resendable
	sent   bool // the caller called SendMsg
	closed bool // the caller called CloseSend

	mu       sync.Mutex
	cur      *attempt           // the attempt the caller uses; nil until one opened
	received bool               // a message or a header was delivered to the caller: no retry may replace it
	sctx     context.Context    // Context's, made on its first call; nil until then
	cancel   context.CancelFunc // ends sctx
	running  bool               // an op runs
	last     error              // the last op's error
	done     bool               // the policy returned
	out      error              // then: what the caller gets (exit of the policy's error)
	panicked bool               // the policy's goroutine panicked, with panicVal
	panicVal any
	changed  chan struct{} // closed, and replaced, when cur or done change
}

// attempt is one gRPC stream.
type attempt struct {
	cs       grpc.ClientStream
	reported func(error) // reports the first message to the preset's breaker; nil once done or if none
	md       metadata.MD // the trailer; written by gRPC before finished is sent
	finished chan error  // gRPC's OnFinish: the stream's status; buffered
	retired  bool        // under stream.mu: a retry replaces it
}

func (a *attempt) finish(err error) {
	select {
	case a.finished <- err:
	default: // gRPC calls OnFinish once; never block its goroutine
	}
}

func (ic *interceptor) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s := &stream{
		ic: ic, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer,
		resendable: desc.ServerStreams && !desc.ClientStreams,
		changed:    make(chan struct{}),
	}
	s.opts, s.onFinish = splitOptions(nil, nil, opts)
	pctx, key, keyed := ic.policyContext(ctx, method, cc)
	if keyed {
		h, err := ic.keys.Policy(key)
		if err != nil {
			err = exit(ctx, err)
			for _, f := range s.onFinish {
				f(err)
			}
			return nil, err
		}
		s.keyed = h
	}

	// The goroutine ends when the policy returns: see "Streams" in the
	// package documentation for when that is.
	go s.run(pctx)

	s.mu.Lock()
	for s.cur == nil && !s.done {
		s.waitLocked()
	}
	if s.cur == nil {
		s.rethrowLocked()
		err := s.out
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()
	return s, nil
}

// errGoexit is the outcome of a stream whose policy called runtime.Goexit.
var errGoexit = errors.New("resilientgrpc: the stream's policy exited its goroutine")

// run runs the policy, then publishes its outcome. A panic in the policy
// or the op (the streamer) is recovered once the policies have seen it go
// by (a bulkhead released its slot, a breaker counted a failure), and
// re-panicked in the caller's goroutine that waits for the stream.
func (s *stream) run(ctx context.Context) {
	returned := false
	defer func() {
		if !returned {
			v := recover() // nil for runtime.Goexit
			s.publish(errGoexit, v, v != nil)
		}
	}()
	var err error
	if s.keyed != nil {
		err = s.ic.run(ctx, s.keyed, func(ctx context.Context) error { return s.keyed.Do(ctx, s.op) })
	} else {
		err = s.ic.run(ctx, nil, s.op)
	}
	returned = true
	s.publish(err, nil, false)
}

// publish ends the call with the policy's error, or a panic.
func (s *stream) publish(err error, panicVal any, panicked bool) {
	s.mu.Lock()
	if err == nil && s.cur == nil {
		err = ErrNoStream
	}
	s.mu.Unlock()
	out := exit(s.ctx, err)
	// Before the caller can see the end, as gRPC calls them; also when the
	// policy panicked, since gRPC promises to call them exactly once.
	for _, f := range s.onFinish {
		f(out)
	}
	s.mu.Lock()
	s.done, s.out = true, out
	s.panicVal, s.panicked = panicVal, panicked
	s.broadcastLocked()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// rethrowLocked re-panics, after unlocking s.mu, with the panic of the
// policy's goroutine, if there was one.
func (s *stream) rethrowLocked() {
	if s.panicked {
		v := s.panicVal
		s.mu.Unlock()
		panic(v)
	}
}

// op is the policy's op: one attempt.
func (s *stream) op(actx context.Context) error {
	s.mu.Lock()
	switch {
	case s.running:
		s.mu.Unlock()
		return errConcurrentOp
	case s.cur != nil && !s.cur.retired:
		// The stream cannot be sent again (the error was permanent, or the
		// stream succeeded) and the policy runs the op anyway.
		err := s.last
		s.mu.Unlock()
		return err
	}
	s.running = true
	s.mu.Unlock()

	err := s.attempt(actx)

	s.mu.Lock()
	s.running = false
	s.last = err
	s.mu.Unlock()
	return err
}

// attempt opens a gRPC stream, hands it to the caller, and returns when it
// has ended, with its classified error. A gRPC stream ends, and calls its
// OnFinish, when the caller reads its status, when SendMsg fails on the
// client's side, when its context ends or when its ClientConn closes.
func (s *stream) attempt(actx context.Context) error {
	a := &attempt{finished: make(chan error, 1)}
	opts := make([]grpc.CallOption, 0, len(s.opts)+2)
	opts = append(opts, s.opts...)
	opts = append(opts, grpc.Trailer(&a.md), grpc.OnFinish(a.finish))
	cs, err := s.streamer(actx, s.desc, s.cc, s.method, opts...)
	if err != nil {
		// Nothing was sent: a server-streaming call may be opened again.
		return s.ic.opts.classify(s.ctx, err, a.md, s.resendable, nil)
	}
	a.cs = cs
	a.reported, _ = actx.Value(firstMessageKey{}).(func(error))
	s.install(a)

	md := metadata.MD(nil)
	select {
	case err = <-a.finished:
		md = a.md
	case <-s.ctx.Done():
		// The caller gave the stream up. gRPC ends it too; do not wait
		// for that, in case cs is not gRPC's own stream.
		select {
		case err = <-a.finished:
			md = a.md
		default:
			err = status.FromContextError(s.ctx.Err()).Err()
		}
	}
	if err == nil {
		return nil
	}
	var sent any // the request of a server-streaming call, to tell whose message did not marshal
	if s.resendable && isMarshalError(err) {
		s.sendMu.Lock()
		req, wasSent := s.req, s.sent
		s.sendMu.Unlock()
		switch {
		case !wasSent:
			// The client marshals only in SendMsg (or a retry's replay of
			// it): the caller sent nothing, so the server's own message
			// did not marshal (it answered before reading the request).
			sent = nothingSent{}
		case protoCodec(s.opts):
			sent = req
		}
	}
	s.mu.Lock()
	e := s.ic.opts.classify(s.ctx, err, md, s.resendable && !s.received, sent)
	if !e.permanent {
		// From now on nothing a may still return reaches the caller, so
		// the retry replays the whole stream exactly once.
		a.retired = true
	}
	s.mu.Unlock()
	return e
}

// install makes a the attempt the caller uses. For a retry, it first sends
// a what the caller sent to the attempt it replaces.
func (s *stream) install(a *attempt) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	retrying := s.cur != nil
	s.mu.Unlock()
	if retrying {
		// Errors end the stream; its OnFinish reports them.
		if s.sent {
			_ = a.cs.SendMsg(s.req)
		}
		if s.closed {
			_ = a.cs.CloseSend()
		}
	}
	s.mu.Lock()
	s.cur = a
	s.broadcastLocked()
	s.mu.Unlock()
}

// waitLocked waits, with s.mu held, until cur or done changes.
func (s *stream) waitLocked() {
	ch := s.changed
	s.mu.Unlock()
	<-ch
	s.mu.Lock()
}

func (s *stream) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// next waits, with s.mu held, until attempt a is replaced or the policy has
// returned. It returns the attempt that replaced a, or nil and the error for
// the caller; it unlocks s.mu.
func (s *stream) next(a *attempt) (*attempt, error) {
	for s.cur == a && !s.done {
		s.waitLocked()
	}
	if s.cur != a {
		n := s.cur
		s.mu.Unlock()
		return n, nil
	}
	s.rethrowLocked()
	out := s.out
	s.mu.Unlock()
	return nil, out
}

func (s *stream) current() *attempt {
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	return a
}

// RecvMsg receives the next message. When the stream ends, it waits for the
// policy to record the outcome and returns io.EOF on success, or the error
// described in the package documentation. While a server-streaming call is
// retried, it waits for the next attempt and reads from it.
func (s *stream) RecvMsg(m any) error {
	a := s.current()
	for {
		err := a.cs.RecvMsg(m)
		s.mu.Lock()
		if err == nil && !a.retired {
			s.received = true
			report := a.reported
			a.reported = nil
			if !s.desc.ServerStreams {
				// gRPC returns the one response of such a call after it
				// has read the stream's successful end: let the policy
				// record it first.
				s.next(a)
			} else {
				s.mu.Unlock()
			}
			if report != nil {
				report(nil) // outside the lock: it may run breaker hooks
			}
			return nil
		}
		// a has ended, or a retry replaces it and what it returned is
		// dropped.
		n, out := s.next(a)
		if n != nil {
			a = n
			continue
		}
		switch {
		case out != nil:
			return out
		case err == nil:
			// The policy swallowed the error of a retired attempt.
			return io.EOF
		}
		return err
	}
}

// SendMsg sends m. For a server-streaming call, it also keeps m, so that a
// retry can send it again. An error other than io.EOF ends the stream; SendMsg
// then returns the stream's final error, like RecvMsg.
func (s *stream) SendMsg(m any) error {
	s.sendMu.Lock()
	if s.resendable {
		s.req, s.sent = m, true
	}
	a := s.current()
	err := a.cs.SendMsg(m)
	s.sendMu.Unlock()
	if err == nil || err == io.EOF {
		return err
	}
	s.mu.Lock()
	n, out := s.next(a)
	switch {
	case n != nil:
		return nil // a retry replaced the attempt and sent m again
	case out != nil:
		return out
	}
	return err
}

// CloseSend closes the send direction of the stream.
func (s *stream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.closed = true
	return s.current().cs.CloseSend()
}

// Header returns the header of the attempt that serves the caller. An
// attempt that ended without a header (gRPC then returns a nil header and a
// nil error) or whose header a retry makes stale is replaced by the next
// attempt, whose header Header waits for; when the policy has returned
// instead, Header returns what the last attempt gave, or the call's error.
func (s *stream) Header() (metadata.MD, error) {
	a := s.current()
	for {
		md, err := a.cs.Header()
		s.mu.Lock()
		if err == nil && md != nil && !a.retired {
			// The caller has a's header: a retry would give it the
			// messages of another attempt under it, so none may follow
			// (gRPC's own retries stop at the header too).
			s.received = true
			s.mu.Unlock()
			return md, nil
		}
		if !s.resendable || s.received {
			// No retry can replace a: its answer is the caller's.
			s.mu.Unlock()
			return md, err
		}
		n, out := s.next(a)
		switch {
		case n != nil:
			a = n
		case out != nil:
			return nil, out
		default:
			return md, err
		}
	}
}

// Trailer returns the trailer of the current attempt.
func (s *stream) Trailer() metadata.MD { return s.current().cs.Trailer() }

// Context returns the stream's context: it ends when the call ends (its
// last attempt ended, the policy returned), not when a retry replaces an
// attempt, whose own stream context gRPC ends; its values are those of the
// current attempt's stream context (what gRPC and its stats handlers put
// there, and the caller's).
func (s *stream) Context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sctx == nil {
		ctx, cancel := context.WithCancel(s.ctx)
		s.sctx, s.cancel = &streamCtx{Context: ctx, s: s}, cancel
		if s.done {
			s.cancel()
		}
	}
	return s.sctx
}

// streamCtx is a stream's Context: its own end, the current attempt's
// values.
type streamCtx struct {
	context.Context
	s *stream
}

// Value returns the current attempt's value for key, except for the key by
// which package context finds a parent's cancellation: for that one it
// returns c's own, so that the contexts derived from c, directly or through
// value layers (a span, metadata), register with c's end without a
// goroutine. (That key is a pointer to an int, and only a cancelCtx answers
// it with itself.)
func (c *streamCtx) Value(key any) any {
	if _, ok := key.(*int); ok {
		if v := c.Context.Value(key); v == any(c.Context) {
			return v
		}
	}
	if a := c.s.current(); a != nil && a.cs != nil {
		return a.cs.Context().Value(key)
	}
	return c.Context.Value(key)
}

var _ grpc.ClientStream = (*stream)(nil)
