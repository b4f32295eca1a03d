package retry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// telKey is the instance key every telemetry test gives its policy.
const telKey = "inventory.example.com:8443"

// timeoutError reports Timeout() true, as a net.Error deadline does.
type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

// series returns the attributes of the "inventory" policy's series, plus
// the extra pairs (key, value, key, value …).
func series(extra ...string) map[string]string {
	m := map[string]string{observe.AttrKind: "retry", observe.AttrName: "inventory", observe.AttrKey: telKey}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
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

// Each retry scheduled is one resilience.retry.attempts with its reason,
// its delay in resilience.retry.delay, and a resilience.retry.scheduled
// event on the caller's span with the attempt about to run, the delay and
// the reason.
func TestTelemetryRetryScheduled(t *testing.T) {
	perAttempt := fmt.Errorf("attempt: %w", context.DeadlineExceeded)
	tests := []struct {
		name       string
		err        error // the error of the first two attempts
		wantReason string
		wantDelays []float64 // the delay of each retry, in seconds
	}{
		// Backoff without jitter: 10ms, then 20ms.
		{"error", errUnavailable, "error", []float64{0.01, 0.02}},
		{"per-attempt timeout", perAttempt, "timeout", []float64{0.01, 0.02}},
		// The server's hint is longer than the backoff, so it sets the delay.
		{"retry after", hintError{d: 50 * time.Millisecond, ok: true}, "retry_after", []float64{0.05, 0.05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				r := mustNew(t, retry.Config{Name: "inventory", InitialDelay: 10 * time.Millisecond, Jitter: retry.NoJitter,
					Telemetry: sdk.Settings(telKey)})
				ctx, end := sdk.Span(context.Background())
				s := failing(2, tt.err)
				if err := r.Do(ctx, s.op); err != nil || s.calls() != 3 {
					t.Fatalf("Do: got (%v, %d attempts), want (nil, 3)", err, s.calls())
				}
				events := end()

				got := sdk.Collect(t)
				checkPoint(t, got, observe.MetricRetryAttempts, series(observe.AttrRetryReason, tt.wantReason), 2, "{retry}")
				if n := len(got[observe.MetricRetryAttempts]); n != 1 {
					t.Errorf("attempts: got %d series, want 1: %+v", n, got[observe.MetricRetryAttempts])
				}
				d := checkPoint(t, got, observe.MetricRetryDelay, series(), 2, "s")
				sum := tt.wantDelays[0] + tt.wantDelays[1]
				if math.Abs(d.Value-sum) > 1e-9 {
					t.Errorf("delays: got %vs in all, want %vs", d.Value, sum)
				}
				checkPoint(t, got, observe.MetricCalls, series(observe.AttrOutcome, "success"), 1, "{call}")

				if len(events) != 2 {
					t.Fatalf("events: got %+v, want two %s", events, observe.EventRetryScheduled)
				}
				for i, e := range events {
					want := series(
						observe.AttrRetryAttempt, fmt.Sprint(i+2),
						observe.AttrRetryDelay, fmt.Sprint(tt.wantDelays[i]),
						observe.AttrRetryReason, tt.wantReason)
					if e.Name != observe.EventRetryScheduled || len(e.Attrs) != len(want) {
						t.Errorf("event %d: got %s %v, want %s %v", i, e.Name, e.Attrs, observe.EventRetryScheduled, want)
						continue
					}
					for k, v := range want {
						if e.Attrs[k] != v {
							t.Errorf("event %d attribute %s: got %q, want %q", i, k, e.Attrs[k], v)
						}
					}
				}
				if logs := sdk.Logs(); len(logs) != 0 {
					t.Errorf("logs: got %q, want none", logs)
				}
			})
		})
	}
}

