package observe

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

func TestSanitizeKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"api.example.com", "api.example.com"},
		{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check"},
		{"https://user:secret@API.Example.com:443/v1/items?token=abc#frag", "api.example.com"},
		{"http://user:secret@127.0.0.1:8080/x?q=1", "127.0.0.1:8080"},
		{"user:secret@db.internal:5432", "db.internal:5432"},
		{"db.internal/path?password=hunter2", "db.internal/path"},
		{"host#fragment", "host"},
		{"weird://", ""},
		{"tab\there\x00", "tab_here_"},
		{"bad\xffutf8", "bad_utf8"},
		{"  padded  ", "padded"},
		{strings.Repeat("a", 300), strings.Repeat("a", MaxKeyLen)},
		{strings.Repeat("é", 200), strings.Repeat("é", MaxKeyLen/2)}, // cut on a rune boundary
	} {
		if got := SanitizeKey(tc.in); got != tc.want {
			t.Errorf("SanitizeKey(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHTTPKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://API.example.com/x?y=z", "api.example.com"},
		{"https://api.example.com:443/", "api.example.com"},
		{"http://api.example.com:80/", "api.example.com"},
		{"https://api.example.com:80/", "api.example.com:80"},
		{"http://api.example.com.:8080/", "api.example.com:8080"},
		{"http://u:p@[::1]:8443/", "[::1]:8443"},
		{"http://[::1]/", "[::1]"},
		{"https://[::1]:443/", "[::1]"},
		{"/relative/path", ""},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.in, err)
		}
		if got := HTTPKey(u); got != tc.want {
			t.Errorf("HTTPKey(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := HTTPKey(nil); got != "" {
		t.Errorf("HTTPKey(nil): got %q, want empty", got)
	}
}

func TestLimiterCapsNamesAndKeys(t *testing.T) {
	l := new(limiter)
	// Keys per name.
	for i := range MaxKeysPerName {
		if _, k := l.admit("a", fmt.Sprintf("h%d", i)); k != fmt.Sprintf("h%d", i) {
			t.Fatalf("key %d under the cap: got %q", i, k)
		}
	}
	if _, k := l.admit("a", "one-too-many"); k != Overflow {
		t.Errorf("key past MaxKeysPerName: got %q, want %q", k, Overflow)
	}
	if _, k := l.admit("a", "h7"); k != "h7" {
		t.Errorf("an admitted key must stay admitted: got %q, want h7", k)
	}
	if n, k := l.admit("a", ""); n != "a" || k != "" {
		t.Errorf("unkeyed: got %q %q, want a and empty", n, k)
	}
	if _, k := l.admit("a", "?only=query"); k != Overflow {
		t.Errorf("a key that sanitizes to nothing: got %q, want %q", k, Overflow)
	}
	// Names.
	for i := 1; i < MaxNames; i++ { // "a" is already admitted
		if n, _ := l.admit(fmt.Sprintf("n%d", i), ""); n != fmt.Sprintf("n%d", i) {
			t.Fatalf("name %d under the cap: got %q", i, n)
		}
	}
	if n, k := l.admit("late-name", "late-key"); n != Overflow || k != "late-key" {
		t.Errorf("name past MaxNames: got %q %q, want %q late-key", n, k, Overflow)
	}
	if n, _ := l.admit("n5", ""); n != "n5" {
		t.Errorf("an admitted name must stay admitted: got %q", n)
	}
	// Total keys.
	l2 := new(limiter)
	admitted := 0
	for i := 0; i < 3*MaxKeys; i++ {
		if _, k := l2.admit(fmt.Sprintf("p%d", i%MaxNames), fmt.Sprintf("k%d", i)); k != Overflow {
			admitted++
		}
	}
	if admitted != MaxKeys {
		t.Errorf("total keys admitted: got %d, want %d", admitted, MaxKeys)
	}
}

// TestKeyCardinalityIsCappedThroughRecorders: a flood of distinct keys (an
// attacker choosing hosts) produces at most MaxKeysPerName+1 series.
func TestKeyCardinalityIsCappedThroughRecorders(t *testing.T) {
	freshLimiter(t)
	s := newSDK(t)
	ctx := context.Background()
	const hosts = 3 * MaxKeysPerName
	for i := range hosts {
		r := NewRecorder(KindBreaker, "per-host", s.settings(fmt.Sprintf("host-%d.example.com", i)))
		r.Done(ctx, r.Start(ctx), Failure)
	}
	pts := s.collect()[MetricCalls]
	if len(pts) != MaxKeysPerName+1 {
		t.Fatalf("series: got %d, want %d", len(pts), MaxKeysPerName+1)
	}
	var total float64
	var other float64
	for _, p := range pts {
		total += p.value
		if strings.Contains(p.attrs, "resilience.key="+Overflow) {
			other = p.value
		}
	}
	if total != hosts || other != hosts-MaxKeysPerName {
		t.Errorf("got %v calls in all and %v under %s, want %d and %d", total, other, Overflow, hosts, hosts-MaxKeysPerName)
	}
}

