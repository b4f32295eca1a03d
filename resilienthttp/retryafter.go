package resilienthttp

import (
	"net/http"
	"time"
)

// MaxRetryAfterDelay is the longest delay [ParseRetryAfter] returns. A
// longer request, up to any absurd number of seconds or a date in the year
// 9999, is clamped to it: longer than any sensible wait inside a request, so
// a retry policy with a lower cap reads it as "too long" (package retry then
// stops retrying), never as "retry now".
const MaxRetryAfterDelay = 24 * time.Hour

// ParseRetryAfter returns the delay that the Retry-After field of h asks for
// (RFC 9110, section 10.2.3), and whether h has a usable one.
//
//   - delay-seconds: one or more ASCII digits, with optional surrounding
//     spaces or tabs. "120" is two minutes; "0" asks for no delay. Values
//     above MaxRetryAfterDelay, however many digits, are clamped to it.
//     A sign, a decimal point ("1.5"), an exponent or any other character
//     makes the value malformed.
//   - HTTP-date, in any of the three formats of [http.ParseTime]: the delay
//     is the date minus now, clamped to [0, MaxRetryAfterDelay]. A date in
//     the past asks for no delay and gives (0, true). Dates are compared
//     with the wall clock of now (the protocol allows nothing else), so
//     clock skew between client and server shifts them; the seconds form
//     has no such problem.
//   - Several Retry-After fields (the field allows one): when all are
//     valid, the longest delay wins, the most careful reading of
//     conflicting requests; when any is malformed, the whole is.
//
// A missing, empty or malformed field gives (0, false): no hint, so a retry
// policy falls back to its own backoff. The result is never negative and
// never above MaxRetryAfterDelay.
func ParseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	values := h.Values("Retry-After")
	if len(values) == 0 {
		return 0, false
	}
	var longest time.Duration
	for _, v := range values {
		d, ok := parseRetryAfterValue(v, now)
		if !ok {
			return 0, false
		}
		longest = max(longest, d)
	}
	return longest, true
}

func parseRetryAfterValue(v string, now time.Time) (time.Duration, bool) {
	v = trimOWS(v)
	if v == "" {
		return 0, false
	}
	if d, ok, isNumber := parseDelaySeconds(v); isNumber {
		return d, ok
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	// Sub saturates instead of overflowing for dates centuries away.
	d := t.Sub(now)
	return min(max(d, 0), MaxRetryAfterDelay), true
}

// parseDelaySeconds parses v as delay-seconds. isNumber is false when v does
// not start with a digit (so it may be a date); a value that starts with a
// digit but has any non-digit is malformed: ok false.
func parseDelaySeconds(v string) (d time.Duration, ok, isNumber bool) {
	if v[0] < '0' || v[0] > '9' {
		return 0, false, false
	}
	const maxSeconds = int64(MaxRetryAfterDelay / time.Second)
	var secs int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false, true
		}
		// secs saturates just above maxSeconds, so this never overflows
		// however many digits follow; the loop still checks that they are
		// digits.
		secs = min(secs*10+int64(c-'0'), maxSeconds+1)
	}
	if secs > maxSeconds {
		return MaxRetryAfterDelay, true, true
	}
	return time.Duration(secs) * time.Second, true, true
}

// trimOWS trims the optional white space of RFC 9110: spaces and tabs only.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
