package resilienthttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/retry"
)

// Transport is an [http.RoundTripper] that sends each request under a
// [resilience.Policy]: every run of the policy's op is one attempt through
// the wrapped transport. See the package documentation for what it
// guarantees.
//
// A Transport is safe for concurrent use. Its zero value sends requests
// through [http.DefaultTransport] under no policy, with the default settings,
// like NewTransport(nil, nil). A Transport must not be copied after first
// use.
type Transport struct {
	next   http.RoundTripper
	policy resilience.Policy
	opts   options
	calls  sync.Pool // of *call
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through next under p.
// A nil next means [http.DefaultTransport]; a nil p runs each request once,
// with the transport's guarantees (bodies, contexts, classification) but no
// policy. Nil options are ignored.
func NewTransport(next http.RoundTripper, p resilience.Policy, opts ...Option) *Transport {
	t := &Transport{next: next, policy: p}
	for _, o := range opts {
		if o != nil {
			o.apply(&t.opts)
		}
	}
	return t
}

// RoundTrip sends req under the policy and returns the response of the last
// attempt that got one, with a nil error, whatever its status: the
// [http.RoundTripper] contract. It returns an [*Error] instead when no
// attempt got a response (a rejection by the policy, a network error), and
// when the request's context ended before the policy gave up on a failure
// response: the caller no longer waits for it.
//
// RoundTrip does not modify req, and closes req.Body, also on errors.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, errNilRequest
	}
	c := t.newCall(req)
	var err error
	if t.policy == nil {
		err = c.op(c.ctx)
	} else {
		err = t.policy.Do(c.ctx, c.op)
	}
	resp, err := c.finish(err)
	t.freeCall(c)
	return resp, err
}

var errNilRequest = errors.New("resilienthttp: nil Request")

// CloseIdleConnections closes the idle connections of the wrapped transport,
// if it has such a method; [http.Client.CloseIdleConnections] calls it.
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.nextTransport().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

func (t *Transport) nextTransport() http.RoundTripper {
	if t.next == nil {
		return http.DefaultTransport
	}
	return t.next
}

func (t *Transport) classify(resp *http.Response) Outcome {
	if t.opts.classify == nil {
		return DefaultClassifier(resp)
	}
	return t.opts.classify(resp)
}

func (t *Transport) maxDrain() int64 { return limit(t.opts.maxDrain, DefaultMaxDrain) }

// A call is the state of one RoundTrip. Calls are pooled, with their op bound
// once, so that a call allocates nothing of its own; this relies on the
// Policy contract that no policy calls op after its Do has returned.
type call struct {
	t  *Transport
	op func(context.Context) error // c.attempt

	req        *http.Request
	ctx        context.Context // given to the policy
	done       <-chan struct{} // ctx.Done()
	next       http.RoundTripper
	idempotent bool

	// A policy may run attempts concurrently (a hedge): mu guards the rest.
	mu        sync.Mutex
	kind      bodyKind
	bodyTaken bool   // an attempt sent (or buffered) req.Body itself
	buf       []byte // the buffered body
	getBody   func() (io.ReadCloser, error)
	resp      *http.Response // the response of the last attempt, if it got one
	respOK    bool           // resp is a success
	lastErr   error          // the error of the last attempt, if it got no response
}

func (t *Transport) newCall(req *http.Request) *call {
	c, _ := t.calls.Get().(*call)
	if c == nil {
		c = &call{t: t}
		c.op = c.attempt
	}
	ctx := req.Context()
	if with := t.opts.withKey; with != nil {
		key := t.opts.keyFunc
		if key == nil {
			key = HostKey
		}
		if kctx := with(ctx, key(req)); kctx != nil {
			ctx = kctx
		}
	}
	c.req, c.ctx, c.done, c.next = req, ctx, ctx.Done(), t.nextTransport()
	idempotent := t.opts.idempotent
	if idempotent == nil {
		idempotent = IsIdempotent
	}
	c.idempotent = idempotent(req)
	c.kind = kindOf(req)
	return c
}

func (t *Transport) freeCall(c *call) {
	c.req, c.ctx, c.done, c.next = nil, nil, nil, nil
	c.bodyTaken, c.buf, c.getBody = false, nil, nil
	c.resp, c.respOK, c.lastErr = nil, false, nil
	t.calls.Put(c)
}

// attempt is the op given to the policy: one attempt at the request.
func (c *call) attempt(actx context.Context) error {
	c.mu.Lock()
	body, orig, replayable, err := c.nextBody()
	if err != nil {
		c.mu.Unlock()
		// Nothing was sent: the previous response stays the last one.
		return permanent(err)
	}
	prev := c.resp
	c.resp, c.respOK, c.lastErr = nil, false, nil
	c.mu.Unlock()
	if prev != nil {
		discard(prev, c.t.maxDrain())
	}

	req, cancel := c.request(actx, body, orig)
	var stop func() bool
	if cancel != nil {
		// While the op runs, the end of the attempt context (a timeout
		// firing, a hedge cancelling a loser) ends the request too; after
		// it returns, only the caller and the deadline can.
		stop = context.AfterFunc(actx, cancel)
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		if cancel != nil {
			stop()
			cancel()
		}
		if resp != nil && resp.Body != nil {
			// The wrapped transport broke the RoundTripper contract.
			resp.Body.Close()
		}
		return c.failed(actx, err, replayable)
	}
	err = c.received(resp, cancel, replayable)
	if cancel != nil {
		stop()
	}
	return err
}

