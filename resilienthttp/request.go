package resilienthttp

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// IsIdempotent is the default rule for whether a request may be sent again
// after it may have reached the server. It reports true for the methods that
// RFC 9110 defines as idempotent, GET, HEAD, OPTIONS, TRACE, PUT and DELETE
// (an empty method means GET), and for any request whose header has an
// Idempotency-Key or X-Idempotency-Key entry, even an empty one, as
// [http.Transport] reads it: the client promises that the server
// deduplicates.
//
// Everything else (POST, PATCH, CONNECT, custom methods) may have had an
// effect when an attempt failed after it was sent, and sending it again could
// do it twice: charge a card twice, create two orders. Such a request is sent
// again only when the failed attempt's error proves that nothing was sent:
// the connection could not be established (a [*net.OpError] with Op "dial",
// which also covers a refused connection, a dial timeout and a proxy that
// could not be reached) or the host name could not be resolved (a
// [*net.DNSError]). A failure response, even 503 or 429, proves nothing: the
// server may have acted before it failed.
//
// Whatever the rule says, a request whose body cannot be replayed (see
// [WithMaxBufferedBody]) is never sent twice.
func IsIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	// Presence, not value: net/http lets a nil value mark the request as
	// idempotent without sending the header.
	_, ok := req.Header["Idempotency-Key"]
	if !ok {
		_, ok = req.Header["X-Idempotency-Key"]
	}
	return ok
}

