package resilienthttp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
)

// How the request body is given to the attempts.
type bodyKind uint8

const (
	bodyEmpty    bodyKind = iota // nil or http.NoBody: every attempt sends it as is
	bodyRewind                   // GetBody: the first attempt sends Body, later ones GetBody()
	bodyUnread                   // no GetBody, not yet looked at: the first attempt decides
	bodyBuffered                 // read into memory: every attempt sends a reader over it
	bodyOnce                     // streamed by the first attempt: never sent again
)

// errBodyNotReplayable is the permanent error of an attempt after the one
// that streamed a body that could not be buffered. It is reached only when a
// policy retries an error marked permanent.
var errBodyNotReplayable = errors.New("resilienthttp: request body was streamed once and cannot be sent again")

func kindOf(req *http.Request) bodyKind {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return bodyEmpty
	case req.GetBody != nil:
		return bodyRewind
	}
	return bodyUnread
}

// nextBody returns the body of the next attempt; orig reports that it is
// req.Body itself, and replayable that a later attempt can send the same
// bytes again. The first attempt that buffers the caller's body reads it here.
// c.mu must be held.
func (c *call) nextBody() (body io.ReadCloser, orig, replayable bool, err error) {
	req := c.req
	switch c.kind {
	case bodyEmpty:
		return req.Body, true, true, nil
	case bodyRewind:
		if !c.bodyTaken {
			c.bodyTaken = true
			return req.Body, true, true, nil
		}
		b, err := req.GetBody()
		if err != nil {
			return nil, false, false, fmt.Errorf("resilienthttp: rewinding the request body: %w", err)
		}
		return b, false, true, nil
	case bodyUnread:
		c.bodyTaken = true
		return c.readBody()
	case bodyBuffered:
		return newBytesBody(c.buf), false, true, nil
	}
	return nil, false, false, errBodyNotReplayable
}

// readBody reads the caller's body into memory when its Content-Length is
// known and at most the cap, so that every attempt can send it. Otherwise, or
// when the body turns out shorter or longer than declared, it is streamed
// once: what was read is put back in front of the rest, so that the wrapped
// transport sends (or rejects) exactly what it would have without us. Memory
// stays bounded by the cap: nothing is read from a body of unknown length.
func (c *call) readBody() (body io.ReadCloser, orig, replayable bool, err error) {
	req := c.req
	n := req.ContentLength
	// n == MaxInt64 is never buffered: n+1 below would overflow.
	if n <= 0 || n == math.MaxInt64 || n > limit(c.t.opts.maxBuffer, DefaultMaxBufferedBody) {
		c.kind = bodyOnce
		return req.Body, true, false, nil
	}
	// One byte more than declared, to notice a body that is too long.
	buf, err := readAtMost(req.Body, n+1)
	read := len(buf)
	if int64(read) == n && err == nil {
		c.kind, c.buf = bodyBuffered, buf
		c.getBody = func() (io.ReadCloser, error) { return newBytesBody(buf), nil }
		req.Body.Close()
		return newBytesBody(buf), false, true, nil
	}
	c.kind = bodyOnce
	prefixed := &prefixedReadCloser{
		Reader: io.MultiReader(bytes.NewReader(buf[:read]), req.Body),
		Closer: req.Body,
	}
	return prefixed, false, false, nil
}

// bufferStep is the most that readAtMost allocates ahead of the bytes that
// arrived: a declared length is the client's word, not memory to reserve.
const bufferStep = 64 << 10

// readAtMost reads r until EOF or limit bytes, whichever comes first, and
// returns what it read; err is nil at EOF (or at the limit), else r's
// error. Its buffer is the exact size when limit is at most bufferStep, and
// otherwise grows with the bytes that actually arrive.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(limit, bufferStep))
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit-int64(len(buf)))))
		}
		n, err := r.Read(buf[len(buf):int(min(int64(cap(buf)), limit))])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

type prefixedReadCloser struct {
	io.Reader
	io.Closer
}

// bytesBody is a request body over a buffer; Close does nothing.
type bytesBody struct{ bytes.Reader }

func newBytesBody(b []byte) *bytesBody {
	r := new(bytesBody)
	r.Reset(b)
	return r
}

func (*bytesBody) Close() error { return nil }

// responseBody is the body of a response that the transport handed on: it
// serves bytes read ahead, then the rest of the original body, and ends the
// transport's context of the attempt when the caller closes it or reads it to
// the end.
type responseBody struct {
	prefix []byte        // read ahead and not yet served
	rc     io.ReadCloser // the rest; nil when the prefix is all of it
	ex     *exchange     // whose context the body ends; may be nil
	// prefetched is set when the body was read ahead up to the drain
	// limit, so that discarding it must not drain again.
	prefetched bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.rc == nil {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		// The wrapped transport has seen the end of the body and released
		// the connection: the context is no longer needed.
		b.release()
	}
	return n, err
}

