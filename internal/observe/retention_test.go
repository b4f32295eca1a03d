package observe

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cascadeguard/resilience/telemetry"
)

// TestNamesTruncatedToMaxNameLen: a policy name longer than MaxNameLen
// reaches attributes cut to MaxNameLen bytes, as documented.
func TestNamesTruncatedToMaxNameLen(t *testing.T) {
	freshLimiter(t)
	s := newSDK(t)
	r := NewRecorder(KindBreaker, strings.Repeat("n", 200), s.settings(""))
	r.Done(context.Background(), r.Start(context.Background()), Failure)
	found := false
	for _, p := range s.collect()[MetricCalls] {
		for _, f := range strings.Fields(p.attrs) {
			if v, ok := strings.CutPrefix(f, AttrName+"="); ok {
				found = true
				if len(v) != MaxNameLen {
					t.Errorf("%s has %d bytes, want %d", AttrName, len(v), MaxNameLen)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no %s attribute recorded", AttrName)
	}
}

// TestSanitizeKeyCutsPasswordsWithQueryCharacters: user information goes
// first, so a password holding '?' or '#' does not survive as the part
// before a "query".
func TestSanitizeKeyCutsPasswordsWithQueryCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"alice:pa?ss@db.internal":               "db.internal",
		"alice:s3#cret@db.internal:5432":        "db.internal:5432",
		"https://alice:pa?ss@db.internal/":      "db.internal",
		"https://alice:s3#cret@db.internal/x":   "db.internal",
		"https://h.example/p?email=a@b.example": "h.example",
		"h.example/p?email=a@b.example":         "h.example/p",
	} {
		if got := SanitizeKey(in); got != want {
			t.Errorf("SanitizeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSanitizeKeyIsLinear: a key with many scheme separators costs time in
// proportion to its length (it took seconds at 80 kB when every separator
// cost a parse of the rest).
func TestSanitizeKeyIsLinear(t *testing.T) {
	short, long := strings.Repeat("a:///", 1000), strings.Repeat("a:///", 16000)
	cost := func(s string) time.Duration {
		best := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			SanitizeKey(s)
			best = min(best, time.Since(start))
		}
		return best
	}
	cs, cl := cost(short), cost(long)
	// 16 times the input: linear is ~16 times the time, quadratic ~256.
	if cl > 64*max(cs, time.Microsecond) {
		t.Errorf("SanitizeKey: %v for %d bytes, %v for %d bytes: worse than linear", cs, len(short), cl, len(long))
	}
}

// TestLimiterKeepsCopies: admitted names and keys are copies, so a key cut
// out of a large string (a host out of a URL with a huge query) does not
// keep that string alive for the process's life.
func TestLimiterKeepsCopies(t *testing.T) {
	freshLimiter(t)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range 20 {
		big := "host" + string(rune('a'+i)) + ".example.com?q=" + strings.Repeat("x", 1<<20)
		defaultLimiter.admit("shared-retry", big)
	}
	if grown := int64(heap()) - int64(before); grown > 4<<20 {
		t.Errorf("20 admitted keys of at most %d bytes hold %d MiB of heap", MaxKeyLen, grown>>20)
	}
}

// TestDroppedCallInstrumentsKeepTheOthers: with an explicit provider whose
// Views drop resilience.calls and resilience.call.duration, a retry's own
// instruments still record.
func TestDroppedCallInstrumentsKeepTheOthers(t *testing.T) {
	freshLimiter(t)
	reader := sdkmetric.NewManualReader()
	drop := func(n string) sdkmetric.View {
		return sdkmetric.NewView(sdkmetric.Instrument{Name: n}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(drop(MetricCalls), drop(MetricCallDuration)))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r := NewRecorder(KindRetry, "dropped-calls", telemetry.Settings{MeterProvider: mp})
	for range 5 {
		r.RetryScheduled(context.Background(), 2, time.Millisecond, ReasonError)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == MetricRetryAttempts {
				return
			}
		}
	}
	t.Errorf("%s not recorded after 5 retries", MetricRetryAttempts)
}
