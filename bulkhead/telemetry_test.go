package bulkhead_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/telemetry"
)

// telKey is the instance key every telemetry test gives its bulkhead.
const telKey = "inventory.example.com:8443"

// timeoutError reports Timeout() true, as a net.Error deadline does.
type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

// series returns the attributes of the "inventory" bulkhead's series, with
// the outcome when it is not empty.
func series(outcome string) map[string]string {
	m := map[string]string{observe.AttrKind: "bulkhead", observe.AttrName: "inventory", observe.AttrKey: telKey}
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

// holdNow is hold outside a synctest bubble: it returns once the call
// holds its slot.
func holdNow(b *bulkhead.Bulkhead) *holder {
	h := &holder{release: make(chan struct{}), done: make(chan error, 1)}
	held := make(chan struct{})
	go func() {
		h.done <- b.Do(context.Background(), func(context.Context) error {
			close(held)
			<-h.release
			return nil
		})
	}()
	<-held
	return h
}

// checkNoPoint fails the test if metric has a point with the attributes want.
func checkNoPoint(t *testing.T, got map[string][]observetest.Point, metric string, want map[string]string) {
	t.Helper()
	if p, ok := observetest.Find(got[metric], want); ok {
		t.Errorf("%s%v: got %+v, want no point", metric, want, p)
	}
}

// checkRejectedEvent fails the test unless events is exactly one
// resilience.bulkhead.rejected event with the bulkhead's attributes.
func checkRejectedEvent(t *testing.T, events []observetest.Event) {
	t.Helper()
	if len(events) != 1 || events[0].Name != observe.EventBulkheadRejected {
		t.Fatalf("events: got %+v, want one %s", events, observe.EventBulkheadRejected)
	}
	for k, v := range series("") {
		if got := events[0].Attrs[k]; got != v {
			t.Errorf("event attribute %s: got %q, want %q", k, got, v)
		}
	}
}

// Each outcome of a call that reaches the bulkhead is one point of
// resilience.calls and resilience.call.duration with the documented
// attributes; only a rejection adds a span event, and nothing is logged.
func TestTelemetryCallsByOutcome(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		op      func(ctx context.Context, cancel context.CancelFunc) error
		full    bool // every slot is taken: the call is rejected
		want    string
		wantErr error
	}{
		{"success", func(context.Context, context.CancelFunc) error { return nil }, false, "success", nil},
		{"failure", func(context.Context, context.CancelFunc) error { return errBoom }, false, "failure", errBoom},
		{"timeout", func(context.Context, context.CancelFunc) error { return timeoutError{} }, false, "timeout", timeoutError{}},
		{"client error", func(context.Context, context.CancelFunc) error {
			return resilience.MarkNeutral(errBoom)
		}, false, "neutral", errBoom},
		{"caller cancelled during op", func(ctx context.Context, cancel context.CancelFunc) error {
			cancel()
			return ctx.Err()
		}, false, "neutral", context.Canceled},
		{"rejected", func(context.Context, context.CancelFunc) error { return nil }, true, "rejected", bulkhead.ErrFull},
	}
	// Not in a synctest bubble: Recorder.Start's clock stamp is relative to
	// the process's start, before a bubble's fake clock, so a bubble loses
	// call durations measured with Start and Done.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdk := observetest.New(t)
			b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 1, Telemetry: sdk.Settings(telKey)})
			var h *holder
			if tt.full {
				h = holdNow(b)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx, end := sdk.Span(ctx)
			start := time.Now()
			err := b.Do(ctx, func(ctx context.Context) error { return tt.op(ctx, cancel) })
			took := time.Since(start).Seconds()
			events := end()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Do: got %v, want %v", err, tt.wantErr)
			}
			if h != nil {
				if err := h.end(); err != nil {
					t.Errorf("holder: %v", err)
				}
			}

			got := sdk.Collect(t)
			checkPoint(t, got, observe.MetricCalls, series(tt.want), 1, "{call}")
			d := checkPoint(t, got, observe.MetricCallDuration, series(tt.want), 1, "s")
			if tt.full {
				checkRejectedEvent(t, events)
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
			checkNoPoint(t, got, observe.MetricWaitDuration, series(""))
			if logs := sdk.Logs(); len(logs) != 0 {
				t.Errorf("logs: got %q, want none", logs)
			}
		})
	}
}

