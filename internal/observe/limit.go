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
	names map[string]*admitted // by admitted name
	keys  int
}

// admitted is one admitted name and its admitted keys. The strings are
// copies made on admission: a name or key cut out of a larger string (a
// host out of a URL) must not keep that string alive for the process's life.
type admitted struct {
	name string
	keys map[string]string // a key → its copy
}

// defaultLimiter serves every recorder in the process.
var defaultLimiter = new(limiter)

// admit returns the attribute values to use for a policy name and key:
// sanitized, then replaced by Overflow when past a bound. An empty key stays
// empty (the policy is not keyed).
func (l *limiter) admit(name, key string) (string, string) {
	name = clean(SanitizeKey(name), MaxNameLen)
	if key != "" {
		key = SanitizeKey(key)
		if key == "" {
			key = Overflow // only unprintable or secret parts: never leave a keyed policy unkeyed
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = make(map[string]*admitted)
	}
	a, ok := l.names[name]
	if !ok {
		if len(l.names) >= MaxNames {
			name = Overflow
			a = l.names[name]
		}
		if a == nil {
			a = &admitted{name: strings.Clone(name), keys: make(map[string]string)}
			l.names[a.name] = a
		}
	}
	if key == "" {
		return a.name, ""
	}
	if k, ok := a.keys[key]; ok {
		return a.name, k
	}
	if len(a.keys) >= MaxKeysPerName || l.keys >= MaxKeys {
		return a.name, Overflow
	}
	k := strings.Clone(key)
	a.keys[k] = k
	l.keys++
	return a.name, k
}

// StoredKey is [SanitizeKey] for a key that a policy keeps for its life
// (for its status): a copy, so that it does not keep alive the larger
// string it may have been cut from.
func StoredKey(s string) string { return strings.Clone(SanitizeKey(s)) }

// SanitizeKey returns s reduced to what may appear in an attribute, a log
// field or a status page: user information (anything up to the last '@'
// before the first '/' after the scheme, if any) is cut first, since a
// password may hold any character; a URL becomes its host (see [HTTPKey]);
// anything from a '?' or '#' on (a query or fragment) is cut; anything up to
// a remaining '@' is cut; control characters and invalid UTF-8 become '_';
// the result is trimmed and truncated to [MaxKeyLen] bytes. Policy names go
// through it too. Its time is linear in len(s).
//
// A gRPC method such as "/pkg.Service/Method" passes unchanged.
func SanitizeKey(s string) string {
	s = cutUserinfo(s)
	// Every scheme separator goes, so that the result has none left and
	// sanitizing it again changes nothing ("://://" once left "://"). A
	// few parses at most: one per separator would be quadratic.
	for tries := 0; ; tries++ {
		i := strings.Index(s, "://")
		if i < 0 {
			break
		}
		if tries == 3 {
			s = s[strings.LastIndex(s, "://")+len("://"):]
			break
		}
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

// cutUserinfo removes the user information of s: what lies up to the last
// '@' of its authority, which runs from after the first "://" (or from the
// start) to the next '/'. It looks no further than '/': an '@' in a path or
// a query ("?email=a@b") is not user information.
func cutUserinfo(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(s)
	if j := strings.IndexByte(s[start:], '/'); j >= 0 {
		end = start + j
	}
	if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
		return s[:start] + s[start+at+1:]
	}
	return s
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