// A call is recorded once in resilience.calls and resilience.call.duration,
// whatever its retries: success when an attempt succeeded, else by the last
// attempt's error. Not in a synctest bubble: Recorder.Start's clock stamp
// is relative to the process's start, before a bubble's fake clock, so a
// bubble loses durations measured with Start and Done.
func TestTelemetryCallOutcome(t *testing.T) {
	// A budget that never has a retry to give: no call earns a whole one,
	// and the floor is too slow to matter.
	empty, err := retry.NewBudget(retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		budget   *retry.Budget
		op       func(ctx context.Context, cancel context.CancelFunc, attempt int) error
		want     string
		attempts int
	}{
		{"first attempt succeeds", nil, func(context.Context, context.CancelFunc, int) error { return nil }, "success", 1},
		{"retry succeeds", nil, func(_ context.Context, _ context.CancelFunc, n int) error {
			if n == 1 {
				return errUnavailable
			}
			return nil
		}, "success", 2},
		{"attempts exhausted", nil, func(context.Context, context.CancelFunc, int) error { return errUnavailable }, "failure", 3},
		{"last attempt timed out", nil, func(context.Context, context.CancelFunc, int) error { return timeoutError{} }, "timeout", 3},
		// ErrBudgetExhausted is a rejection, but the call failed: its
		// attempt's error decides.
		{"budget refused", empty, func(context.Context, context.CancelFunc, int) error { return errUnavailable }, "failure", 1},
		{"client error", nil, func(context.Context, context.CancelFunc, int) error {
			return resilience.MarkNeutral(errUnavailable)
		}, "neutral", 1},
		{"another policy's rejection", nil, func(context.Context, context.CancelFunc, int) error {
			return resilience.NewRejection("breaker: open")
		}, "neutral", 1},
		{"caller cancelled", nil, func(ctx context.Context, cancel context.CancelFunc, n int) error {
			if n == 2 {
				cancel()
				return ctx.Err()
			}
			return errUnavailable
		}, "neutral", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdk := observetest.New(t)
			r := mustNew(t, retry.Config{Name: "inventory", InitialDelay: retry.NoDelay, Budget: tt.budget,
				Telemetry: sdk.Settings(telKey)})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			attempts := 0
			start := time.Now()
			_ = r.Do(ctx, func(ctx context.Context) error {
				attempts++
				return tt.op(ctx, cancel, attempts)
			})
			took := time.Since(start).Seconds()
			if attempts != tt.attempts {
				t.Errorf("got %d attempts, want %d", attempts, tt.attempts)
			}

			got := sdk.Collect(t)
			checkPoint(t, got, observe.MetricCalls, series(observe.AttrOutcome, tt.want), 1, "{call}")
			if n := len(got[observe.MetricCalls]); n != 1 {
				t.Errorf("calls: got %d series, want 1: %+v", n, got[observe.MetricCalls])
			}
			d := checkPoint(t, got, observe.MetricCallDuration, series(observe.AttrOutcome, tt.want), 1, "s")
			if d.Value <= 0 || d.Value > took {
				t.Errorf("call duration: got %vs, want in (0, %v]", d.Value, took)
			}
			wantRetries := uint64(tt.attempts - 1)
			if wantRetries > 0 {
				checkPoint(t, got, observe.MetricRetryAttempts, series(observe.AttrRetryReason, "error"), wantRetries, "{retry}")
			} else if pts := got[observe.MetricRetryAttempts]; len(pts) != 0 {
				t.Errorf("attempts: got %+v, want none", pts)
			}
		})
	}
}

