package resilientgrpc

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/timeout"
)

// UnaryClientInterceptor returns a gRPC unary client interceptor that runs
// each call under p:
//
//	conn, err := grpc.NewClient(target, creds,
//		grpc.WithChainUnaryInterceptor(resilientgrpc.UnaryClientInterceptor(p)))
//
// Each attempt invokes the call with the context the policy gives it, so
// timeouts in p bound the attempt and the whole call. The op's error is
// classified by status code (see the package documentation) and carries
// the server's pushback; the interceptor's error is a status error (see
// [Error]). A nil p returns an interceptor that invokes the call directly.
// If p retries, pass grpc.WithDisableRetry to grpc.NewClient: gRPC's own
// retries would run under each attempt of p's, outside its budget.
//
// p must not run the op concurrently with itself: the attempts share the
// caller's reply message. Nor may it run the op after its Do returned (the
// Policy contract; a policy that gives up on an attempt must still wait for
// it): the interceptor reuses a call's state for later calls.
func UnaryClientInterceptor(p resilience.Policy, opts ...Option) grpc.UnaryClientInterceptor {
	if p == nil {
		return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
	}
	return newInterceptor(p, nil, opts).unary
}

// interceptor is what the unary and stream interceptors share: the policy,
// the options and, for the standard preset, the per-key instances that run
// inside the policy.
type interceptor struct {
	policy resilience.Policy
	keys   *keyed.Keyed // nil: no per-key instances
	opts   options
	calls  sync.Pool // of *unaryCall

	// The standard preset's timeouts of unary calls; 0: none.
	overall, attempt time.Duration
	// Their telemetry; nil when the timeout is off or its telemetry
	// disabled.
	overallRec, attemptRec *observe.Recorder
	// spanKey: give the policy the call's key for its span events when
	// the caller's span records them.
	spanKey bool
	// startIsAttempt: nothing waits between the start of a call and its
	// first attempt (no bulkhead queue), so the first attempt's timeout
	// counts from the time the overall timeout read, which saves a clock
	// read.
	startIsAttempt bool
}

// run runs op under the interceptor's policy; h is the call's keyed
// handle, if any: the preset's key then runs op under its own retry.
func (ic *interceptor) run(ctx context.Context, h resilience.Policy, op func(context.Context) error) error {
	if h != nil {
		if k, ok := keyed.Instance(h).(*KeyPolicy); ok && k.Retry != nil {
			return k.Retry.Do(ctx, op)
		}
	}
	return ic.policy.Do(ctx, op)
}

func newInterceptor(p resilience.Policy, keys *keyed.Keyed, opts []Option) *interceptor {
	ic := &interceptor{policy: p, keys: keys, opts: newOptions(opts), spanKey: true}
	ic.calls.New = func() any { return ic.newCall() }
	return ic
}

// unaryCall holds one unary call's state. It is pooled, and its ops are
// method values bound once, so that a call that succeeds allocates nothing
// here.
type unaryCall struct {
	ic      *interceptor
	ctx     context.Context // the caller's
	pctx    context.Context // the policy's: the caller's, or the overall timeout's
	method  string
	req     any
	reply   any
	cc      *grpc.ClientConn
	invoker grpc.UnaryInvoker

	opts     []grpc.CallOption // the caller's options but OnFinish, then trailer
	onFinish []func(error)     // the caller's OnFinish callbacks, called once
	md       metadata.MD       // the attempt's trailer
	trailer  grpc.CallOption   // grpc.Trailer(&md)
	keyed    resilience.Policy // the key's instance (preset)

	attempt      func(context.Context) error // bound to run
	keyedAttempt func(context.Context) error // bound to runKeyed
	overall      *lazyDeadline               // the preset's overall deadline, made per call: it may outlive the call
	start        time.Time                   // when the call started, for its first attempt (see startIsAttempt)
	ran          bool                        // an attempt ran
	lastErr      error                       // the last attempt's error; nil if it succeeded
}

func (ic *interceptor) newCall() *unaryCall {
	c := &unaryCall{ic: ic}
	c.trailer = grpc.Trailer(&c.md)
	c.attempt = c.run
	c.keyedAttempt = c.runKeyed
	return c
}

