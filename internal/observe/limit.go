package observe

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Bounds on the values that reach attributes, process-wide. They bound the
// number of metric series whatever names and keys an application (or an
// attacker choosing hosts) produces. Values past a bound are reported as
// [Overflow].
const (
	MaxNames       = 200  // distinct policy names
	MaxKeysPerName = 100  // distinct keys under one policy name
	MaxKeys        = 2000 // distinct keys in all
	MaxNameLen     = 100  // bytes; longer names are truncated
	MaxKeyLen      = 255  // bytes; longer keys are truncated
)

// Overflow is the attribute value that stands for every name or key past a
// bound.
const Overflow = "_other"

// limiter admits policy names and keys first come, first served, up to the
// bounds above. Admitted values are remembered for the life of the process,
// so a value keeps its own series even after the policy that used it is
// gone; the memory this takes is bounded by the same limits.
type limiter struct {
	mu    sync.Mutex
	names map[string]map[string]struct{} // admitted name → its admitted keys
	keys  int
}

// defaultLimiter serves every recorder in the process.
var defaultLimiter = new(limiter)

// admit returns the attribute values to use for a policy name and key:
// sanitized, then replaced by Overflow when past a bound. An empty key stays
// empty (the policy is not keyed).
func (l *limiter) admit(name, key string) (string, string) {
	name = SanitizeKey(name)
	if key != "" {
		key = SanitizeKey(key)
		if key == "" {
			key = Overflow // only unprintable or secret parts: never leave a keyed policy unkeyed
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = make(map[string]map[string]struct{})
	}
	keys, ok := l.names[name]
	if !ok {
		if len(l.names) >= MaxNames {
			name = Overflow
			keys = l.names[name]
		}
		if keys == nil {
			keys = make(map[string]struct{})
			l.names[name] = keys
		}
	}
	if key == "" {
		return name, ""
	}
	if _, ok := keys[key]; ok {
		return name, key
	}
	if len(keys) >= MaxKeysPerName || l.keys >= MaxKeys {
		return name, Overflow
	}
	keys[key] = struct{}{}
	l.keys++
	return name, key
}

// SanitizeKey returns s reduced to what may appear in an attribute, a log
// field or a status page: a URL becomes its host (see [HTTPKey]); anything
// from a '?' or '#' on (a query or fragment) is cut; anything up to the last
// '@' (user information) is cut; control characters and invalid UTF-8
// become '_'; the result is trimmed and truncated to [MaxKeyLen] bytes.
// Policy names go through it too.
//
// A gRPC method such as "/pkg.Service/Method" passes unchanged.
func SanitizeKey(s string) string {
	// Every scheme separator goes, so that the result has none left and
	// sanitizing it again changes nothing ("://://" once left "://").
	for i := strings.Index(s, "://"); i >= 0; i = strings.Index(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			return clean(HTTPKey(u), MaxKeyLen)
		}
		s = s[i+len("://"):]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return clean(s, MaxKeyLen)
}

// clean replaces control characters and invalid UTF-8 with '_', trims
// spaces and truncates to max bytes on a rune boundary.
func clean(s string, max int) string {
	ok := len(s) <= max
	for _, r := range s {
		if !ok {
			break
		}
		ok = r != utf8.RuneError && !unicode.IsControl(r)
	}
	if !ok {
		var b strings.Builder
		for _, r := range s {
			if r == utf8.RuneError || unicode.IsControl(r) {
				r = '_'
			}
			if b.Len()+utf8.RuneLen(r) > max {
				break
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	return strings.TrimSpace(s)
}

// HTTPKey returns the key for requests to u: its host name in lower case,
// without a trailing dot, with the port only when it is not the scheme's
// default ("api.example.com", "127.0.0.1:8080", "[::1]:8443", "[::1]"). User
// information, path, query and fragment never appear. It returns "" for a
// nil URL or one without a host. The HTTP adapter keys its per-host policies
// with it so that keys and the resilience.key attribute agree.
func HTTPKey(u *url.URL) string {
	if u == nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return ""
	}
	port := u.Port()
	switch {
	case port == "",
		port == "80" && strings.EqualFold(u.Scheme, "http"),
		port == "443" && strings.EqualFold(u.Scheme, "https"):
		if strings.Contains(host, ":") {
			return "[" + host + "]" // an IPv6 address, bracketed as in a URL
		}
		return host
	}
	return net.JoinHostPort(host, port)
}