// TestSecretsNeverReachAttributesOrLogs: a URL with user information and a
// query, used as a policy name, as a keyed instance's key and as the
// context key of an adapter, appears in no metric attribute, span event
// attribute or log field, whatever the recorder records.
func TestSecretsNeverReachAttributesOrLogs(t *testing.T) {
	freshLimiter(t)
	const secretURL = "https://alice:s3cr3t-pw@api.example.com:8443/v1/users?api_key=t0k3n&q=private#frag"
	secrets := []string{"alice", "s3cr3t", "t0k3n", "api_key", "private", "frag", "?", "@", "/v1/users"}

	s := newSDK(t)
	ctx, end := s.span()
	ctx = ContextWithKey(ctx, secretURL)
	for _, kind := range []Kind{KindBreaker, KindBulkhead, KindRetry, KindTimeout, KindRateLimit} {
		for _, set := range []struct{ name, key string }{{secretURL, secretURL}, {"plain", secretURL}, {"unkeyed", ""}} {
			r := NewRecorder(kind, set.name, s.settings(set.key))
			st := r.Start(ctx)
			r.Done(ctx, st, Success)
			r.Done(ctx, st, Failure)
			r.Reject(ctx)
			r.TimedOut(ctx, st, time.Second)
			r.Event(ctx, "custom")
			r.RetryScheduled(ctx, 2, time.Second, ReasonRetryAfter)
			r.BudgetRejected(ctx)
			r.Waited(ctx, time.Millisecond, Success)
			r.StateChanged(ctx, StateClosed, StateOpen)
			r.ShadowRejected(ctx)
			r.Log(ctx, slog.LevelWarn, "transition")
			r.Record(ctx, Failure, time.Second)
			r.BudgetTransition(ctx, true)
			r.ObserveState(func() BreakerState { return StateOpen })
			r.ObserveLoad(func() int64 { return 1 }, func() int64 { return 1 })
		}
	}

	var seen []string
	for name, pts := range s.collect() {
		for _, p := range pts {
			seen = append(seen, name+" "+p.attrs)
		}
	}
	events := end()
	for _, e := range events {
		seen = append(seen, eventString(e))
	}
	logs := s.logs.all()
	seen = append(seen, logs...)
	if len(events) == 0 || len(logs) == 0 || len(seen) < 50 {
		t.Fatalf("the test recorded too little to prove anything: %d events, %d logs, %d lines", len(events), len(logs), len(seen))
	}
	for _, line := range seen {
		// The log message and attribute names are ours; check the values.
		for _, secret := range secrets {
			if strings.Contains(valuesOf(line), secret) {
				t.Errorf("%q leaked into %q", secret, line)
			}
		}
	}
	if !strings.Contains(strings.Join(seen, "\n"), "resilience.key=api.example.com:8443") {
		t.Errorf("the sanitized host is missing from what was recorded")
	}
}

// valuesOf drops the keys of "k=v" pairs (and the event or metric name)
// from a rendered line, keeping the values.
func valuesOf(line string) string {
	var vals []string
	for _, f := range strings.Fields(line) {
		if _, v, ok := strings.Cut(f, "="); ok {
			vals = append(vals, v)
		}
	}
	return strings.Join(vals, " ")
}

func TestOverflowNameStillRecords(t *testing.T) {
	freshLimiter(t)
	for i := range MaxNames {
		defaultLimiter.admit(fmt.Sprintf("filler-%d", i), "")
	}
	s := newSDK(t)
	r := NewRecorder(KindTimeout, "one-name-too-many", s.settings(""))
	r.Done(context.Background(), r.Start(context.Background()), Success)
	pts := s.collect()[MetricCalls]
	want := attrString(attribute.NewSet(
		attribute.String(AttrKind, "timeout"), attribute.String(AttrName, Overflow), attribute.String(AttrOutcome, "success")))
	if len(pts) != 1 || pts[0].attrs != want {
		t.Errorf("got %v, want one %q", pts, want)
	}
}
