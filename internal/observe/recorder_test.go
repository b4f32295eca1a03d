package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/telemetry"
)

func TestDisabledRecorderIsNilAndInert(t *testing.T) {
	s := newSDK(t)
	set := s.settings("k")
	set.Disabled = true
	r := NewRecorder(KindBreaker, "disabled", set)
	if r != nil {
		t.Fatalf("NewRecorder with Disabled: got %p, want nil", r)
	}
	ctx, end := s.span()
	// Every method must be a no-op on the nil recorder.
	st := r.Start(ctx)
	if st != 0 {
		t.Errorf("nil Start: got %d, want 0", st)
	}
	r.Done(ctx, st, Success)
	r.Done(ctx, st, Failure)
	r.Reject(ctx)
	r.TimedOut(ctx, st, time.Second)
	r.Event(ctx, "x")
	r.RetryScheduled(ctx, 2, time.Second, ReasonError)
	r.BudgetRejected(ctx)
	r.Waited(ctx, time.Second, Success)
	r.StateChanged(ctx, StateClosed, StateOpen)
	r.ShadowRejected(ctx)
	r.Log(ctx, slog.LevelWarn, "x")
	r.Record(ctx, Failure, time.Second)
	r.BudgetTransition(ctx, true)
	r.ObserveState(func() BreakerState { return StateOpen })
	r.ObserveLoad(func() int64 { return 1 }, nil)

	if got := s.collect(); len(got) != 0 {
		t.Errorf("disabled recorder produced metrics: %v", got)
	}
	if ev := end(); len(ev) != 0 {
		t.Errorf("disabled recorder produced span events: %v", ev)
	}
	if logs := s.logs.all(); len(logs) != 0 {
		t.Errorf("disabled recorder logged: %v", logs)
	}
}

func TestCallsAndDurationByOutcome(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBulkhead, "inventory", s.settings("api.example.com"))
	ctx := context.Background()
	counts := map[Outcome]int{Success: 3, Failure: 2, Rejected: 1, Timeout: 1, Neutral: 4}
	for o, n := range counts {
		for range n {
			st := r.Start(ctx)
			if st < stampClock {
				t.Fatalf("Start with an SDK: got stamp %d, want a clock reading", st)
			}
			r.Done(ctx, st, o)
		}
	}
	got := s.collect()
	for _, name := range []string{MetricCalls, MetricCallDuration} {
		pts := got[name]
		if len(pts) != len(counts) {
			t.Fatalf("%s: got %d series, want %d: %v", name, len(pts), len(counts), pts)
		}
		for o, n := range counts {
			want := fmt.Sprintf("resilience.key=api.example.com resilience.outcome=%s resilience.policy.kind=bulkhead resilience.policy.name=inventory", o)
			i := slices.IndexFunc(pts, func(p point) bool { return p.attrs == want })
			if i < 0 {
				t.Errorf("%s: no series %q in %v", name, want, pts)
				continue
			}
			p := pts[i]
			got := p.count
			if name == MetricCalls {
				got = uint64(p.value)
			}
			if got != uint64(n) {
				t.Errorf("%s{%s}: got %d, want %d", name, o, got, n)
			}
		}
	}
	if u := got[MetricCalls][0].unit; u != "{call}" {
		t.Errorf("%s unit: got %q, want {call}", MetricCalls, u)
	}
	if u := got[MetricCallDuration][0].unit; u != "s" {
		t.Errorf("%s unit: got %q, want s", MetricCallDuration, u)
	}
}

func TestDurationIsMeasuredInSeconds(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindTimeout, "d", s.settings(""))
	ctx := context.Background()
	// The stamp of a call that started at epoch: its duration is the time
	// since then, which the test can bound.
	before := time.Since(epoch).Seconds()
	r.Done(ctx, stampClock, Success)
	after := time.Since(epoch).Seconds()
	pts := s.collect()[MetricCallDuration]
	if len(pts) != 1 {
		t.Fatalf("got %d series, want 1", len(pts))
	}
	if v := pts[0].value; v < before || v > after {
		t.Errorf("duration: got %vs, want within [%v, %v]", v, before, after)
	}
}