func (b *responseBody) Close() error {
	var err error
	if b.rc != nil {
		err = b.rc.Close()
	}
	b.release()
	return err
}

func (b *responseBody) release() { b.ex.release() }

// upgradeBody keeps the io.Writer of a 101 Switching Protocols body, which
// callers type-assert to io.ReadWriteCloser, and its CloseWrite, which
// half-closes the connection: httputil.ReverseProxy relays a client's
// half-close with it, and without it tears the connection down instead.
type upgradeBody struct {
	*responseBody
	w io.Writer
}

func (b upgradeBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// CloseWrite half-closes the connection if the wrapped body can, and
// otherwise fails with an error matching http.ErrNotSupported, as net/http's
// own 101 body does.
func (b upgradeBody) CloseWrite() error {
	if cw, ok := b.w.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("resilienthttp: CloseWrite: %w", http.ErrNotSupported)
}

// handOver makes resp's body end the context of the attempt's exchange (if
// not nil) when it is closed or read to the end.
func handOver(resp *http.Response, ex *exchange) {
	if ex == nil {
		return
	}
	if resp.Body == nil || resp.Body == http.NoBody || bodiless(resp) {
		// Nothing to read: the context is done with now (HTTP/2 gives
		// such a response an empty body of its own, not NoBody).
		ex.release()
		return
	}
	b := &ex.body
	*b = responseBody{rc: resp.Body, ex: ex}
	if w, ok := resp.Body.(io.Writer); ok {
		resp.Body = upgradeBody{b, w}
		return
	}
	resp.Body = b
}

// bodiless reports whether resp has no body left to read: the answer to a
// HEAD, or a 204 or 304 whose stream has ended, which HTTP/2 gives an empty
// body of its own type. A 204 whose HTTP/2 stream is still open has a live
// body, whatever its Content-Length says: ending its context would reset
// the stream before the caller reads its end, so it is released at EOF or
// Close, as any body.
func bodiless(resp *http.Response) bool {
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		return true
	}
	return (resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified) && endedBody(resp.Body)
}

// endedBody reports whether b is net/http's body of an HTTP/2 stream that
// ended with its headers. The type is unexported: it is matched by name, and
// a Go version that renames it only keeps such contexts until Close.
func endedBody(b io.ReadCloser) bool {
	t := reflect.TypeOf(b)
	if t == nil {
		return false
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "net/http" && t.Name() == "http2noBodyReader"
}

// readAhead reads up to max bytes of resp's body into memory. If the body
// ends within them, it is closed, its connection reused and its context
// released at once, and resp gets an in-memory body. Otherwise resp gets the
// bytes read followed by the rest. Either way the caller would read the same
// bytes as from the original body.
func readAhead(resp *http.Response, ex *exchange, max int64) {
	body := resp.Body
	if max <= 0 || body == nil || body == http.NoBody {
		handOver(resp, ex)
		return
	}
	var buf bytes.Buffer
	if cl := resp.ContentLength; cl >= 0 && cl < max {
		// The declared length is the server's word: reserve at most
		// bufferStep ahead of the bytes that arrive.
		buf.Grow(int(min(cl, bufferStep)) + bytes.MinRead)
	}
	// One byte more than allowed: a body of exactly max bytes whose end
	// (a chunked body's last chunk) is still unread is read to its end.
	n, err := buf.ReadFrom(io.LimitReader(body, plusOne(max)))
	if err == nil && n <= max {
		// The end of the body, within the limit.
		body.Close()
		ex.release()
		resp.Body = &responseBody{prefix: buf.Bytes(), prefetched: true}
		return
	}
	resp.Body = &responseBody{prefix: buf.Bytes(), rc: body, ex: ex, prefetched: true}
}

// discard drains (up to max bytes) and closes the body of a response that is
// retried away, so that its connection can be reused, and leaves resp with
// http.NoBody. Draining waits for the server at most until the attempt's
// deadline or the caller's cancellation ends the body's context.
func discard(resp *http.Response, max int64) {
	body := resp.Body
	resp.Body = http.NoBody
	if body == nil {
		return
	}
	if b, ok := body.(*responseBody); ok && b.prefetched {
		// Read ahead already: either all of it, or as much as allowed.
		b.Close()
		return
	}
	// A 101 body is the raw connection: draining it would wait for the peer.
	if max > 0 && resp.StatusCode != http.StatusSwitchingProtocols {
		io.CopyN(io.Discard, body, plusOne(max))
	}
	body.Close()
}

// plusOne returns n+1, or n when that would overflow.
func plusOne(n int64) int64 {
	if n == math.MaxInt64 {
		return n
	}
	return n + 1
}