func (ic *interceptor) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c := ic.calls.Get().(*unaryCall)
	c.ctx, c.method, c.req, c.reply, c.cc, c.invoker = ctx, method, req, reply, cc, invoker
	c.opts, c.onFinish = splitOptions(c.opts[:0], c.onFinish[:0], opts)
	c.opts = append(c.opts, c.trailer)

	var err error
	pctx, key, keyed := ic.policyContext(ctx, method, cc)
	if keyed {
		c.keyed, err = ic.keys.Policy(key)
	}
	if err == nil {
		err = c.policyDo(pctx)
		switch {
		case err != nil:
		case !c.ran:
			// The reply was never filled in: an empty one is no answer.
			err = ErrNoCall
		case c.lastErr != nil:
			// The policy swallowed the last attempt's failure: the reply
			// holds nothing, so the caller gets the failure.
			err = c.lastErr
		}
	}
	err = exit(ctx, err)
	for _, f := range c.onFinish {
		f(err)
	}

	// A panic skips this: the call is then simply not reused.
	clear(c.opts)
	clear(c.onFinish)
	c.ctx, c.pctx, c.req, c.reply, c.cc, c.invoker, c.keyed, c.md = nil, nil, nil, nil, nil, nil, nil, nil
	c.ran, c.lastErr = false, nil
	ic.calls.Put(c)
	return err
}

// policyContext returns the context the policy gets (the caller's, with
// the call's key when a per-key policy or a recording span wants it), the
// key, and whether the key's instance of ic.keys runs the call. It computes
// the key only when something wants it.
func (ic *interceptor) policyContext(ctx context.Context, method string, cc *grpc.ClientConn) (context.Context, string, bool) {
	spanKey := ic.spanKey && trace.SpanFromContext(ctx).IsRecording()
	if ic.keys == nil && ic.opts.withKey == nil && !spanKey {
		return ctx, "", false
	}
	key := ic.opts.keyFunc(method, cc)
	pctx := ctx
	if spanKey && key != "" {
		// For the span events of the policies that are not per key (the
		// retry, the timeouts): they name the key. Only for a recording
		// span, since it costs a context value.
		pctx = observe.ContextWithKey(pctx, key)
	}
	if ic.keys != nil {
		return pctx, key, true
	}
	if ic.opts.withKey != nil {
		if kctx := ic.opts.withKey(pctx, key); kctx != nil {
			pctx = kctx
		}
	}
	return pctx, key, false
}

// policyDo runs the policy around the attempts, under the key's policy if
// there is one, and under the preset's overall timeout if there is one,
// whose telemetry records what a timeout.Timeout would.
func (c *unaryCall) policyDo(ctx context.Context) error {
	op := c.attempt
	if c.keyed != nil {
		op = c.keyedAttempt
	}
	d := c.ic.overall
	if d <= 0 {
		c.pctx = ctx
		return c.ic.run(ctx, c.keyed, op)
	}
	rec := c.ic.overallRec
	s := rec.Start(ctx)
	now := time.Now()
	deadline := now.Add(d)
	if c.ic.startIsAttempt {
		c.start = now
	}
	if cd, ok := ctx.Deadline(); ok && !cd.After(deadline) {
		// The caller's deadline comes first: ours could never fire.
		c.pctx = ctx
		err := c.ic.run(ctx, c.keyed, op)
		c.start = time.Time{}
		rec.Done(ctx, s, observe.Classify(ctx, err))
		return err
	}
	// A context of its own for each call, not one in the pooled call:
	// whoever keeps it after the call (a logger given it) must not see
	// another call's values through it.
	o := &lazyDeadline{parent: ctx, deadline: deadline}
	c.overall, c.pctx = o, o
	err := c.ic.run(o, c.keyed, op)
	c.start = time.Time{}
	fired := err != nil && ctx.Err() == nil && time.Until(deadline) <= 0
	o.end()
	c.overall = nil
	if fired {
		rec.TimedOut(ctx, s, d)
		return &timeout.Error{Name: overallTimeoutName, Duration: d, Err: err}
	}
	rec.Done(ctx, s, observe.Classify(ctx, err))
	return err
}

func (c *unaryCall) runKeyed(ctx context.Context) error {
	return c.keyed.Do(ctx, c.attempt)
}

// run is one attempt, under the preset's per-attempt timeout if there is
// one.
func (c *unaryCall) run(actx context.Context) error {
	c.ran = true
	err := c.runAttempt(actx)
	c.lastErr = err
	return err
}