func TestUnkeyedRecorderHasNoKeyAttribute(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindTimeout, "", s.settings(""))
	r.Done(context.Background(), r.Start(context.Background()), Timeout)
	pts := s.collect()[MetricCalls]
	want := "resilience.outcome=timeout resilience.policy.kind=timeout resilience.policy.name=timeout"
	if len(pts) != 1 || pts[0].attrs != want {
		t.Errorf("got %v, want one series %q (empty name defaults to the kind)", pts, want)
	}
}

func TestRejectRecordsOutcomeAndKindEvent(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		event string
	}{
		{KindBreaker, EventBreakerRejected},
		{KindBulkhead, EventBulkheadRejected},
		{KindRateLimit, EventRateLimitRejected},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			s := newSDK(t)
			r := NewRecorder(tc.kind, "dep", s.settings("h1"))
			ctx, end := s.span()
			r.Reject(ctx, attribute.String(AttrState, StateOpen.String()))
			pts := s.collect()[MetricCalls]
			want := fmt.Sprintf("resilience.key=h1 resilience.outcome=rejected resilience.policy.kind=%s resilience.policy.name=dep", tc.kind)
			if len(pts) != 1 || pts[0].attrs != want || pts[0].value != 1 {
				t.Errorf("calls: got %v, want one %q = 1", pts, want)
			}
			events := end()
			wantEv := fmt.Sprintf("%s resilience.key=h1 resilience.policy.kind=%s resilience.policy.name=dep resilience.state=open", tc.event, tc.kind)
			if len(events) != 1 || eventString(events[0]) != wantEv {
				t.Errorf("events: got %v, want [%s]", events, wantEv)
			}
		})
	}
}

func TestTimedOutRecordsOutcomeAndEvent(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindTimeout, "attempt", s.settings(""))
	ctx, end := s.span()
	r.TimedOut(ctx, r.Start(ctx), 250*time.Millisecond)
	pts := s.collect()[MetricCalls]
	if len(pts) != 1 || !strings.Contains(pts[0].attrs, "resilience.outcome=timeout") {
		t.Errorf("calls: got %v, want one timeout", pts)
	}
	want := "resilience.timeout resilience.policy.kind=timeout resilience.policy.name=attempt resilience.timeout.duration=0.25"
	if ev := end(); len(ev) != 1 || eventString(ev[0]) != want {
		t.Errorf("events: got %v, want [%s]", ev, want)
	}
}

func TestRetryScheduled(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindRetry, "retry", s.settings("/pkg.Svc/Get"))
	ctx, end := s.span()
	r.RetryScheduled(ctx, 2, 100*time.Millisecond, ReasonError)
	r.RetryScheduled(ctx, 3, 2*time.Second, ReasonRetryAfter)
	r.RetryScheduled(ctx, 2, 0, RetryReason(200)) // out of range: reported as error
	got := s.collect()
	base := "resilience.key=/pkg.Svc/Get resilience.policy.kind=retry resilience.policy.name=retry"
	wantAttempts := []point{
		{attrs: base + " resilience.retry.reason=error", value: 2, count: 1, unit: "{retry}"},
		{attrs: base + " resilience.retry.reason=retry_after", value: 1, count: 1, unit: "{retry}"},
	}
	if !slices.Equal(got[MetricRetryAttempts], wantAttempts) {
		t.Errorf("attempts: got %v, want %v", got[MetricRetryAttempts], wantAttempts)
	}
	if d := got[MetricRetryDelay]; len(d) != 1 || d[0].count != 3 || d[0].value != 2.1 || d[0].attrs != base {
		t.Errorf("delay: got %v, want one series %q with 3 delays summing to 2.1s", d, base)
	}
	events := end()
	want := []string{
		"resilience.retry.scheduled " + base + " resilience.retry.attempt=2 resilience.retry.delay=0.1 resilience.retry.reason=error",
		"resilience.retry.scheduled " + base + " resilience.retry.attempt=3 resilience.retry.delay=2 resilience.retry.reason=retry_after",
		"resilience.retry.scheduled " + base + " resilience.retry.attempt=2 resilience.retry.delay=0 resilience.retry.reason=error",
	}
	var gotEv []string
	for _, e := range events {
		gotEv = append(gotEv, eventString(e))
	}
	if !slices.Equal(gotEv, want) {
		t.Errorf("events:\n got %q\nwant %q", gotEv, want)
	}
}

