package resilienthttp

import (
	"errors"
	"net"
	"net/http"
	"net/url"
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
//   - net/http's own refusal: an innermost error of err (a leaf of its tree:
//     wrappers, joins) begins with one of the texts with which net/http
//     refuses a request, for HTTP/1 or HTTP/2 ("unsupported protocol
//     scheme", an invalid header field, a control character in the URL, an
//     invalid :path …; a scheme registered with RegisterProtocol is served,
//     and its failures are the host's). Only innermost errors count, and only
//     their beginning: net/http quotes a server's own bytes inside its
//     errors about a response. When the error passed through an
//     [http.Client] inside next (a [*url.Error]), the refused request may be
//     one the client made, a redirect to a bad URL, which is the host's
//     doing: the refusal then counts only when the innermost *url.Error names
//     req's URL, or req itself is one net/http refuses;
//   - or next is an [http.Transport] and req is one it refuses whatever the
//     protocol (no URL or header, no host, a method that is not a token, a
//     header or trailer field that is not valid; another RoundTripper, a
//     unix socket's say, may accept such a request, and its failures are
//     then the host's).
//
// Such a request says nothing about the host: its error must not count
// against the host's breaker, nor be retried. It is asked only when an
// attempt failed, so that a request that succeeds pays nothing for it.
func refused(req *http.Request, next http.RoundTripper, err error) bool {
	bad := badRequest(req)
	if _, ok := next.(*http.Transport); ok && bad {
		return true
	}
	if !anyLeaf(err, 0, isRefusal) {
		return false
	}
	var inner *url.Error
	for e := err; ; {
		var ue *url.Error
		if !errors.As(e, &ue) || ue.Err == nil {
			break
		}
		inner, e = ue, ue.Err
	}
	return inner == nil || bad || sameTarget(inner.URL, req.URL)
}

// anyLeaf reports whether f holds for an innermost error of err's tree
// (through Unwrap() error and Unwrap() []error), looking no deeper than a
// bound.
func anyLeaf(err error, depth int, f func(error) bool) bool {
	if err == nil || depth > 32 {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return anyLeaf(inner, depth+1, f)
		}
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			if anyLeaf(inner, depth+1, f) {
				return true
			}
		}
		return false
	}
	return f(err)
}

// isRefusal reports whether err's text begins with one of net/http's
// refusals (with or without HTTP/2's "http2: ").
func isRefusal(err error) bool {
	msg := strings.TrimPrefix(err.Error(), "http2: ")
	for _, s := range refusals {
		if strings.HasPrefix(msg, s) {
			return true
		}
	}
	return false
}

// sameTarget reports whether raw, the URL of an [*url.Error], names the
// resource u names (userinfo, query and fragment aside: a client strips the
// password from it).
func sameTarget(raw string, u *url.URL) bool {
	p, err := url.Parse(raw)
	return err == nil && u != nil && redactURL(p) == redactURL(u)
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

// refusals are the beginnings of the errors with which net/http refuses a
// request before sending anything: its own for every protocol, HTTP/1's
// (control characters in the URL, which HTTP/2 sends), and HTTP/2's about
// the request's headers (those of net/http's bundled HTTP/2 and of
// golang.org/x/net/http2, after their "http2: ").
var refusals = [...]string{
	"unsupported protocol scheme",
	"net/http: invalid header field",
	"net/http: invalid trailer field",
	"net/http: invalid method",
	"net/http: can't write control character in Request.URL",
	"http: no Host in request URL",
	"http: nil Request.URL",
	"http: nil Request.Header",
	"invalid Host header",
	"invalid request :path",
	"invalid HTTP header",
	"invalid HTTP trailer",
	"invalid Upgrade request header",
	"invalid Transfer-Encoding request header",
	"invalid Connection request header",
	"request header list larger than peer's advertised limit",
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