func (c *unaryCall) runAttempt(actx context.Context) error {
	lazy := c.overall != nil && actx == context.Context(c.overall)
	if c.ic.attempt <= 0 && !lazy {
		return c.invokeOnce(actx)
	}
	now := c.start
	if now.IsZero() {
		now = time.Now()
	} else {
		c.start = time.Time{} // for the first attempt only
	}
	// The attempt's deadline: the per-attempt timeout's (own), or the
	// overall one if it comes first.
	base, deadline, own := actx, time.Time{}, false
	if c.ic.attempt > 0 {
		deadline, own = now.Add(c.ic.attempt), true
	}
	if lazy {
		// The policies passed the overall context on unchanged: derive
		// the attempt's context from its parent, with the overall
		// deadline, so that the overall context needs no timer.
		base = c.overall.parent
		if !own || c.overall.deadline.Before(deadline) {
			deadline, own = c.overall.deadline, false
		}
	}
	// Under a per-attempt timeout, its telemetry records what a
	// timeout.Timeout around the attempt would (rec is nil without one).
	rec := c.ic.attemptRec
	s := rec.Start(actx)
	if cd, ok := base.Deadline(); ok && !cd.After(deadline) {
		err := c.invokeOnce(base)
		rec.Done(actx, s, observe.Classify(actx, err))
		return err
	}
	// Not a context.WithDeadline: gRPC would send our deadline to the
	// server, which costs more than the policies (see attemptCtx).
	tctx := newAttemptCtx(base, deadline, now)
	err := c.invokeOnce(tctx)
	// The deadline may have passed before the alarm ran: gRPC then
	// reports DeadlineExceeded while tctx has not ended yet.
	fired := own && err != nil && base.Err() == nil && tctx.timedOut()
	tctx.End(context.Canceled)
	if fired {
		rec.TimedOut(actx, s, c.ic.attempt)
		return &timeout.Error{Name: attemptTimeoutName, Duration: c.ic.attempt, Err: err}
	}
	rec.Done(actx, s, observe.Classify(actx, err))
	return err
}

func (c *unaryCall) invokeOnce(actx context.Context) error {
	c.md = nil
	err := c.invoker(actx, c.method, c.req, c.reply, c.cc, c.opts...)
	if err == nil {
		return nil
	}
	var sent any
	if protoCodec(c.opts) {
		sent = c.req // see localError: only grpc-go's own codec is checked
	}
	return c.ic.opts.classify(c.pctx, err, c.md, true, sent)
}

// lazyDeadline is the context the policy gets under the preset's overall
// timeout: its parent (the caller's context) with the overall deadline. It
// makes a timer only when someone waits on Done (a retry's backoff wait, a
// bulkhead's queue); the attempts carry the overall deadline in their own
// contexts. One is made for each call; after the call it is done
// (Canceled, or DeadlineExceeded if the deadline had passed) and keeps its
// values.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	ctx    context.Context // made by the first Done
	cancel context.CancelFunc
	ended  bool // the call ended before anyone called Done
}

// end ends the context when the call ends, and releases its timer, if one
// was made.
func (l *lazyDeadline) end() {
	l.mu.Lock()
	if l.cancel != nil {
		l.cancel()
	} else {
		l.ended = true
	}
	l.mu.Unlock()
}

func (l *lazyDeadline) Deadline() (time.Time, bool) { return l.deadline, true }

func (l *lazyDeadline) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithDeadline(l.parent, l.deadline)
		if l.ended {
			l.cancel()
		}
	}
	return l.ctx.Done()
}

// Err reports the parent's error, or DeadlineExceeded once the deadline has
// passed. Before Done is called there is no channel whose state it could
// contradict; after, it is the timer's context's error.
func (l *lazyDeadline) Err() error {
	l.mu.Lock()
	ctx := l.ctx
	l.mu.Unlock()
	if ctx != nil {
		return ctx.Err()
	}
	if err := l.parent.Err(); err != nil {
		return err
	}
	// Until reads only the monotonic clock, which is cheaper than Now.
	if time.Until(l.deadline) <= 0 {
		return context.DeadlineExceeded
	}
	l.mu.Lock()
	ended := l.ended
	l.mu.Unlock()
	if ended {
		return context.Canceled
	}
	return nil
}

func (l *lazyDeadline) Value(key any) any { return l.parent.Value(key) }

// splitOptions appends the caller's call options to opts, except the
// OnFinish callbacks, which it appends to fin: the interceptor calls those
// once with the call's final error, where gRPC would call them once per
// attempt.
func splitOptions(opts []grpc.CallOption, fin []func(error), from []grpc.CallOption) ([]grpc.CallOption, []func(error)) {
	for _, o := range from {
		if f, ok := o.(grpc.OnFinishCallOption); ok {
			if f.OnFinish != nil {
				fin = append(fin, f.OnFinish)
			}
			continue
		}
		opts = append(opts, o)
	}
	return opts, fin
}
