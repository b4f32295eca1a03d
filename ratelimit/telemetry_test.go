package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/telemetry"
)

// telKey is the instance key every telemetry test gives its limiter.
const telKey = "inventory.example.com:8443"

// timeoutError reports Timeout() true, as a net.Error deadline does.
type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

// series returns the attributes of the "inventory" limiter's series, with
// the outcome when it is not empty.
func series(outcome string) map[string]string {
	m := map[string]string{observe.AttrKind: "ratelimit", observe.AttrName: "inventory", observe.AttrKey: telKey}
	if outcome != "" {
		m[observe.AttrOutcome] = outcome
	}
	return m
}

// checkPoint fails the test unless metric has a point with the attributes
// want and the unit, counting n (a counter's value, a histogram's count),
// and returns it.
func checkPoint(t *testing.T, got map[string][]observetest.Point, metric string, want map[string]string, n uint64, unit string) observetest.Point {
	t.Helper()
	p, ok := observetest.Find(got[metric], want)
	if !ok {
		t.Errorf("%s%v: no point; got %+v", metric, want, got[metric])
		return p
	}
	count := p.Count
	if unit != "s" {
		count = uint64(p.Value)
	}
	if count != n || p.Unit != unit {
		t.Errorf("%s%v: got %d, unit %q; want %d, unit %q", metric, want, count, p.Unit, n, unit)
	}
	return p
}

// Each outcome of a call that reaches the limiter is one point of
// resilience.calls and resilience.call.duration with the documented
// attributes; a rejection adds the resilience.ratelimit.rejected span
// event and no wait; nothing is logged. Not in a synctest bubble:
// Recorder.Start's clock stamp is relative to the process's start, before a
// bubble's fake clock, so a bubble loses durations measured with Start and
// Done.
func TestTelemetryCallsByOutcome(t *testing.T) {
	errBoom := errors.New("boom")
	ok := func(context.Context, context.CancelFunc) error { return nil }
	tests := []struct {
		name    string
		cfg     ratelimit.Config
		op      func(ctx context.Context, cancel context.CancelFunc) error
		want    string
		wantErr error
	}{
		{"success", ratelimit.Config{Rate: 10}, ok, "success", nil},
		{"unlimited", ratelimit.Config{Rate: rate.Inf}, ok, "success", nil},
		{"failure", ratelimit.Config{Rate: 10}, func(context.Context, context.CancelFunc) error { return errBoom }, "failure", errBoom},
		{"timeout", ratelimit.Config{Rate: 10}, func(context.Context, context.CancelFunc) error { return timeoutError{} }, "timeout", timeoutError{}},
		{"client error", ratelimit.Config{Rate: 10}, func(context.Context, context.CancelFunc) error {
			return resilience.MarkNeutral(errBoom)
		}, "neutral", errBoom},
		{"caller cancelled during op", ratelimit.Config{Rate: 10}, func(ctx context.Context, cancel context.CancelFunc) error {
			cancel()
			return ctx.Err()
		}, "neutral", context.Canceled},
		{"rejected at once", ratelimit.Config{Rate: rate.Every(time.Hour), Burst: 1}, ok, "rejected", ratelimit.ErrLimited},
		{"rejected after reserving", ratelimit.Config{Rate: rate.Every(time.Hour), Burst: 1, MaxWait: time.Minute},
			ok, "rejected", ratelimit.ErrLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdk := observetest.New(t)
			cfg := tt.cfg
			cfg.Name, cfg.Telemetry = "inventory", sdk.Settings(telKey)
			l := mustNew(t, cfg)
			rejects := tt.want == "rejected"
			if rejects {
				_ = l.Do(context.Background(), func(context.Context) error { return nil }) // take the one token
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx, end := sdk.Span(ctx)
			start := time.Now()
			err := l.Do(ctx, func(ctx context.Context) error { return tt.op(ctx, cancel) })
			took := time.Since(start).Seconds()
			events := end()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Do: got %v, want %v", err, tt.wantErr)
			}

			got := sdk.Collect(t)
			checkPoint(t, got, observe.MetricCalls, series(tt.want), 1, "{call}")
			d := checkPoint(t, got, observe.MetricCallDuration, series(tt.want), 1, "s")
			if rejects {
				if len(events) != 1 || events[0].Name != observe.EventRateLimitRejected {
					t.Fatalf("events: got %+v, want one %s", events, observe.EventRateLimitRejected)
				}
				for k, v := range series("") {
					if got := events[0].Attrs[k]; got != v {
						t.Errorf("event attribute %s: got %q, want %q", k, got, v)
					}
				}
				if d.Value != 0 {
					t.Errorf("call duration: got %vs, want 0 (refused at once)", d.Value)
				}
			} else {
				if len(events) != 0 {
					t.Errorf("events: got %+v, want none", events)
				}
				if d.Value <= 0 || d.Value > took {
					t.Errorf("call duration: got %vs, want in (0, %v]", d.Value, took)
				}
			}
			if pts := got[observe.MetricWaitDuration]; len(pts) != 0 {
				t.Errorf("wait: got %+v, want no point (no call waited)", pts)
			}
			if logs := sdk.Logs(); len(logs) != 0 {
				t.Errorf("logs: got %q, want none", logs)
			}
		})
	}
}