// A call admitted after waiting in the queue records its wait with the
// outcome success, and the wait is part of its call duration. Not in a
// synctest bubble, which loses durations measured with Start and Done (see
// TestTelemetryCallsByOutcome).
func TestTelemetryAdmittedAfterWait(t *testing.T) {
	sdk := observetest.New(t)
	b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 1, MaxQueue: 1, Telemetry: sdk.Settings(telKey)})
	h := holdNow(b)
	done := make(chan error, 1)
	go func() { done <- b.Do(context.Background(), func(context.Context) error { return nil }) }()
	for i := 0; b.Queued() == 0; i++ {
		if i == 1e6 {
			t.Fatal("the second call never queued")
		}
		runtime.Gosched()
	}
	if err := h.end(); err != nil {
		t.Errorf("holder: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("queued call: %v", err)
	}

	got := sdk.Collect(t)
	w := checkPoint(t, got, observe.MetricWaitDuration, series("success"), 1, "s")
	checkPoint(t, got, observe.MetricCalls, series("success"), 2, "{call}")
	d := checkPoint(t, got, observe.MetricCallDuration, series("success"), 2, "s")
	// The waiter's call lasted at least its wait, and the holder's call
	// took some time too.
	if w.Value <= 0 || d.Value <= w.Value {
		t.Errorf("wait %vs, calls' total duration %vs: want a positive wait and the total above it", w.Value, d.Value)
	}
	checkNoPoint(t, got, observe.MetricWaitDuration, series("rejected"))
	checkNoPoint(t, got, observe.MetricWaitDuration, series("neutral"))
}

// A call that waits in the queue records its wait, by how the wait ended:
// admitted (success), MaxWait passed (rejected) or the caller gave up
// (neutral); the call itself is recorded once with the matching outcome.
func TestTelemetryQueueWaits(t *testing.T) {
	tests := []struct {
		name        string
		maxWait     time.Duration
		cancelAfter time.Duration // the caller gives up then; 0 never
		wantErr     error
		wantWait    string  // the outcome of the wait
		wantSeconds float64 // the wait
		wantCall    string  // the outcome of the call
		wantCount   uint64  // calls with that outcome, the holder's included
		wantSum     float64 // their total duration; -1 unchecked
		wantEvent   bool
	}{
		// Admitted: its call duration is lost in a bubble (see
		// TestTelemetryAdmittedAfterWait), so only the calls are counted.
		{"admitted", 0, 0, nil, "success", 0.02, "success", 2, -1, false},
		// A rejection's call duration is zero: its wait is in the wait
		// histogram.
		{"queue timeout", 10 * time.Millisecond, 0, bulkhead.ErrFull, "rejected", 0.01, "rejected", 1, 0, true},
		{"caller cancelled", time.Second, 15 * time.Millisecond, context.Canceled, "neutral", 0.015, "neutral", 1, 0.015, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sdk := observetest.New(t)
				b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 1, MaxQueue: 1, MaxWait: tt.maxWait,
					Telemetry: sdk.Settings(telKey)})
				h := hold(b)
				synctest.Wait()
				time.AfterFunc(20*time.Millisecond, func() { close(h.release) })

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tt.cancelAfter > 0 {
					time.AfterFunc(tt.cancelAfter, cancel)
				}
				ctx, end := sdk.Span(ctx)
				err := b.Do(ctx, func(context.Context) error { return nil })
				events := end()
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Do: got %v, want %v", err, tt.wantErr)
				}
				if err := <-h.done; err != nil {
					t.Errorf("holder: %v", err)
				}

				got := sdk.Collect(t)
				w := checkPoint(t, got, observe.MetricWaitDuration, series(tt.wantWait), 1, "s")
				if math.Abs(w.Value-tt.wantSeconds) > 1e-9 {
					t.Errorf("wait: got %vs, want %vs", w.Value, tt.wantSeconds)
				}
				checkPoint(t, got, observe.MetricCalls, series(tt.wantCall), tt.wantCount, "{call}")
				if tt.wantSum >= 0 {
					d := checkPoint(t, got, observe.MetricCallDuration, series(tt.wantCall), tt.wantCount, "s")
					if math.Abs(d.Value-tt.wantSum) > 1e-9 {
						t.Errorf("call duration: got %vs in all, want %vs", d.Value, tt.wantSum)
					}
				}
				if tt.wantEvent {
					checkRejectedEvent(t, events)
				} else if len(events) != 0 {
					t.Errorf("events: got %+v, want none", events)
				}
			})
		})
	}
}

