package resilienthttp_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilienthttp"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	const max = resilienthttp.MaxRetryAfterDelay
	tests := []struct {
		name   string
		values []string // nil: no field
		want   time.Duration
		ok     bool
	}{
		{"absent", nil, 0, false},
		{"empty", []string{""}, 0, false},
		{"spaces only", []string{"  "}, 0, false},
		{"seconds", []string{"120"}, 120 * time.Second, true},
		{"zero", []string{"0"}, 0, true},
		{"leading zeros", []string{"007"}, 7 * time.Second, true},
		{"surrounding spaces and tabs", []string{" \t5\t "}, 5 * time.Second, true},
		{"negative", []string{"-5"}, 0, false},
		{"plus sign", []string{"+5"}, 0, false},
		{"decimal", []string{"1.5"}, 0, false},
		{"exponent", []string{"1e3"}, 0, false},
		{"trailing garbage", []string{"5s"}, 0, false},
		{"inner space", []string{"1 0"}, 0, false},
		{"hex", []string{"0x10"}, 0, false},
		{"unicode digits", []string{"５"}, 0, false},
		{"non-breaking space", []string{"\u00a05"}, 0, false},
		{"just below the clamp", []string{strconv.Itoa(int(max/time.Second) - 1)}, max - time.Second, true},
		{"the clamp", []string{strconv.Itoa(int(max / time.Second))}, max, true},
		{"above the clamp", []string{strconv.Itoa(int(max/time.Second) + 1)}, max, true},
		{"int64 max seconds", []string{"9223372036854775807"}, max, true},
		{"beyond int64", []string{"9223372036854775808"}, max, true},
		{"a hundred digits", []string{strings.Repeat("9", 100)}, max, true},
		{"digits then garbage far out", []string{strings.Repeat("9", 100) + "x"}, 0, false},
		{"date in 90 seconds", []string{date(90 * time.Second)}, 90 * time.Second, true},
		{"date now", []string{date(0)}, 0, true},
		{"date in the past", []string{date(-time.Hour)}, 0, true},
		{"date far in the past", []string{"Mon, 01 Jan 0001 00:00:00 GMT"}, 0, true},
		{"date beyond the clamp", []string{date(48 * time.Hour)}, max, true},
		{"date in the year 9999", []string{"Fri, 31 Dec 9999 23:59:59 GMT"}, max, true},
		{"RFC 850 date", []string{now.Add(time.Minute).Format(time.RFC850)}, time.Minute, true},
		{"asctime date", []string{now.Add(time.Minute).Format(time.ANSIC)}, time.Minute, true},
		{"date with a zone other than GMT", []string{now.Add(time.Minute).Format(time.RFC1123Z)}, 0, false},
		{"malformed date", []string{"Sun, 99 Nov 1994 08:49:37 GMT"}, 0, false},
		{"repeated, equal", []string{"5", "5"}, 5 * time.Second, true},
		{"repeated, the longest wins", []string{"5", "60", date(10 * time.Second)}, 60 * time.Second, true},
		{"repeated, one malformed", []string{"5", "soon"}, 0, false},
		{"repeated, one negative", []string{"-1", "5"}, 0, false},
		{"comma-joined", []string{"5, 60"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Retry-After", v)
			}
			got, ok := resilienthttp.ParseRetryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.values, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "1.5", "99999999999999999999999",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Fri, 31 Dec 9999 23:59:59 GMT", " 7 "} {
		f.Add(s, "", int64(1772366400))
	}
	f.Add("5", "60", int64(0))
	f.Fuzz(func(t *testing.T, v1, v2 string, nowUnix int64) {
		h := http.Header{"Retry-After": {v1}}
		if v2 != "" {
			h.Add("Retry-After", v2)
		}
		now := time.Unix(nowUnix, 0)
		d, ok := resilienthttp.ParseRetryAfter(h, now)
		if !ok && d != 0 {
			t.Fatalf("%q: got %v with ok false, want 0", h["Retry-After"], d)
		}
		if d < 0 || d > resilienthttp.MaxRetryAfterDelay {
			t.Fatalf("%q: got %v, outside [0, %v]", h["Retry-After"], d, resilienthttp.MaxRetryAfterDelay)
		}
		// A plain number of seconds is read exactly, up to the clamp.
		if v2 == "" && v1 != "" && strings.Trim(v1, "0123456789") == "" {
			want := resilienthttp.MaxRetryAfterDelay
			if n, err := strconv.ParseInt(v1, 10, 64); err == nil && n < int64(want/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if !ok || d != want {
				t.Fatalf("%q: got %v, %v; want %v, true", v1, d, ok, want)
			}
		}
		// Adding a second value never shortens the delay.
		if v2 != "" && ok {
			d1, ok1 := resilienthttp.ParseRetryAfter(http.Header{"Retry-After": {v1}}, now)
			if !ok1 || d < d1 {
				t.Fatalf("%q: got %v, but %q alone gives %v, %v", h["Retry-After"], d, v1, d1, ok1)
			}
		}
	})
}

// TestStatusErrorRetryAfter: the policy finds the server's Retry-After on
// the op's error through resilience.RetryAfter.
func TestStatusErrorRetryAfter(t *testing.T) {
	srv := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(503)
	})
	rec := &recorder{}
	tr := resilienthttp.NewTransport(newHTTPTransport(t), resilience.Chain(retryN(2), rec))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	errs := rec.errors()
	if d, ok := resilience.RetryAfter(errs[0]); d != 7*time.Second || !ok {
		t.Errorf("first attempt: RetryAfter = %v, %v; want 7s, true", d, ok)
	}
	if d, ok := resilience.RetryAfter(errs[1]); d != 0 || ok {
		t.Errorf("second attempt: RetryAfter = %v, %v; want 0, false", d, ok)
	}
	var se *resilienthttp.StatusError
	if !errors.As(errs[0], &se) || se.Response.Header.Get("Retry-After") != "7" {
		t.Errorf("op error %v does not carry the response", errs[0])
	}
}