// A call that waits for its token records the wait: success when it got
// the token, neutral when the caller gave up. The call is recorded once,
// with the matching outcome.
func TestTelemetryWaits(t *testing.T) {
	tests := []struct {
		name        string
		cancelAfter time.Duration // the caller gives up then; 0 never
		wantErr     error
		wantOutcome string
		wantWait    float64
	}{
		{"admitted", 0, nil, "success", 0.1},
		{"caller cancelled", 30 * time.Millisecond, context.Canceled, "neutral", 0.03},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				l := mustNew(t, ratelimit.Config{Name: "inventory", Rate: 10, Burst: 1, MaxWait: time.Second,
					Telemetry: sdk.Settings(telKey)})
				if err := l.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
					t.Fatalf("first call: %v", err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tt.cancelAfter > 0 {
					time.AfterFunc(tt.cancelAfter, cancel)
				}
				ctx, end := sdk.Span(ctx)
				err := l.Do(ctx, func(context.Context) error { return nil })
				events := end()
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Do: got %v, want %v", err, tt.wantErr)
				}

				got := sdk.Collect(t)
				w := checkPoint(t, got, observe.MetricWaitDuration, series(tt.wantOutcome), 1, "s")
				if math.Abs(w.Value-tt.wantWait) > 1e-9 {
					t.Errorf("wait: got %vs, want %vs", w.Value, tt.wantWait)
				}
				if len(got[observe.MetricWaitDuration]) != 1 {
					t.Errorf("wait: got %+v, want one point", got[observe.MetricWaitDuration])
				}
				if tt.wantOutcome == "success" {
					checkPoint(t, got, observe.MetricCalls, series("success"), 2, "{call}")
				} else {
					checkPoint(t, got, observe.MetricCalls, series("success"), 1, "{call}")
					checkPoint(t, got, observe.MetricCalls, series(tt.wantOutcome), 1, "{call}")
					// Recorded from the measured wait, so a bubble keeps it.
					d := checkPoint(t, got, observe.MetricCallDuration, series(tt.wantOutcome), 1, "s")
					if math.Abs(d.Value-tt.wantWait) > 1e-9 {
						t.Errorf("call duration: got %vs, want %vs", d.Value, tt.wantWait)
					}
				}
				if len(events) != 0 {
					t.Errorf("events: got %+v, want none", events)
				}
			})
		})
	}
}