// The in-flight and queued instruments report the bulkhead's occupancy at
// each collection.
func TestTelemetryLoadGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 2, MaxQueue: 3, Telemetry: sdk.Settings(telKey)})
		check := func(inFlight, queued uint64) {
			t.Helper()
			got := sdk.Collect(t)
			checkPoint(t, got, observe.MetricBulkheadInFlight, series(""), inFlight, "{call}")
			checkPoint(t, got, observe.MetricBulkheadQueued, series(""), queued, "{call}")
		}
		check(0, 0)
		var hs []*holder
		for range 3 {
			hs = append(hs, hold(b))
			synctest.Wait()
		}
		check(2, 1)
		for _, h := range hs {
			if err := h.end(); err != nil {
				t.Errorf("holder: %v", err)
			}
		}
		check(0, 0)
	})
}

// With Telemetry.Disabled nothing reaches the SDK: no metric, no event, no
// log, whatever happens.
func TestTelemetryDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdk := observetest.New(t)
		s := sdk.Settings(telKey)
		s.Disabled = true
		b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Millisecond, Telemetry: s})
		ctx, end := sdk.Span(context.Background())
		_ = b.Do(ctx, func(context.Context) error { return nil })
		_ = b.Do(ctx, func(context.Context) error { return errors.New("boom") })
		h := hold(b)
		synctest.Wait()
		if err := b.Do(ctx, func(context.Context) error { return nil }); !errors.Is(err, bulkhead.ErrFull) {
			t.Errorf("queued call: got %v, want ErrFull", err)
		}
		if err := h.end(); err != nil {
			t.Errorf("holder: %v", err)
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

// A key given as a URL with user information and a query reaches the
// attributes, the events and the status as its host alone.
func TestTelemetryKeyIsSanitized(t *testing.T) {
	sdk := observetest.New(t)
	b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 1,
		Telemetry: sdk.Settings("http://user:pw@127.0.0.1:8080/p?token=secret")})
	_ = b.Do(context.Background(), func(context.Context) error { return nil })
	ctx, end := sdk.Span(context.Background())
	_ = b.Do(ctx, func(ctx context.Context) error {
		return b.Do(ctx, func(context.Context) error { return nil }) // rejected: one slot
	})
	events := end()
	if len(events) != 1 {
		t.Fatalf("events: got %+v, want one rejection", events)
	}
	vals := sdk.Values(t, events)
	st, _ := json.Marshal(b.Status())
	vals = append(vals, string(st))
	if !slices.Contains(vals, "127.0.0.1:8080") {
		t.Errorf("values %q lack the key 127.0.0.1:8080", vals)
	}
	for _, v := range vals {
		for _, secret := range []string{"user", "pw", "token", "secret", "/p"} {
			if strings.Contains(v, secret) {
				t.Errorf("value %q contains %q", v, secret)
			}
		}
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		cfg     bulkhead.Config
		holders int
		want    telemetry.Status
	}{
		{"defaults", bulkhead.Config{}, 0, telemetry.Status{Kind: "bulkhead", Name: "bulkhead",
			Bulkhead: &telemetry.BulkheadStatus{MaxConcurrent: bulkhead.DefaultMaxConcurrent}}},
		{"in flight and queued", bulkhead.Config{Name: "inventory", MaxConcurrent: 2, MaxQueue: 5,
			Telemetry: telemetry.Settings{Key: "https://API.example.com:443/v1?q=1"}}, 3,
			telemetry.Status{Kind: "bulkhead", Name: "inventory", Key: "api.example.com",
				Bulkhead: &telemetry.BulkheadStatus{InFlight: 2, Queued: 1, MaxConcurrent: 2, MaxQueue: 5}}},
		{"disabled telemetry still reports", bulkhead.Config{Name: "x", MaxConcurrent: 1,
			Telemetry: telemetry.Settings{Disabled: true, Key: "k"}}, 1,
			telemetry.Status{Kind: "bulkhead", Name: "x", Key: "k",
				Bulkhead: &telemetry.BulkheadStatus{InFlight: 1, MaxConcurrent: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, tt.cfg)
				var hs []*holder
				for range tt.holders {
					hs = append(hs, hold(b))
					synctest.Wait()
				}
				got := b.Status()
				if got.Kind != tt.want.Kind || got.Name != tt.want.Name || got.Key != tt.want.Key ||
					got.Bulkhead == nil || *got.Bulkhead != *tt.want.Bulkhead {
					t.Errorf("got %+v %+v, want %+v %+v", got, got.Bulkhead, tt.want, tt.want.Bulkhead)
				}
				for _, h := range hs {
					if err := h.end(); err != nil {
						t.Errorf("holder: %v", err)
					}
				}
			})
		})
	}
}

