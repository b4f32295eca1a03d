package resilienthttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// Transport is an [http.RoundTripper] that sends each request under a
// [resilience.Policy]: every run of the policy's op is one attempt through
// the wrapped transport. See the package documentation for what it
// guarantees. [NewTransport] makes one with a policy of your own,
// [NewStandardTransport] one with the recommended chain.
//
// A Transport is safe for concurrent use. Its zero value sends requests
// through [http.DefaultTransport] under no policy, with the default settings,
// like NewTransport(nil, nil). A Transport must not be copied after first
// use.
type Transport struct {
	next   http.RoundTripper
	policy resilience.Policy
	opts   options
	std    *standard // the parts of a standard transport; nil for others
	calls  sync.Pool // of *call
	// spanKey: give the policy the request's key for its span events
	// when the caller's span records them.
	spanKey bool
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through next under p.
// A nil next means [http.DefaultTransport]; a nil p runs each request once,
// with the transport's guarantees (bodies, contexts, classification) but no
// policy. Nil options are ignored.
func NewTransport(next http.RoundTripper, p resilience.Policy, opts ...Option) *Transport {
	t := &Transport{next: next, policy: p, spanKey: p != nil}
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
	var stamp observe.Stamp
	if std := t.std; std != nil {
		// Like a timeout.Timeout, the overall timeout's telemetry covers
		// the whole call.
		stamp = std.overallRec.Start(c.outer())
	}
	err := c.setupErr
	if err == nil {
		op := c.op
		if c.host != nil {
			op = c.guarded
		}
		switch {
		case c.retry != nil:
			err = c.retry.Do(c.ctx, op)
		case t.policy == nil:
			err = op(c.ctx)
		default:
			err = t.policy.Do(c.ctx, op)
		}
	}
	if std := t.std; std != nil && std.overall > 0 {
		err = c.endOverall(err, stamp)
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
	t       *Transport
	op      func(context.Context) error // c.attempt
	guarded func(context.Context) error // c.guard

	req        *http.Request
	ctx        context.Context // given to the policy
	done       <-chan struct{} // the request's Done, or the key context's
	next       http.RoundTripper
	idempotent bool

	// Of a standard transport:
	host     resilience.Policy // the host's policy, a keyed handle
	retry    *retry.Retry      // the host's retry (standard transports)
	overall  *overallCtx       // ctx, under an overall timeout
	spare    *exchange         // the one that holds overall, for an attempt
	setupErr error             // the host's policy could not be made

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
		c.guarded = c.guard
	}
	ctx := req.Context()
	var key string
	spanKey := t.spanKey && spanRecording(ctx)
	if t.opts.withKey != nil || spanKey || t.std != nil && t.std.hosts != nil {
		key = t.key(req)
	}
	if spanKey {
		ctx = withKeyForSpan(ctx, key)
	}
	if with := t.opts.withKey; with != nil {
		if kctx := with(ctx, key); kctx != nil {
			ctx = kctx
		}
	}
	c.req, c.ctx, c.done, c.next = req, ctx, ctx.Done(), t.nextTransport()
	if t.std != nil {
		c.setStandard(t.std, key)
	}
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
	c.host, c.retry, c.overall, c.spare, c.setupErr = nil, nil, nil, nil, nil
	t.calls.Put(c)
}

// key returns req's key for per-key policies.
func (t *Transport) key(req *http.Request) string {
	if t.opts.keyFunc == nil {
		return HostKey(req)
	}
	return t.opts.keyFunc(req)
}

// outer returns the context of the call outside the overall timeout: the
// caller's, with the key.
func (c *call) outer() context.Context {
	if c.overall != nil {
		return c.overall.parent
	}
	return c.ctx
}

// attempt is the op given to the policy: one attempt at the request. Under
// a per-attempt timeout, it records what a timeout.Timeout around the
// attempt would.
func (c *call) attempt(actx context.Context) error {
	std := c.t.std
	if std == nil || std.attemptRec == nil {
		return c.send(actx, nil)
	}
	s := std.attemptRec.Start(actx)
	fired := false
	err := c.send(actx, &fired)
	if fired {
		std.attemptRec.TimedOut(actx, s, std.attempt)
	} else {
		std.attemptRec.Done(actx, s, observe.Classify(actx, err))
	}
	return err
}

// send is one attempt at the request; it sets *fired (if not nil) when the
// per-attempt timeout ended the attempt.
func (c *call) send(actx context.Context, fired *bool) error {
	c.mu.Lock()
	body, orig, replayable, err := c.nextBody()
	if err != nil {
		c.mu.Unlock()
		// Nothing was sent: the previous response stays the last one, and
		// the request (its GetBody), not the host, is at fault.
		return resilience.MarkNeutral(permanent(err))
	}
	prev := c.resp
	if c.respOK {
		// A concurrent attempt (a hedging policy) already succeeded: its
		// response stays the answer, and keep discards this one's.
		prev = nil
	} else {
		c.resp, c.lastErr = nil, nil
	}
	spare := c.spare
	c.spare = nil
	c.mu.Unlock()
	if prev != nil {
		discard(prev, c.t.maxDrain())
	}

	var watched *callerBody
	var file sentFile // the file handed over unwatched, if the body is one
	if body != nil && body != http.NoBody {
		var ok bool
		if ok, file = cannotFail(body, c.req.ContentLength); !ok {
			watched = &callerBody{ReadCloser: body, declared: c.req.ContentLength}
			body, orig = watched, false
		}
	}
	req, ex, stop := c.request(actx, body, orig, spare)
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp == nil {
		// The wrapped transport broke the RoundTripper contract.
		err = permanent(fmt.Errorf("resilienthttp: %T returned a nil *http.Response and a nil error", c.next))
	}
	if err != nil {
		if stop != nil {
			stop()
		}
		err = c.failed(actx, ex, err, replayable, fired, watched.faulty() || badBody(err, file, c.req.ContentLength < -1))
		ex.release()
		if resp != nil && resp.Body != nil {
			// The wrapped transport broke the RoundTripper contract.
			resp.Body.Close()
		}
		return err
	}
	err = c.received(resp, ex, replayable)
	if stop != nil {
		stop()
	}
	return err
}

// guard is the op given to the policy of a standard transport with
// per-host policies: one attempt under the host's policy.
func (c *call) guard(ctx context.Context) error { return c.host.Do(ctx, c.op) }

// request returns the request that the attempt sends, the exchange made
// for it if one was (spare, if not nil), and the function that stops
// watching actx, if the attempt must.
func (c *call) request(actx context.Context, body io.ReadCloser, orig bool, spare *exchange) (*http.Request, *exchange, func() bool) {
	req := c.req
	var deadline time.Time
	kind := deadlineNone
	watch := false
	switch {
	case c.overall != nil && isOverall(actx, c.overall):
		// The policy passed our overall context on: the attempt carries
		// its deadline, and nothing else can end it before the op
		// returns.
		deadline, kind = c.overall.deadline, deadlineOverall
	case actx.Done() == c.done:
		// The attempt context ends exactly when the caller's does.
	default:
		// The policy can end the attempt context by itself (a timeout
		// cancels it when its Do returns), which would kill the body the
		// caller still has to read: send with a context of ours, which
		// carries the attempt's deadline, and end it when the attempt
		// context ends while the op runs.
		watch = true
		if d, ok := actx.Deadline(); ok {
			deadline, kind = d, deadlinePolicy
		}
	}
	var now time.Time
	if s := c.t.std; s != nil && s.attempt > 0 {
		now = time.Now()
		if d := now.Add(s.attempt); kind == deadlineNone || d.Before(deadline) {
			deadline, kind = d, deadlineAttempt
		}
	}
	if kind == deadlineNone && !watch {
		// The request can carry the caller's context.
		if orig && c.getBody == nil {
			return req, nil, nil
		}
		r := new(http.Request)
		*r = *req
		c.setBody(r, body)
		return r, nil, nil
	}
	ex := spare
	if ex == nil {
		ex = new(exchange)
	}
	// Derived from the caller's context, so that the caller's
	// cancellation always applies, also while the body is read.
	if now.IsZero() && kind != deadlineNone {
		now = time.Now()
	}
	ex.ctx.init(req.Context(), deadline, kind, now)
	// The copy lives in the exchange: one allocation less per attempt
	// (WithContext is inlined, and its copy does not escape).
	ex.req = *req.WithContext(&ex.ctx)
	r := &ex.req
	c.setBody(r, body)
	var stop func() bool
	if watch {
		stop = context.AfterFunc(actx, ex.release)
	}
	return r, ex, stop
}

// isOverall reports whether ctx is the overall context o.
func isOverall(ctx context.Context, o *overallCtx) bool {
	oc, ok := ctx.(*overallCtx)
	return ok && oc == o
}

// setBody gives the copy r of the caller's request the attempt's body.
func (c *call) setBody(r *http.Request, body io.ReadCloser) {
	r.Body = body
	if c.getBody != nil {
		r.GetBody = c.getBody
	}
}

// failed returns the op's error for an attempt that got no response.
func (c *call) failed(actx context.Context, ex *exchange, err error, replayable bool, fired *bool, badBody bool) error {
	if badBody || refused(c.req, c.next, err) {
		// The request is at fault, not the host: net/http refused it, or
		// the caller's body failed or did not match its length.
		err = resilience.MarkNeutral(permanent(err))
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		return err
	}
	if c.req.Context().Err() == nil {
		switch {
		case ex != nil && ex.ctx.kind == deadlineAttempt && ex.ctx.expired():
			// The per-attempt timeout: a failure of the dependency,
			// which may be retried.
			err = &timeout.Error{Name: attemptTimeoutName, Duration: c.t.std.attempt, Err: err}
			if fired != nil {
				*fired = true
			}
		case actx.Err() != nil:
			// The attempt context ended, not the caller's: say so,
			// whichever of our context's deadline and its end won the
			// race. (Under the overall timeout, RoundTrip says more.)
			err = &attemptError{err: err, cause: context.Cause(actx)}
		}
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
func (c *call) received(resp *http.Response, ex *exchange, replayable bool) error {
	var err error
	switch outcome := c.t.classify(resp); outcome {
	case Success:
		handOver(resp, ex)
	case ClientError:
		handOver(resp, ex)
		err = resilience.MarkNeutral(permanent(newStatusError(resp)))
	default:
		se := newStatusError(resp)
		if c.t.policy == nil && c.retry == nil {
			// Nothing can send it again: the caller gets it as it is.
			handOver(resp, ex)
			err = se
		} else if replayable && c.idempotent {
			// Another attempt may follow: read the body now, while the
			// attempt's deadline runs, so that the connection is free
			// during the backoff wait.
			readAhead(resp, ex, c.t.maxDrain())
			err = se
		} else {
			// The server may have acted on the request before it
			// failed: sending it again could act twice.
			handOver(resp, ex)
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

// callerBody watches the caller's request body as the wrapped transport
// reads it: a Read error, or a length other than the declared one, is the
// caller's fault (an upload the client aborted, an http.MaxBytesReader that
// stopped it), not the host's. A Read that fails because the transport
// closed the body (HTTP/2 closes it when the stream is reset) is not.
type callerBody struct {
	io.ReadCloser
	declared int64 // the request's ContentLength; 0 or less: unknown
	n        atomic.Int64
	bad      atomic.Bool
	closed   atomic.Bool // the transport closed the body
}

func (b *callerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	total := b.n.Add(int64(n))
	if b.closed.Load() {
		return n, err // the transport ended it: nothing the caller did
	}
	// More bytes than declared is the caller's mistake as soon as it is
	// read: net/http's HTTP/2 client reads one byte past the declared
	// length and fails without reading to EOF.
	if err != nil && err != io.EOF || b.declared > 0 && (total > b.declared || err == io.EOF && total != b.declared) {
		b.bad.Store(true)
	}
	return n, err
}

// Close notes that the transport closed the body before closing it, so
// that a Read it makes fail is not the caller's fault.
func (b *callerBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

// Readers whose Read cannot fail: net/http sends them with the headers in
// one write, and nothing is to be learned by watching them.
var (
	nopCloserType         = reflect.TypeOf(io.NopCloser(struct{ io.Reader }{}))
	nopCloserWriterToType = reflect.TypeOf(io.NopCloser(strings.NewReader("")))
)

// cannotFail reports whether body needs no watching: our buffer; a
// bytes.Reader, bytes.Buffer or strings.Reader (io.NopCloser's included, as
// http.NewRequest makes them) that holds exactly the declared length, or any
// length when none is declared (net/http then sends what it reads); or a
// regular file whose rest is the declared length, which keeps sendfile
// (file reports that it is one). Any other file is watched: one of another
// length, so that net/http's error about it is the caller's fault, and one
// of no declared length (a pipe, say), whose read may fail and which
// net/http sends in chunks, without sendfile, anyway.
func cannotFail(body io.ReadCloser, declared int64) (ok bool, file sentFile) {
	var r io.Reader = body
	if t := reflect.TypeOf(r); t == nopCloserType || t == nopCloserWriterToType {
		r, _ = reflect.ValueOf(r).Field(0).Interface().(io.Reader)
	}
	switch v := r.(type) {
	case *bytesBody:
		return true, sentFile{}
	case *os.File:
		fi, ok := fileRestIs(v, declared)
		if !ok {
			return false, sentFile{}
		}
		return true, sentFile{name: v.Name(), fi: fi}
	case *bytes.Reader:
		return v != nil && (declared <= 0 || int64(v.Len()) == declared), sentFile{}
	case *bytes.Buffer:
		return v != nil && (declared <= 0 || int64(v.Len()) == declared), sentFile{}
	case *strings.Reader:
		return v != nil && (declared <= 0 || int64(v.Len()) == declared), sentFile{}
	}
	return false, sentFile{}
}

// fileRestIs reports whether f is a regular file with declared bytes left
// from its offset (a positive length), which it can read, and returns what
// Stat said of it. Three system calls, for file bodies only: the last reads
// the first byte in place, so that a descriptor opened for writing only is
// watched, and its failure judged as it is read (net/http may report
// another error for it: see badBody).
func fileRestIs(f *os.File, declared int64) (os.FileInfo, bool) {
	if f == nil || declared <= 0 {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || fi.Size()-off != declared {
		return nil, false
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], off); err != nil {
		return nil, false
	}
	return fi, true
}

// A sentFile is a file body handed over unwatched: its name and what Stat
// said of it before it was sent. The zero value is no file.
type sentFile struct {
	name string
	fi   os.FileInfo
}

// resized compares the size of the file at s's name, if it is still s's
// file, with its size when it was handed over: below zero if it shrank (a
// log rotated and truncated, say: net/http then sent fewer bytes than
// declared), above if it grew (net/http read more), zero if neither or if
// it cannot tell. (The body itself is closed by then.)
func (s sentFile) resized() int64 {
	fi, err := os.Stat(s.name)
	if err != nil || !os.SameFile(fi, s.fi) {
		return 0
	}
	return fi.Size() - s.fi.Size()
}

// badBody reports whether an attempt failed with err for its body's sake,
// where no callerBody watched it: a file handed over unwatched (to keep
// sendfile) that could not be read (EBADF: a descriptor opened for writing
// only; the connection's own descriptor is guarded by package net and
// cannot give it) or that net/http found shorter or longer than declared (it
// shrank or grew while it was sent); or any body whose declared length is
// one net/http cannot send (badLength: below -1), which net/http reports as
// a body of the wrong length. A watched body's length is judged as it is
// read (callerBody), and an in-memory body goes unwatched only when it
// holds exactly its declared length.
//
// net/http closes an HTTP/1 connection whose request it could not write,
// and may then report the read from that closed connection instead of the
// write's error (persistConn.roundTrip picks either): for a file, that
// read error is the file's fault when the file shrank.
//
// A file is blamed for net/http's words about a body of the wrong length
// only as net/http delivers them (see isHTTP1LengthError) or, for HTTP/2's,
// which come bare, if it grew: a proxy's reason phrase to CONNECT, a bare
// error of any text, may quote them, whatever RoundTripper wraps the
// proxied http.Transport.
func badBody(err error, file sentFile, badLength bool) bool {
	isFile := file.fi != nil
	switch {
	case isFile && errors.Is(err, syscall.EBADF):
		return true
	case badLength && anyLeaf(err, 0, isBodyLengthError):
		return true
	case isFile && anyWrappedLeaf(err, 0, nil, isHTTP1LengthError):
		return true
	case isFile && anyLeaf(err, 0, isTooLongForHTTP2):
		// HTTP/2's words come bare, as a proxy's phrase would: the file
		// must show that it grew.
		return file.resized() > 0
	case isFile && closedRead(err):
		return file.resized() < 0
	}
	return false
}

// closedRead reports whether err is a read from a connection that net/http
// itself closed (net.ErrClosed), as net/http reports it, at random, in
// place of a refused or failed write of the request.
func closedRead(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && errors.Is(op.Err, net.ErrClosed)
}

// isHTTP1LengthError reports whether leaf, wrapped by parent, is HTTP/1's
// error about a request body of the wrong length as net/http delivers it:
// inside the wrapper net/http gives a failed write (nothingWrittenError, or
// "net/http: HTTP/1.x transport connection broken: %w"), which a proxy's
// CONNECT phrase, a bare error, never gets. (HTTP/2's comes bare: see
// isTooLongForHTTP2.)
func isHTTP1LengthError(parent, leaf error) bool {
	msg := text(leaf)
	return parent != nil && strings.HasPrefix(msg, "http: ContentLength=") && strings.Contains(msg, " with Body length ") &&
		(nothingWritten(parent) || text(parent) == "net/http: HTTP/1.x transport connection broken: "+msg)
}

// isTooLongForHTTP2 reports whether err is HTTP/2's error about a request
// body longer than its declared length (the bundled transport's and
// x/net's), which comes as a bare error.
func isTooLongForHTTP2(err error) bool {
	return strings.TrimPrefix(text(err), "http2: ") == "request body larger than specified content length"
}

// nothingWritten reports whether err is net/http's wrapper of the error of
// a request of which nothing reached the connection (its type is not
// exported: known by its package path and name).
func nothingWritten(err error) bool {
	t := reflect.TypeOf(err)
	return t.PkgPath() == "net/http" && t.Name() == "nothingWrittenError"
}

// isBodyLengthError reports whether err has the words of net/http's error
// about a request body of the wrong length (HTTP/1's, HTTP/2's), however
// it came.
func isBodyLengthError(err error) bool {
	msg := text(err)
	return strings.HasPrefix(msg, "http: ContentLength=") && strings.Contains(msg, " with Body length ") ||
		isTooLongForHTTP2(err)
}

// faulty reports whether the caller's body failed; false for a nil b.
func (b *callerBody) faulty() bool { return b != nil && b.bad.Load() }