func TestBudgetRejected(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindRetry, "retry", s.settings(""))
	ctx, end := s.span()
	r.BudgetRejected(ctx)
	r.BudgetRejected(ctx)
	pts := s.collect()[MetricRetryBudgetRejections]
	want := "resilience.policy.kind=retry resilience.policy.name=retry"
	if len(pts) != 1 || pts[0].attrs != want || pts[0].value != 2 {
		t.Errorf("got %v, want %q = 2", pts, want)
	}
	if ev := end(); len(ev) != 2 || ev[0].Name != EventRetryBudgetRejected {
		t.Errorf("events: got %v, want 2 × %s", ev, EventRetryBudgetRejected)
	}
}

func TestWaited(t *testing.T) {
	for _, kind := range []Kind{KindBulkhead, KindRateLimit} {
		t.Run(string(kind), func(t *testing.T) {
			s := newSDK(t)
			r := NewRecorder(kind, "w", s.settings(""))
			ctx := context.Background()
			r.Waited(ctx, 10*time.Millisecond, Success)
			r.Waited(ctx, 30*time.Millisecond, Rejected)
			r.Waited(ctx, 5*time.Millisecond, Neutral)
			pts := s.collect()[MetricWaitDuration]
			var got []string
			for _, p := range pts {
				got = append(got, fmt.Sprintf("%s n=%d", p.attrs, p.count))
			}
			base := "resilience.policy.kind=" + string(kind) + " resilience.policy.name=w"
			want := []string{
				"resilience.outcome=neutral " + base + " n=1",
				"resilience.outcome=rejected " + base + " n=1",
				"resilience.outcome=success " + base + " n=1",
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestStateChangedCountsAndLogsTransitionsOnly(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBreaker, "payments", s.settings("db:5432"))
	ctx := context.Background()
	// Per-call activity first: none of it may log.
	for range 10 {
		st := r.Start(ctx)
		r.Done(ctx, st, Success)
		r.Done(ctx, st, Failure)
		r.Reject(ctx)
	}
	if logs := s.logs.all(); len(logs) != 0 {
		t.Fatalf("per-call recording logged: %q", logs)
	}
	r.StateChanged(ctx, StateClosed, StateOpen)
	r.StateChanged(ctx, StateOpen, StateHalfOpen)
	r.StateChanged(ctx, StateHalfOpen, StateClosed)
	r.StateChanged(ctx, StateClosed, 7) // out of range: ignored

	pts := s.collect()[MetricBreakerTransitions]
	base := "resilience.key=db:5432 resilience.policy.kind=breaker resilience.policy.name=payments"
	want := []string{
		base + " resilience.previous_state=closed resilience.state=open",
		base + " resilience.previous_state=half_open resilience.state=closed",
		base + " resilience.previous_state=open resilience.state=half_open",
	}
	var got []string
	for _, p := range pts {
		got = append(got, p.attrs)
		if p.value != 1 || p.unit != "{transition}" {
			t.Errorf("transition %s: got %v %s, want 1 {transition}", p.attrs, p.value, p.unit)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("transitions:\n got %q\nwant %q", got, want)
	}

	logs := s.logs.all()
	wantLogs := []string{
		"level=WARN msg=resilience: breaker state changed resilience.policy.kind=breaker resilience.policy.name=payments resilience.key=db:5432 resilience.previous_state=closed resilience.state=open",
		"level=INFO msg=resilience: breaker state changed resilience.policy.kind=breaker resilience.policy.name=payments resilience.key=db:5432 resilience.previous_state=open resilience.state=half_open",
		"level=INFO msg=resilience: breaker state changed resilience.policy.kind=breaker resilience.policy.name=payments resilience.key=db:5432 resilience.previous_state=half_open resilience.state=closed",
	}
	if !slices.Equal(logs, wantLogs) {
		t.Errorf("logs:\n got %q\nwant %q", logs, wantLogs)
	}
}

func TestLogAddsPolicyAttributes(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindRetry, "r", s.settings(""))
	r.Log(context.Background(), slog.LevelWarn, "resilience: retry budget exhausted")
	want := []string{"level=WARN msg=resilience: retry budget exhausted resilience.policy.kind=retry resilience.policy.name=r"}
	if got := s.logs.all(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Without a logger, nothing happens.
	set := s.settings("")
	set.Logger = nil
	NewRecorder(KindRetry, "r", set).Log(context.Background(), slog.LevelError, "x")
	if got := s.logs.all(); len(got) != 1 {
		t.Errorf("recorder without a logger logged: %q", got)
	}
}

func TestShadowRejected(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBreaker, "b", s.settings(""))
	ctx, end := s.span()
	r.ShadowRejected(ctx)
	pts := s.collect()[MetricBreakerShadowRejected]
	if len(pts) != 1 || pts[0].value != 1 {
		t.Errorf("got %v, want 1", pts)
	}
	want := "resilience.breaker.rejected resilience.breaker.shadow=true resilience.policy.kind=breaker resilience.policy.name=b"
	if ev := end(); len(ev) != 1 || eventString(ev[0]) != want {
		t.Errorf("events: got %v, want [%s]", ev, want)
	}
}

func TestObserveStateGauge(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBreaker, "b", s.settings("k"))
	state := StateClosed
	r.ObserveState(func() BreakerState { return state })
	for _, st := range []BreakerState{StateClosed, StateOpen, StateHalfOpen} {
		state = st
		pts := s.collect()[MetricBreakerState]
		want := point{attrs: "resilience.key=k resilience.policy.kind=breaker resilience.policy.name=b", value: float64(st), count: 1, unit: "1"}
		if len(pts) != 1 || pts[0] != want {
			t.Errorf("state %v: got %v, want [%v]", st, pts, want)
		}
	}
}

func TestObserveLoadGauges(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBulkhead, "bh", s.settings(""))
	r.ObserveLoad(func() int64 { return 7 }, func() int64 { return 3 })
	r.ObserveLoad(func() int64 { return 8 }, func() int64 { return 4 }) // replaces, registers no second callback
	got := s.collect()
	attrs := "resilience.policy.kind=bulkhead resilience.policy.name=bh"
	for name, want := range map[string]float64{MetricBulkheadInFlight: 8, MetricBulkheadQueued: 4} {
		if pts := got[name]; len(pts) != 1 || pts[0].attrs != attrs || pts[0].value != want || pts[0].unit != "{call}" {
			t.Errorf("%s: got %v, want one %q = %v {call}", name, pts, attrs, want)
		}
	}
}

func TestObserveIgnoredForOtherKinds(t *testing.T) {
	s := newSDK(t)
	b := NewRecorder(KindBreaker, "b", s.settings(""))
	b.ObserveLoad(func() int64 { return 1 }, func() int64 { return 1 })
	bh := NewRecorder(KindBulkhead, "bh", s.settings(""))
	bh.ObserveState(func() BreakerState { return StateOpen })
	if got := s.collect(); len(got) != 0 {
		t.Errorf("got %v, want no gauges", got)
	}
}

func TestEventsNeedARecordingSpan(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBreaker, "b", s.settings(""))
	ctx := context.Background() // no span at all
	allocs := testing.AllocsPerRun(100, func() {
		r.Event(ctx, EventBreakerRejected, attribute.String(AttrState, "open"))
		r.ShadowRejected(ctx)
	})
	if allocs != 0 {
		t.Errorf("events without a recording span: %v allocs, want 0", allocs)
	}
}

func TestEventKeyFromContextForUnkeyedPolicy(t *testing.T) {
	s := newSDK(t)
	shared := NewRecorder(KindBreaker, "shared", s.settings(""))
	keyed := NewRecorder(KindBreaker, "keyed", s.settings("own-key"))
	ctx, end := s.span()
	ctx = ContextWithKey(ctx, "https://user:pw@api.example.com/v1?token=x")
	shared.Reject(ctx)
	keyed.Reject(ctx)
	ev := end()
	want := []string{
		"resilience.breaker.rejected resilience.key=api.example.com resilience.policy.kind=breaker resilience.policy.name=shared",
		"resilience.breaker.rejected resilience.key=own-key resilience.policy.kind=breaker resilience.policy.name=keyed",
	}
	if len(ev) != 2 || eventString(ev[0]) != want[0] || eventString(ev[1]) != want[1] {
		t.Errorf("events: got %v, want %q", ev, want)
	}
	if got := KeyFromContext(context.Background()); got != "" {
		t.Errorf("KeyFromContext(Background): got %q, want empty", got)
	}
}

func TestOutOfRangeOutcomeCountsAsFailure(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindTimeout, "o", s.settings(""))
	r.Done(context.Background(), r.Start(context.Background()), Outcome(99))
	r.Waited(context.Background(), time.Millisecond, Outcome(99))
	pts := s.collect()[MetricCalls]
	if len(pts) != 1 || !strings.Contains(pts[0].attrs, "resilience.outcome=failure") {
		t.Errorf("got %v, want one failure", pts)
	}
	if got := Outcome(99).String(); got != "failure" {
		t.Errorf("Outcome(99).String(): got %q, want failure", got)
	}
}