// nothingSent reports whether err, from a round trip, proves that no byte of
// the request reached the network: the connection was never made. See
// IsIdempotent.
func nothingSent(err error) bool {
	// A proxy that could not be reached is a dial error inside a
	// "proxyconnect" one: look through the nested OpErrors.
	var op *net.OpError
	for e := err; errors.As(e, &op); e = op.Err {
		if op.Op == "dial" {
			return true
		}
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// refused reports whether the attempt that failed with err was refused
// before anything was sent, for a fault of the request:
//
//   - net/http's own refusal of req: an innermost error of err (a leaf of
//     its tree: wrappers, joins) begins with one of the texts with which
//     net/http refuses a request, for HTTP/1 or HTTP/2 (after HTTP/2's
//     "http2: "), and req has the fault that the text names (see
//     refusalOf). A text alone proves nothing: a proxy's reason phrase to
//     a failed CONNECT is an error's whole text, net/http quotes a server's
//     bytes inside its errors about a response, and an [http.Client] inside
//     next may have refused a redirect the server sent it;
//   - HTTP/2's refusal of req's headers (or trailers) as larger than the
//     server's advertised limit, which cannot be checked against req: only
//     as net/http builds it, and never below a *url.Error (see
//     headerListRefusal);
//   - or next is an [http.Transport], req's scheme is http or https, and
//     req is malformed for it (no URL or header, no host, a method that is
//     not a token, a header or trailer field that is not valid). It
//     refuses such a request, except that a method is checked only after
//     an HTTP/2 connection registered for https had its chance, and HTTP/2
//     sends the method as it is; a request with an invalid method says
//     nothing fair of the host either way. Another RoundTripper, a unix
//     socket's say, may accept such a request, and its failures are then
//     the host's, as are those of a protocol registered with
//     [http.Transport.RegisterProtocol], to which net/http hands other
//     schemes before it checks anything of this.
//
// Such a request says nothing about the host: its error must not count
// against the host's breaker, nor be retried. It is asked only when an
// attempt failed, so that a request that succeeds pays nothing for it.
func refused(req *http.Request, next http.RoundTripper, err error) bool {
	bad := badRequest(req)
	if _, ok := next.(*http.Transport); ok && bad && httpScheme(req) {
		return true
	}
	if headerListRefusal(req, next, err, 0) {
		return true
	}
	if _, ok := next.(*http.Transport); ok && req.Body == nil && req.ContentLength != 0 && closedRead(err) {
		// HTTP/1 refuses a length with a nil Body before writing anything
		// and closes the connection; net/http may report the read from
		// that closed connection instead of the refusal. (HTTP/2 sends such
		// a request.)
		return true
	}
	return anyLeaf(err, 0, func(e error) bool { return refusalOf(req, bad, e) })
}

// headerListRefusal reports whether err holds HTTP/2's refusal of req's
// headers or trailers as larger than the server's advertised limit, which
// cannot be checked against req (the limit is the server's): headers as
// net/http wraps the sentinel ("http2: %w"), trailers as the bare sentinel
// when req has trailers and does not go through a proxy of next's (whose
// CONNECT reason phrase can be any bare text). Never below a *url.Error:
// an http.Client inside next sends headers the caller did not write (its
// Jar's cookies, a redirect hop's Referer, even to the caller's own URL),
// which the server may have caused.
func headerListRefusal(req *http.Request, next http.RoundTripper, err error, depth int) bool {
	if err == nil || depth > 32 {
		return false
	}
	if _, ok := err.(*url.Error); ok {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		inner := u.Unwrap()
		if inner != nil && text(inner) == headerListTooLarge && text(err) == "http2: "+headerListTooLarge {
			if _, leaf := inner.(interface{ Unwrap() error }); !leaf {
				return true
			}
		}
		return headerListRefusal(req, next, inner, depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if headerListRefusal(req, next, e, depth+1) {
				return true
			}
		}
		return false
	}
	return len(req.Trailer) > 0 && text(err) == headerListTooLarge && !viaProxy(req, next)
}

// viaProxy reports whether next is an http.Transport that sends req
// through a proxy, or whose Proxy function fails for req: a failed
// CONNECT's reason phrase is then a bare error of any text. (A RoundTripper
// that wraps a proxied http.Transport is not seen through.)
func viaProxy(req *http.Request, next http.RoundTripper) bool {
	t, ok := next.(*http.Transport)
	if !ok || t.Proxy == nil {
		return false
	}
	u, err := t.Proxy(req)
	return err != nil || u != nil
}

// headerListTooLarge is HTTP/2's refusal of request headers larger than
// the server's advertised limit.
const headerListTooLarge = "request header list larger than peer's advertised limit"

// anyLeaf reports whether f holds for an innermost error of err's tree
// (through Unwrap() error and Unwrap() []error), looking no deeper than a
// bound.
func anyLeaf(err error, depth int, f func(error) bool) bool {
	return anyWrappedLeaf(err, depth, nil, func(_, leaf error) bool { return f(leaf) })
}

// anyWrappedLeaf is anyLeaf for an f that also looks at the error that
// wraps the leaf directly: parent is the error that wraps err (nil at the
// top, where a leaf has no wrapper).
func anyWrappedLeaf(err error, depth int, parent error, f func(parent, leaf error) bool) bool {
	if err == nil || depth > 32 {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return anyWrappedLeaf(inner, depth+1, err, f)
		}
	case interface{ Unwrap() []error }:
		if inner := u.Unwrap(); len(inner) > 0 {
			for _, e := range inner {
				if anyWrappedLeaf(e, depth+1, err, f) {
					return true
				}
			}
			return false
		}
	}
	return f(parent, err)
}

// text returns err's text, or "" when its Error method panics (a typed nil
// pointer behind a non-nil error).
func text(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	return err.Error()
}

// refusalOf reports whether e is net/http's refusal of req: its text is
// one of net/http's refusals, and req has the fault that the text names.
// A text alone proves nothing: a proxy's reason phrase to CONNECT is an
// error's whole text, and a refusal of a redirect made inside next names
// a fault of another request.
func refusalOf(req *http.Request, bad bool, e error) bool {
	msg := strings.TrimPrefix(text(e), "http2: ")
	has := func(p string) bool { return strings.HasPrefix(msg, p) }
	switch {
	case has("unsupported protocol scheme"):
		return req.URL != nil && req.URL.Scheme != "http" && req.URL.Scheme != "https"
	case has("net/http: invalid header field"), has("net/http: invalid trailer field"),
		has("net/http: invalid method"), has("http: no Host in request URL"),
		has("http: nil Request.URL"), has("http: nil Request.Header"),
		has("invalid HTTP header"), has("invalid HTTP trailer"),
		// Go 1.26's http.ClientConn, in words of its own.
		has("http: invalid header "), has("http: invalid trailer "), has("http: invalid method "):
		return bad
	case has("net/http: can't write control character in Request.URL"):
		return req.URL != nil && (strings.IndexFunc(req.URL.RequestURI(), isCTL) >= 0 ||
			strings.IndexFunc(req.URL.Host, isCTL) >= 0)
	case has("invalid Host header"), has("http: invalid Host header"):
		return req.URL != nil && !validHost(req)
	case has("invalid request :path"):
		p := ""
		if req.URL != nil {
			p = req.URL.RequestURI()
		}
		return !strings.HasPrefix(p, "/") && p != "*"
	case has("invalid Upgrade request header"), has("invalid Transfer-Encoding request header"),
		has("invalid Connection request header"):
		return badConnHeaders(req.Header)
	case has("http: Request.ContentLength="):
		// HTTP/1's words, with the request's own length; NoBody is sent.
		return req.Body == nil && req.ContentLength != 0 &&
			msg == "http: Request.ContentLength="+strconv.FormatInt(req.ContentLength, 10)+" with nil Body"
	case has("idna: "):
		return req.URL != nil && !punycodes(req)
	case has("invalid Trailer key"):
		for k := range req.Trailer {
			switch http.CanonicalHeaderKey(k) {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return true
			}
		}
		return false
	}
	return false
}

// isCTL reports whether r is a control character, which HTTP/1 does not
// write in a request's URL.
func isCTL(r rune) bool { return r < ' ' || r == 0x7f }

// validHost reports whether req's Host (or its URL's host) is one net/http
// sends.
func validHost(req *http.Request) bool {
	h := req.Host
	if h == "" {
		h = req.URL.Host
	}
	h, err := httpguts.PunycodeHostPort(h)
	return err == nil && httpguts.ValidHostHeader(h)
}

// punycodes reports whether req's Host (or its URL's host) converts to
// ASCII, as net/http converts it before it writes it.
func punycodes(req *http.Request) bool {
	h := req.Host
	if h == "" {
		h = req.URL.Host
	}
	_, err := httpguts.PunycodeHostPort(h)
	return err == nil
}

// badConnHeaders mirrors HTTP/2's refusal of connection-specific headers.
func badConnHeaders(h http.Header) bool {
	if vv := h["Upgrade"]; len(vv) > 0 && (vv[0] != "" && vv[0] != "chunked") {
		return true
	}
	if vv := h["Transfer-Encoding"]; len(vv) > 0 && (len(vv) > 1 || vv[0] != "" && vv[0] != "chunked") {
		return true
	}
	if vv := h["Connection"]; len(vv) > 0 && (len(vv) > 1 || vv[0] != "" && !asciiEqualFold(vv[0], "close") && !asciiEqualFold(vv[0], "keep-alive")) {
		return true
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only, as HTTP/2 compares.
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// httpScheme reports whether req's URL is http or https: the schemes an
// http.Transport checks requests of (it hands others to the protocol
// registered for them, unchecked).
func httpScheme(req *http.Request) bool {
	return req.URL != nil && (req.URL.Scheme == "http" || req.URL.Scheme == "https")
}

// badRequest reports whether net/http refuses req before sending it,
// whatever the protocol.
func badRequest(req *http.Request) bool {
	if req.URL == nil || req.Header == nil || req.URL.Host == "" {
		return true
	}
	if m := req.Method; m != "" && strings.IndexFunc(m, notToken) >= 0 {
		return true
	}
	return !validFields(req.Header) || !validFields(req.Trailer)
}

func notToken(r rune) bool { return !httpguts.IsTokenRune(r) }

// validFields reports whether every name and value of h is one that
// net/http sends.
func validFields(h http.Header) bool {
	for name, values := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return false
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// redactURL returns u without userinfo, query and fragment:
// scheme://host/path. Error texts and telemetry use it, so that credentials
// and tokens in URLs are not logged. The path stays: it names the resource.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := url.URL{
		Scheme:  u.Scheme,
		Host:    stripUserinfo(u.Host),
		Path:    u.Path,
		RawPath: u.RawPath,
	}
	return r.String()
}

// stripUserinfo drops a userinfo part that a hand-built URL put into Host
// (url.Parse never does).
func stripUserinfo(host string) string {
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		return host[i+1:]
	}
	return host
}

// HostKey is the default key of a request for per-key policies: its URL's
// host in lower case, without userinfo and without the scheme's default port
// (":80" for http, ":443" for https), so that "Example.com" and
// "example.com:443" are one dependency. It is "" for a request without URL.
//
// The host of an outgoing request may be chosen by a user (a webhook URL, a
// link to fetch): a per-key cache must bound the number of keys.
func HostKey(req *http.Request) string {
	if req == nil || req.URL == nil {
		return ""
	}
	host := strings.ToLower(stripUserinfo(req.URL.Host))
	switch {
	case req.URL.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = host[:len(host)-len(":80")]
	case req.URL.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = host[:len(host)-len(":443")]
	}
	return host
}