// Outside a bubble: the wait of a call admitted after waiting is part of
// its call duration.
func TestTelemetryWaitIsPartOfCallDuration(t *testing.T) {
	sdk := observetest.New(t)
	l := mustNew(t, ratelimit.Config{Name: "inventory", Rate: 1000, Burst: 1, MaxWait: time.Second,
		Telemetry: sdk.Settings(telKey)})
	for range 2 {
		if err := l.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	got := sdk.Collect(t)
	w := checkPoint(t, got, observe.MetricWaitDuration, series("success"), 1, "s")
	d := checkPoint(t, got, observe.MetricCallDuration, series("success"), 2, "s")
	if w.Value <= 0 || d.Value < w.Value {
		t.Errorf("wait %vs, calls' total duration %vs: want a positive wait and the total at least that", w.Value, d.Value)
	}
}

// With Telemetry.Disabled nothing reaches the SDK.
func TestTelemetryDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		s := sdk.Settings(telKey)
		s.Disabled = true
		l := mustNew(t, ratelimit.Config{Name: "inventory", Rate: 10, Burst: 1, MaxWait: 50 * time.Millisecond, Telemetry: s})
		ctx, end := sdk.Span(context.Background())
		for range 3 { // admitted, waited, rejected
			_ = l.Do(ctx, func(context.Context) error { return errors.New("boom") })
		}
		if events := end(); len(events) != 0 {
			t.Errorf("events: got %+v, want none", events)
		}
		if got := sdk.Collect(t); len(got) != 0 {
			t.Errorf("metrics: got %v, want none", got)
		}
		if logs := sdk.Logs(); len(logs) != 0 {
			t.Errorf("logs: got %q, want none", logs)
		}
	})
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name  string
		cfg   ratelimit.Config
		calls int
		want  telemetry.Status
	}{
		{"defaults", ratelimit.Config{Rate: 10}, 0, telemetry.Status{Kind: "ratelimit", Name: "ratelimit",
			RateLimit: &telemetry.RateLimitStatus{Limit: 10, Burst: 10, Tokens: 10}}},
		{"tokens taken", ratelimit.Config{Name: "inventory", Rate: 0.5, Burst: 4,
			Telemetry: telemetry.Settings{Key: "https://user:pw@API.example.com/v1?token=secret"}}, 3,
			telemetry.Status{Kind: "ratelimit", Name: "inventory", Key: "api.example.com",
				RateLimit: &telemetry.RateLimitStatus{Limit: 0.5, Burst: 4, Tokens: 1}}},
		// JSON has no infinity: an unlimited limiter clamps both.
		{"unlimited", ratelimit.Config{Name: "open", Rate: rate.Inf}, 3, telemetry.Status{Kind: "ratelimit", Name: "open",
			RateLimit: &telemetry.RateLimitStatus{Limit: math.MaxFloat64, Burst: math.MaxInt32, Tokens: math.MaxFloat64}}},
		{"disabled telemetry still reports", ratelimit.Config{Name: "x", Rate: 1,
			Telemetry: telemetry.Settings{Disabled: true, Key: "k"}}, 1,
			telemetry.Status{Kind: "ratelimit", Name: "x", Key: "k",
				RateLimit: &telemetry.RateLimitStatus{Limit: 1, Burst: 1, Tokens: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustNew(t, tt.cfg)
				for range tt.calls {
					if err := l.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
						t.Fatalf("Do: %v", err)
					}
				}
				got := l.Status()
				if got.Kind != tt.want.Kind || got.Name != tt.want.Name || got.Key != tt.want.Key ||
					got.RateLimit == nil || *got.RateLimit != *tt.want.RateLimit {
					t.Errorf("got %+v %+v, want %+v %+v", got, got.RateLimit, tt.want, tt.want.RateLimit)
				}
				if _, err := json.Marshal(got); err != nil {
					t.Errorf("json.Marshal: %v", err)
				}
			})
		})
	}
}

// The status handler serves an unlimited limiter (rate.Inf) with 200 and
// valid JSON, which has no infinity.
func TestStatusHandlerUnlimited(t *testing.T) {
	var reg telemetry.Registry
	for _, cfg := range []ratelimit.Config{{Name: "open", Rate: rate.Inf}, {Name: "tight", Rate: 2, Burst: 3}} {
		if err := reg.Register(cfg.Name, mustNew(t, cfg)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(telemetry.StatusHandler(&reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	var doc struct {
		Policies []telemetry.Entry `json:"policies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(doc.Policies) != 2 {
		t.Fatalf("got %+v, want two policies", doc)
	}
	open, tight := doc.Policies[0].Status.RateLimit, doc.Policies[1].Status.RateLimit
	if open == nil || open.Limit != math.MaxFloat64 || open.Tokens != math.MaxFloat64 {
		t.Errorf("unlimited: got %+v, want Limit and Tokens math.MaxFloat64", open)
	}
	if tight == nil || tight.Limit != 2 || tight.Burst != 3 || tight.Tokens > 3 || tight.Tokens < 2.9 {
		t.Errorf("tight: got %+v, want limit 2, burst 3, about 3 tokens", tight)
	}
}

// Telemetry adds no allocation to the paths that must not allocate: a call
// that finds a token and a call refused at once, with the default settings
// (global provider, no SDK) and with telemetry disabled.
func TestTelemetryAddsNoAllocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		tel  telemetry.Settings
	}{
		{"global", telemetry.Settings{Key: telKey}},
		{"disabled", telemetry.Settings{Disabled: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			op := func(context.Context) error { return nil }
			l := mustNew(t, ratelimit.Config{Rate: 1e12, Burst: 1 << 30, Telemetry: tc.tel})
			if n := testing.AllocsPerRun(100, func() { _ = l.Do(ctx, op) }); n != 0 {
				t.Errorf("admitted call: %v allocs/op, want 0", n)
			}
			l = mustNew(t, ratelimit.Config{Rate: rate.Every(time.Hour), Burst: 1, Telemetry: tc.tel})
			_ = l.Do(ctx, op)
			if n := testing.AllocsPerRun(100, func() { _ = l.Do(ctx, op) }); n != 0 {
				t.Errorf("rejected call: %v allocs/op, want 0", n)
			}
		})
	}
}