func TestExplicitNoopProviderStaysOff(t *testing.T) {
	r := NewRecorder(KindBreaker, "n", telemetry.Settings{MeterProvider: noop.NewMeterProvider()})
	if st := r.Start(context.Background()); st != 0 {
		t.Errorf("Start with a no-op provider: got %d, want 0", st)
	}
	r.Done(context.Background(), 0, Failure) // refreshes, finds nothing enabled
	if r.live.Load() {
		t.Errorf("a no-op provider turned the recorder live")
	}
}

func TestClassify(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	timeoutErr := &netTimeout{}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"nil", bg, nil, Success},
		{"plain error", bg, errors.New("boom"), Failure},
		{"caller cancelled", cancelled, errors.New("boom"), Neutral},
		{"marked neutral", bg, resilience.MarkNeutral(errors.New("404")), Neutral},
		{"other policy's rejection", bg, fmt.Errorf("x: %w", resilience.NewRejection("breaker: open")), Neutral},
		{"timeout", bg, fmt.Errorf("attempt: %w", timeoutErr), Timeout},
		{"context deadline (own)", bg, context.DeadlineExceeded, Timeout},
		{"timeout but caller cancelled", cancelled, timeoutErr, Neutral},
	} {
		if got := Classify(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

type netTimeout struct{}

func (*netTimeout) Error() string   { return "i/o timeout" }
func (*netTimeout) Timeout() bool   { return true }
func (*netTimeout) Temporary() bool { return true }

func TestReasonFor(t *testing.T) {
	for _, tc := range []struct {
		err    error
		hinted bool
		want   RetryReason
	}{
		{errors.New("503"), false, ReasonError},
		{errors.New("503"), true, ReasonRetryAfter},
		{&netTimeout{}, false, ReasonTimeout},
		{&netTimeout{}, true, ReasonRetryAfter},
	} {
		if got := ReasonFor(tc.err, tc.hinted); got != tc.want {
			t.Errorf("ReasonFor(%v, %v): got %v, want %v", tc.err, tc.hinted, got, tc.want)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{StateClosed.String(), "closed"},
		{StateHalfOpen.String(), "half_open"},
		{StateOpen.String(), "open"},
		{BreakerState(9).String(), "unknown"},
		{ReasonTimeout.String(), "timeout"},
		{RetryReason(9).String(), "error"},
		{Neutral.String(), "neutral"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestViewCanDropEitherCallInstrument: resilience.calls and the count of
// resilience.call.duration carry the same numbers, so an application may
// drop one with a View; the recorder then skips it.
func TestViewCanDropEitherCallInstrument(t *testing.T) {
	for _, drop := range []string{MetricCalls, MetricCallDuration} {
		t.Run(drop, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(sdkmetric.NewView(
				sdkmetric.Instrument{Name: drop}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})))
			t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			s := &sdk{t: t, reader: reader, mp: mp}
			r := NewRecorder(KindBreaker, "v", telemetry.Settings{MeterProvider: mp})
			ctx := context.Background()
			r.Done(ctx, r.Start(ctx), Success)
			got := s.collect()
			if _, ok := got[drop]; ok {
				t.Errorf("dropped %s was exported", drop)
			}
			keep := MetricCalls
			if drop == MetricCalls {
				keep = MetricCallDuration
			}
			if pts := got[keep]; len(pts) != 1 || pts[0].count != 1 {
				t.Errorf("%s: got %v, want one call", keep, pts)
			}
		})
	}
}

func TestRecordWithKnownDuration(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBreaker, "b", s.settings(""))
	ctx := context.Background()
	r.Record(ctx, Success, 200*time.Millisecond)
	r.Record(ctx, Failure, 2*time.Second)
	r.Record(ctx, Outcome(42), time.Second) // out of range: a failure
	got := s.collect()
	base := "resilience.policy.kind=breaker resilience.policy.name=b"
	want := []point{
		{attrs: "resilience.outcome=failure " + base, value: 3, count: 2, unit: "s"},
		{attrs: "resilience.outcome=success " + base, value: 0.2, count: 1, unit: "s"},
	}
	if !slices.Equal(got[MetricCallDuration], want) {
		t.Errorf("durations: got %v, want %v", got[MetricCallDuration], want)
	}
	if c := got[MetricCalls]; len(c) != 2 || c[0].value != 2 || c[1].value != 1 {
		t.Errorf("calls: got %v, want failure 2, success 1", c)
	}
}

func TestRejectRecordsZeroDuration(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindBulkhead, "b", s.settings(""))
	r.Reject(context.Background())
	pts := s.collect()[MetricCallDuration]
	if len(pts) != 1 || pts[0].count != 1 || pts[0].value != 0 {
		t.Errorf("got %v, want one rejected call of 0s, so that the histogram counts what the counter counts", pts)
	}
}

func TestBudgetTransitionLogs(t *testing.T) {
	s := newSDK(t)
	r := NewRecorder(KindRetry, "r", s.settings(""))
	r.BudgetTransition(context.Background(), true)
	r.BudgetTransition(context.Background(), false)
	want := []string{
		"level=WARN msg=" + MsgBudgetExhausted + " resilience.policy.kind=retry resilience.policy.name=r",
		"level=INFO msg=" + MsgBudgetRecovered + " resilience.policy.kind=retry resilience.policy.name=r",
	}
	if got := s.logs.all(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestClassifyFailureAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	errs := []error{errors.New("boom"), fmt.Errorf("a: %w", &netTimeout{}), errors.Join(errors.New("x"), &netTimeout{})}
	for _, err := range errs {
		if n := testing.AllocsPerRun(100, func() { _ = Classify(ctx, err) }); n != 0 {
			t.Errorf("Classify(%v): %v allocs, want 0", err, n)
		}
	}
	if got := Classify(ctx, errs[2]); got != Timeout {
		t.Errorf("a joined error with a timeout: got %v, want timeout", got)
	}
}

// Regression: inside a synctest bubble the fake clock starts in 2000, before
// the process started; stamps must still carry a start time.
func TestStampInsideSynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if d := time.Since(epoch); d <= 0 {
			t.Fatalf("time.Since(epoch) = %v inside a bubble, want > 0", d)
		}
		s := stampClock + Stamp(time.Since(epoch))
		time.Sleep(250 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		r := &Recorder{}
		if got := r.since(s); got != 0.25 {
			t.Errorf("since = %v s, want 0.25", got)
		}
	})
}