// A retry the budget refuses is one resilience.retry.budget.rejections and
// a resilience.retry.budget_exhausted event; the budget running out and
// coming back are logged once each, through whichever policy sharing the
// budget saw the transition, and never per call.
func TestTelemetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk, other := observetest.New(t), observetest.New(t)
		// Calls earn next to nothing; the floor gives one retry a second.
		// It starts with one, which a policy without telemetry spends.
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1})
		drain := mustNew(t, retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay, Budget: budget,
			Telemetry: telemetry.Settings{Disabled: true}})
		if err := drain.Do(context.Background(), func(context.Context) error { return errUnavailable }); errors.Is(err, retry.ErrBudgetExhausted) {
			t.Fatalf("first call: got %v, want its retry allowed by the floor's first token", err)
		}
		r := mustNew(t, retry.Config{Name: "inventory", MaxAttempts: 2, InitialDelay: retry.NoDelay, Budget: budget,
			Telemetry: sdk.Settings(telKey)})
		shared := mustNew(t, retry.Config{Name: "other", MaxAttempts: 2, InitialDelay: retry.NoDelay, Budget: budget,
			Telemetry: other.Settings("other.example.com")})
		fail := func(context.Context) error { return errUnavailable }
		ok := func(context.Context) error { return nil }

		ctx, end := sdk.Span(context.Background())
		for range 3 {
			if err := r.Do(ctx, fail); !errors.Is(err, retry.ErrBudgetExhausted) {
				t.Fatalf("got %v, want ErrBudgetExhausted", err)
			}
		}
		events := end()
		for range 100 {
			_ = r.Do(context.Background(), ok)
		}
		_ = shared.Do(context.Background(), fail) // refused too: no new transition

		wantExhausted := "WARN " + observe.MsgBudgetExhausted +
			" resilience.policy.kind=retry resilience.policy.name=inventory resilience.key=" + telKey
		if logs := sdk.Logs(); !slices.Equal(logs, []string{wantExhausted}) {
			t.Errorf("logs after running out: got %q, want %q", logs, wantExhausted)
		}
		if logs := other.Logs(); len(logs) != 0 {
			t.Errorf("other policy's logs: got %q, want none", logs)
		}
		if len(events) != 3 {
			t.Fatalf("events: got %+v, want three %s", events, observe.EventRetryBudgetRejected)
		}
		for _, e := range events {
			if e.Name != observe.EventRetryBudgetRejected || len(e.Attrs) != 3 {
				t.Errorf("event: got %s %v, want %s with kind, name and key", e.Name, e.Attrs, observe.EventRetryBudgetRejected)
			}
		}
		got := sdk.Collect(t)
		checkPoint(t, got, observe.MetricRetryBudgetRejections, series(), 3, "{retry}")
		checkPoint(t, got, observe.MetricCalls, series(observe.AttrOutcome, "failure"), 3, "{call}")
		checkPoint(t, other.Collect(t), observe.MetricRetryBudgetRejections,
			map[string]string{observe.AttrName: "other", observe.AttrKey: "other.example.com"}, 1, "{retry}")
		if st := r.Status().Retry.Budget; st == nil || !st.Exhausted || st.Rejected != 4 {
			t.Errorf("budget status: got %+v, want exhausted with 4 rejections", st)
		}

		// A second later the floor has a retry: the other policy takes it
		// and logs the recovery; its second attempt fails too.
		time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		if err := shared.Do(context.Background(), fail); !errors.Is(err, errUnavailable) || errors.Is(err, retry.ErrBudgetExhausted) {
			t.Fatalf("got %v, want the attempts exhausted", err)
		}
		wantRecovered := "INFO " + observe.MsgBudgetRecovered +
			" resilience.policy.kind=retry resilience.policy.name=other resilience.key=other.example.com"
		if logs := other.Logs(); !slices.Equal(logs, []string{wantRecovered}) {
			t.Errorf("other policy's logs after recovery: got %q, want %q", logs, wantRecovered)
		}
		// Running out again is a new transition.
		_ = r.Do(context.Background(), fail)
		if logs := sdk.Logs(); !slices.Equal(logs, []string{wantExhausted, wantExhausted}) {
			t.Errorf("logs after running out again: got %q, want %q twice", logs, wantExhausted)
		}
	})
}