// A real bulkhead served by the status handler, as a health dashboard
// reads it.
func TestStatusHandler(t *testing.T) {
	b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 4, MaxQueue: 2})
	var reg telemetry.Registry
	if err := reg.Register("inventory-bulkhead", b); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(telemetry.StatusHandler(&reg))
	defer srv.Close()

	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.Do(context.Background(), func(context.Context) error { close(held); <-release; return nil })
	}()
	<-held
	defer func() {
		close(release)
		if err := <-done; err != nil {
			t.Errorf("holder: %v", err)
		}
	}()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Policies []telemetry.Entry `json:"policies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := telemetry.BulkheadStatus{InFlight: 1, MaxConcurrent: 4, MaxQueue: 2}
	if resp.StatusCode != http.StatusOK || len(doc.Policies) != 1 || doc.Policies[0].Status.Bulkhead == nil ||
		*doc.Policies[0].Status.Bulkhead != want {
		t.Errorf("got %d %+v, want 200 with %+v", resp.StatusCode, doc, want)
	}
}

// Telemetry adds no allocation to the paths that must not allocate: the
// call that finds a free slot and the call refused at once, with the
// default settings (global provider, no SDK) and with telemetry disabled.
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
			b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, Telemetry: tc.tel})
			op := func(context.Context) error { return nil }
			if n := testing.AllocsPerRun(100, func() { _ = b.Do(ctx, op) }); n != 0 {
				t.Errorf("admitted call: %v allocs/op, want 0", n)
			}
			rejected := func(ctx context.Context) error {
				if err := b.Do(ctx, op); err != bulkhead.ErrFull {
					t.Errorf("nested call: got %v, want ErrFull", err)
				}
				return nil
			}
			if n := testing.AllocsPerRun(100, func() { _ = b.Do(ctx, rejected) }); n != 0 {
				t.Errorf("rejected call: %v allocs/op, want 0", n)
			}
		})
	}
}
