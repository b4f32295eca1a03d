package observe

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cascadeguard/resilience/telemetry"
)

// TestGaugeSeriesEndsWithThePolicy: the gauge callback holds the recorder
// weakly, so a policy that is gone (an evicted keyed instance) stops
// reporting instead of being kept alive by the meter forever.
func TestGaugeSeriesEndsWithThePolicy(t *testing.T) {
	s := newSDK(t)
	func() {
		r := NewRecorder(KindBreaker, "evicted", s.settings("k"))
		r.ObserveState(func() BreakerState { return StateOpen })
		if pts := s.collect()[MetricBreakerState]; len(pts) != 1 {
			t.Fatalf("live recorder: got %v, want one series", pts)
		}
	}()
	for i := 0; i < 10; i++ {
		runtime.GC()
		if pts := s.collect()[MetricBreakerState]; len(pts) == 0 {
			return
		}
	}
	t.Errorf("the gauge of an unreachable recorder is still reported after 10 GCs")
}

// TestGaugeCallbackIsUnregisteredWithThePolicy: the registration itself is
// released too, so a churn of keyed instances leaves no callbacks behind in
// the meter (with no SDK installed, the global meter would otherwise keep a
// list entry per instance ever built).
func TestGaugeCallbackIsUnregisteredWithThePolicy(t *testing.T) {
	p := new(countingProvider)
	const n = 20
	func() {
		for range n {
			r := NewRecorder(KindBulkhead, "churn", telemetry.Settings{MeterProvider: p})
			r.ObserveLoad(func() int64 { return 1 }, func() int64 { return 0 })
			r.ObserveLoad(func() int64 { return 2 }, nil) // no second registration
		}
	}()
	if got := p.regs.Load(); got != n {
		t.Fatalf("registrations: got %d, want %d", got, n)
	}
	// Cleanups run on a runtime goroutine after a GC; poll, bounded.
	for i := 0; i < 2000 && p.unregs.Load() < n; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := p.unregs.Load(); got != n {
		t.Errorf("unregistrations after the recorders were freed: got %d, want %d", got, n)
	}
}

type countingProvider struct {
	noop.MeterProvider
	regs, unregs atomic.Int64
}

func (p *countingProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return countingMeter{p: p}
}

type countingMeter struct {
	noop.Meter
	p *countingProvider
}

func (m countingMeter) RegisterCallback(metric.Callback, ...metric.Observable) (metric.Registration, error) {
	m.p.regs.Add(1)
	return &countingRegistration{p: m.p}, nil
}

type countingRegistration struct {
	embedded.Registration
	p *countingProvider
}

func (r *countingRegistration) Unregister() error {
	r.p.unregs.Add(1)
	return nil
}

// TestFaultyProviderCannotPanicTheHotPath: a provider that returns nil
// instruments (the API asks for usable ones even with an error) gets no-op
// instruments instead.
func TestFaultyProviderCannotPanicTheHotPath(t *testing.T) {
	r := NewRecorder(KindBreaker, "faulty", telemetry.Settings{MeterProvider: nilProvider{}})
	ctx := context.Background()
	r.live.Store(true)
	r.Done(ctx, r.Start(ctx), Failure)
	r.StateChanged(ctx, StateClosed, StateOpen)
	r.ObserveState(func() BreakerState { return StateOpen })
	for _, k := range []Kind{KindBulkhead, KindRetry, KindRateLimit} {
		r := NewRecorder(k, "faulty", telemetry.Settings{MeterProvider: nilProvider{}})
		r.live.Store(true)
		r.RetryScheduled(ctx, 2, 0, ReasonError)
		r.BudgetRejected(ctx)
		r.Waited(ctx, 0, Success)
		r.ObserveLoad(func() int64 { return 1 }, nil)
	}
}

type nilProvider struct{ noop.MeterProvider }

func (nilProvider) Meter(string, ...metric.MeterOption) metric.Meter { return nil }

// inChild runs the calling test in a child process and reports whether
// this is the child: installing a global SDK cannot be undone, and the rest
// of the package's tests and benchmarks need the global provider without
// one.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv("OBSERVE_GLOBAL_CHILD") == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "OBSERVE_GLOBAL_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process failed: %v\n%s", err, out)
	}
	return false
}

// installGlobalSDK installs a metric SDK as the global provider.
func installGlobalSDK(t *testing.T) *sdk {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	otel.SetMeterProvider(mp)
	return &sdk{t: t, reader: reader, mp: mp}
}

// TestGlobalProviderInstalledLater: a recorder built on the global provider
// before the SDK records failures at once, and successes and rejections from
// the SDK's first collection; a recorder built after the install records
// everything.
func TestGlobalProviderInstalledLater(t *testing.T) {
	if !inChild(t) {
		return
	}
	ctx := context.Background()
	early := NewRecorder(KindTimeout, "early", telemetry.Settings{}) // no gauges: only the package's watch sees collections
	if st := early.Start(ctx); st != 0 || globalLive.Load() {
		t.Fatalf("no SDK: got stamp %d, live %v; want 0, false", st, globalLive.Load())
	}
	early.Done(ctx, 0, Failure) // no SDK: checks, records nothing, stays off
	if globalLive.Load() {
		t.Fatalf("a failure with no SDK turned telemetry on")
	}

	s := installGlobalSDK(t)

	// 1. A success or a rejection before the SDK's first collection is not
	// measured: the recorder does not know about the SDK yet.
	early.Done(ctx, early.Start(ctx), Success)
	early.Reject(ctx)
	if pts := s.collect()[MetricCalls]; len(pts) != 0 { // the first collection turns recording on
		t.Errorf("first collection: calls %v, want none", pts)
	}
	if !globalLive.Load() {
		t.Fatalf("the SDK's first collection did not turn recording on")
	}
	early.Done(ctx, early.Start(ctx), Success)
	early.Reject(ctx)
	if pts := s.collect()[MetricCalls]; len(pts) != 2 || pts[0].value != 1 || pts[1].value != 1 {
		t.Errorf("after the first collection: calls %v, want one success and one rejection", pts)
	}

	// 2. A non-success outcome is recorded at once and turns recording on.
	globalLive.Store(false)
	early.Done(ctx, early.Start(ctx), Failure)
	if !globalLive.Load() {
		t.Errorf("a failure with an SDK installed did not turn recording on")
	}
	if pts := s.collect()[MetricCalls]; len(pts) != 3 {
		t.Errorf("after a failure: calls %v, want success, rejected and failure series", pts)
	}

	// 3. A recorder built after the install turns recording on at once.
	globalLive.Store(false)
	late := NewRecorder(KindTimeout, "late", telemetry.Settings{})
	if st := late.Start(ctx); st < stampClock {
		t.Errorf("recorder built after the install: got stamp %d, want a clock reading", st)
	}
}

// TestGlobalGaugeRegisteredBeforeTheSDK: a breaker built before the SDK
// reports its state from the first collection.
func TestGlobalGaugeRegisteredBeforeTheSDK(t *testing.T) {
	if !inChild(t) {
		return
	}
	b := NewRecorder(KindBreaker, "early-breaker", telemetry.Settings{Key: "k"})
	b.ObserveState(func() BreakerState { return StateHalfOpen })
	s := installGlobalSDK(t)
	pts := s.collect()[MetricBreakerState]
	want := point{attrs: "resilience.key=k resilience.policy.kind=breaker resilience.policy.name=early-breaker", value: 1, count: 1, unit: "1"}
	if len(pts) != 1 || pts[0] != want {
		t.Errorf("got %v, want [%v]", pts, want)
	}
}