// With Telemetry.Disabled nothing reaches the SDK.
func TestTelemetryDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		s := sdk.Settings(telKey)
		s.Disabled = true
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 1e-6, MinPerSecond: 1})
		r := mustNew(t, retry.Config{Name: "inventory", InitialDelay: retry.NoDelay, Budget: budget, Telemetry: s})
		ctx, end := sdk.Span(context.Background())
		_ = r.Do(ctx, failing(1, errUnavailable).op) // refused by the budget
		time.Sleep(time.Second)                      // sleep-ok: fake time inside a synctest bubble
		_ = r.Do(ctx, failing(1, errUnavailable).op) // retried
		_ = r.Do(ctx, func(context.Context) error { return nil })
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
	synctest.Test(t, func(t *testing.T) {
		budget := mustBudget(t, retry.BudgetConfig{Ratio: 0.5, MinPerSecond: 2})
		for range 4 { // earns 2 retries
			_ = mustNew(t, retry.Config{Budget: budget}).Do(context.Background(), func(context.Context) error { return nil })
		}
		tests := []struct {
			name string
			r    *retry.Retry
			want telemetry.Status
		}{
			{"defaults", mustNew(t, retry.Config{}), telemetry.Status{Kind: "retry", Name: "retry",
				Retry: &telemetry.RetryStatus{MaxAttempts: 3}}},
			{"budget and key", mustNew(t, retry.Config{Name: "inventory", MaxAttempts: 20, Budget: budget,
				Telemetry: telemetry.Settings{Key: "http://user:pw@Inventory.example.com:80/v1?token=secret"}}),
				telemetry.Status{Kind: "retry", Name: "inventory", Key: "inventory.example.com",
					Retry: &telemetry.RetryStatus{MaxAttempts: retry.MaxAttemptsCap, Budget: &telemetry.BudgetStatus{
						Available: 4, Ratio: 0.5, MinPerSecond: 2}}}},
			{"disabled telemetry still reports", mustNew(t, retry.Config{Name: "x", MaxAttempts: 1,
				Telemetry: telemetry.Settings{Disabled: true, Key: "k"}}),
				telemetry.Status{Kind: "retry", Name: "x", Key: "k", Retry: &telemetry.RetryStatus{MaxAttempts: 1}}},
			{"nil", nil, telemetry.Status{Kind: "retry", Retry: &telemetry.RetryStatus{}}},
		}
		for _, tt := range tests {
			got := tt.r.Status()
			gotJSON, err := json.Marshal(got)
			if err != nil {
				t.Errorf("%s: json.Marshal: %v", tt.name, err)
			}
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("%s: got %s, want %s", tt.name, gotJSON, wantJSON)
			}
		}

		// Nine failing calls: each earns half a retry and, while the
		// budget has a whole one (earned, or the floor's 2 from the start),
		// spends one. The ninth is refused: 6.5 earned by then and 2 from
		// the floor, 8 spent, half a retry left.
		r := mustNew(t, retry.Config{MaxAttempts: 2, InitialDelay: retry.NoDelay, Budget: budget})
		for range 9 {
			_ = r.Do(context.Background(), func(context.Context) error { return errUnavailable })
		}
		want := telemetry.BudgetStatus{Available: 0.5, Ratio: 0.5, MinPerSecond: 2, Allowed: 8, Rejected: 1, Exhausted: true}
		if st := r.Status().Retry.Budget; st == nil || *st != want {
			t.Errorf("budget status after failures: got %+v, want %+v", st, want)
		}
	})
}

// Telemetry adds no allocation to the happy path, with telemetry disabled
// as with the default (the global provider, no SDK; see
// TestHappyPathAllocatesNothing).
func TestTelemetryDisabledAllocatesNothing(t *testing.T) {
	budget := mustBudget(t, retry.BudgetConfig{})
	for _, cfg := range []retry.Config{
		{Telemetry: telemetry.Settings{Disabled: true}},
		{Budget: budget, Telemetry: telemetry.Settings{Disabled: true}},
		{Budget: budget, Telemetry: telemetry.Settings{Key: telKey}},
	} {
		r := mustNew(t, cfg)
		ctx := context.Background()
		op := func(context.Context) error { return nil }
		if n := testing.AllocsPerRun(100, func() { _ = r.Do(ctx, op) }); n != 0 {
			t.Errorf("%+v: %v allocs per successful call, want 0", cfg.Telemetry, n)
		}
	}
}