// request returns the request that the attempt sends, and the cancel func of
// the context made for it, if one was.
func (c *call) request(actx context.Context, body io.ReadCloser, orig bool) (*http.Request, context.CancelFunc) {
	req := c.req
	if actx.Done() == c.done {
		// The attempt context ends exactly when the caller's does: the
		// request can carry the caller's context.
		if orig && c.getBody == nil {
			return req, nil
		}
		r := new(http.Request)
		*r = *req
		c.setBody(r, body)
		return r, nil
	}
	// The policy can end the attempt context by itself (a timeout cancels
	// it when its Do returns), which would kill the body the caller still
	// has to read: send with a context of ours, derived from the caller's,
	// which carries the attempt's deadline.
	var ctx context.Context
	var cancel context.CancelFunc
	if d, ok := actx.Deadline(); ok {
		ctx, cancel = context.WithDeadline(req.Context(), d)
	} else {
		ctx, cancel = context.WithCancel(req.Context())
	}
	r := req.WithContext(ctx)
	c.setBody(r, body)
	return r, cancel
}

// setBody gives the copy r of the caller's request the attempt's body.
func (c *call) setBody(r *http.Request, body io.ReadCloser) {
	r.Body = body
	if c.getBody != nil {
		r.GetBody = c.getBody
	}
}

// failed returns the op's error for an attempt that got no response.
func (c *call) failed(actx context.Context, err error, replayable bool) error {
	if actx.Err() != nil && c.req.Context().Err() == nil {
		// The attempt context ended, not the caller's: say so, whichever
		// of our context's deadline and its cancellation won the race.
		err = &attemptError{err: err, cause: context.Cause(actx)}
	}
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	// Retry conservatively: a request that may have reached the server is
	// sent again only if it is idempotent, since doing it twice must be the
	// same as doing it once; a body that was streamed cannot be sent twice.
	if !replayable || !c.idempotent && !nothingSent(err) {
		return permanent(err)
	}
	return err
}

// received classifies resp, keeps it as the last response and returns the
// op's error for it.
func (c *call) received(resp *http.Response, cancel context.CancelFunc, replayable bool) error {
	var err error
	switch outcome := c.t.classify(resp); outcome {
	case Success:
		handOver(resp, cancel)
	case ClientError:
		handOver(resp, cancel)
		err = resilience.MarkNeutral(permanent(newStatusError(resp)))
	default:
		se := newStatusError(resp)
		if replayable && c.idempotent {
			// Another attempt may follow: read the body now, while the
			// attempt's deadline runs, so that the connection is free
			// during the backoff wait.
			readAhead(resp, cancel, c.t.maxDrain())
			err = se
		} else {
			// The server may have acted on the request before it
			// failed: sending it again could act twice.
			handOver(resp, cancel)
			err = permanent(se)
		}
	}
	c.keep(resp, err == nil)
	return err
}

// keep stores resp as the last response. When a concurrent attempt stored
// one meanwhile, the better one stays (a success over a failure; otherwise
// the first) and the other is discarded.
func (c *call) keep(resp *http.Response, ok bool) {
	c.mu.Lock()
	prev := c.resp
	if prev != nil && (c.respOK || !ok) {
		c.mu.Unlock()
		discard(resp, c.t.maxDrain())
		return
	}
	c.resp, c.respOK = resp, ok
	c.mu.Unlock()
	if prev != nil {
		discard(prev, c.t.maxDrain())
	}
}

// finish turns the policy's error into RoundTrip's results.
func (c *call) finish(err error) (*http.Response, error) {
	req := c.req
	c.mu.Lock()
	resp, lastErr := c.resp, c.lastErr
	unsent := !c.bodyTaken && c.kind != bodyEmpty
	c.mu.Unlock()
	if unsent {
		// No attempt took the body: RoundTrip must close it all the same.
		req.Body.Close()
	}
	if resp != nil {
		if err == nil || req.Context().Err() == nil {
			// Whatever the policy made of it (retries exhausted, the
			// breaker opened, the budget ran out), a response is returned
			// with a nil error.
			resp.Request = req
			return resp, nil
		}
		// The caller gave up while the policy still worked on a failure.
		discard(resp, c.t.maxDrain())
		return nil, c.fail(context.Cause(req.Context()))
	}
	if err == nil {
		// The policy swallowed an error or never ran the op.
		if err = lastErr; err == nil {
			err = ErrNoResponse
		}
	}
	return nil, c.fail(err)
}

func (c *call) fail(err error) error {
	return &Error{Method: methodOf(c.req), URL: redactURL(c.req.URL), Err: err}
}

// attemptError is the error of an attempt that the attempt context ended.
type attemptError struct{ err, cause error }

func (e *attemptError) Error() string {
	return e.err.Error() + " (attempt ended: " + e.cause.Error() + ")"
}

func (e *attemptError) Unwrap() []error { return []error{e.err, e.cause} }

// permanent marks err so that a retry policy does not retry it. Package
// retry honours the mark; so does any policy that looks for an error with a
// method Permanent() bool that reports true.
func permanent(err error) error { return retry.Permanent(err) }
