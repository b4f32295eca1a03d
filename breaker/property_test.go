package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
)

// TestStateMachineProperties drives a breaker with random sequences of
// calls (successes, failures, neutral errors, rejections by other policies,
// caller cancellations, slow calls, panics), two-step calls reported late,
// twice or never, bursts of concurrent callers, mode changes and clock
// jumps, in a synctest bubble. A model predicts which calls are admitted
// and how each outcome changes the state; after every step the invariants
// are checked:
//
//   - an open or forced-open breaker never runs op; disabled and shadow
//     breakers always do;
//   - half-open never admits more than HalfOpenProbes (in flight plus
//     succeeded), a burst of concurrent callers runs exactly the free slots,
//     and a slot whose probe never reported is freed after ProbeTimeout;
//   - an outcome counts only in the state period its call started in, and
//     a second report of a two-step call changes nothing;
//   - the breaker opens exactly when a trip rule fires; neutral outcomes
//     never change the state;
//   - state changes are reported in order, each starting where the previous
//     one ended, and the hook may call back into the breaker;
//   - Counts is consistent (Requests = Successes + Failures + Neutral, zero
//     while open) and Retain is true exactly when not closed.
func TestStateMachineProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, func(rt *rapid.T) {
			m := newModel(rt)
			steps := rapid.IntRange(1, 120).Draw(rt, "steps")
			for range steps {
				switch rapid.IntRange(0, 9).Draw(rt, "action") {
				case 0, 1, 2:
					m.do(rt)
				case 3, 4:
					m.allow(rt)
				case 5:
					m.finish(rt)
				case 6:
					m.burst(rt)
				case 7:
					m.setMode(rt)
				default:
					time.Sleep(time.Duration(rapid.IntRange(0, 40).Draw(rt, "sleep tenths")) * 100 * time.Millisecond) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
				}
				m.check(rt)
			}
			// Leave nothing running in the bubble.
			for _, c := range m.calls {
				c.cancel()
			}
		})
	})
}

type kind int

const (
	kindSuccess kind = iota
	kindFailure
	kindNeutral  // marked by an adapter
	kindRejected // another policy's rejection
	kindCancel   // the caller's context ended
	kindSlow     // succeeds after 1.5 s
	kindPanic
	numKinds
)

// A call is a two-step call the test has not reported yet.
type call struct {
	done     func(error)
	ctx      context.Context
	cancel   context.CancelFunc
	gen      int  // model generation when admitted
	recorded bool // admitted as a counted call (closed, or a probe)
	probe    bool
	deadline time.Time
	expired  bool // its probe slot was freed
}

type model struct {
	b *breaker.Breaker

	// resolved configuration
	consecutive  uint32
	ratio        float64
	minCalls     uint32
	probes       int
	probeTimeout time.Duration
	slowCall     time.Duration

	// Updated by the hook, which runs on whichever goroutine delivers; the
	// breaker serializes deliveries.
	state     breaker.State
	gen       int // one per state period: bumped at every state change
	succeeded int // probes that succeeded in this half-open period
	inflight  []*call
	hookErr   atomic.Value // of string: the first broken hook invariant

	mode          breaker.Mode
	calls         []*call
	shadowRejects atomic.Int32
}

func newModel(rt *rapid.T) *model {
	m := &model{}
	cfg := breaker.Config{
		Name:                "m",
		ConsecutiveFailures: uint32(rapid.IntRange(0, 3).Draw(rt, "consecutive")),
		FailureRatio:        rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(rt, "ratio"),
		Window:              rapid.SampledFrom([]time.Duration{0, 2 * time.Second, 10 * time.Second}).Draw(rt, "window"),
		HalfOpenProbes:      uint32(rapid.IntRange(0, 3).Draw(rt, "probes")),
		OpenFor:             rapid.SampledFrom([]time.Duration{time.Second, 3 * time.Second}).Draw(rt, "openFor"),
		ProbeTimeout:        rapid.SampledFrom([]time.Duration{0, 500 * time.Millisecond, 2 * time.Second}).Draw(rt, "probeTimeout"),
		SlowCall:            rapid.SampledFrom([]time.Duration{0, time.Second}).Draw(rt, "slowCall"),
		Mode:                rapid.SampledFrom([]breaker.Mode{breaker.ModeNormal, breaker.ModeNormal, breaker.ModeShadow}).Draw(rt, "mode"),
	}
	if cfg.FailureRatio > 0 || cfg.ConsecutiveFailures == 0 {
		cfg.MinCalls = uint32(rapid.IntRange(1, 4).Draw(rt, "minCalls"))
	}
	m.consecutive, m.ratio, m.minCalls = cfg.ConsecutiveFailures, cfg.FailureRatio, cfg.MinCalls
	if m.consecutive == 0 && m.ratio == 0 {
		m.ratio = breaker.DefaultFailureRatio
	}
	m.probes = max(int(cfg.HalfOpenProbes), 1)
	m.probeTimeout = cfg.ProbeTimeout
	if m.probeTimeout == 0 {
		m.probeTimeout = cfg.OpenFor
	}
	m.slowCall = cfg.SlowCall
	m.mode = cfg.Mode

	cfg.OnStateChange = func(name string, from, to breaker.State) {
		fail := func(format string, args ...any) {
			m.hookErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
		}
		if name != "m" {
			fail("hook got name %q", name)
		}
		if from != m.state || from == to {
			fail("change %v→%v, but the previous one ended in %v", from, to, m.state)
		}
		if m.mode == breaker.ModeNormal || m.mode == breaker.ModeShadow {
			valid := map[[2]breaker.State]bool{
				{breaker.StateClosed, breaker.StateOpen}:     true,
				{breaker.StateOpen, breaker.StateHalfOpen}:   true,
				{breaker.StateHalfOpen, breaker.StateClosed}: true,
				{breaker.StateHalfOpen, breaker.StateOpen}:   true,
			}
			if !valid[[2]breaker.State{from, to}] {
				fail("change %v→%v in mode %v", from, to, m.mode)
			}
		}
		_ = m.b.State() // may call back without deadlock
		_ = m.b.Counts()
		m.newPeriod(to)
	}
	cfg.OnShadowReject = func(string, breaker.State) { m.shadowRejects.Add(1) }
	b, err := breaker.New(cfg)
	if err != nil {
		rt.Fatalf("New(%+v): %v", cfg, err)
	}
	m.b = b
	m.state = b.State()
	return m
}

// newPeriod starts a state period in the model, as the breaker does at
// every state change and every mode change other than normal↔shadow.
func (m *model) newPeriod(s breaker.State) {
	m.state = s
	m.gen++
	m.succeeded = 0
	for _, c := range m.inflight {
		c.expired = true // any outcome from it is now void anyway
	}
	m.inflight = nil
}

// admission is what the model expects of a call made now.
type admission struct {
	runs     bool // op runs (or Allow returns done)
	recorded bool // its outcome may count
	probe    bool
	shadow   bool // a would-be rejection let through
}

func (m *model) expect() admission {
	switch m.mode {
	case breaker.ModeDisabled:
		return admission{runs: true}
	case breaker.ModeForcedOpen:
		return admission{}
	}
	shadow := admission{runs: m.mode == breaker.ModeShadow, shadow: m.mode == breaker.ModeShadow}
	switch m.state {
	case breaker.StateClosed:
		return admission{runs: true, recorded: true}
	case breaker.StateOpen:
		return shadow
	}
	if m.succeeded+len(m.inflight) >= m.probes {
		now := time.Now()
		kept := m.inflight[:0]
		for _, c := range m.inflight {
			if c.deadline.After(now) {
				kept = append(kept, c)
			} else {
				c.expired = true
			}
		}
		m.inflight = kept
	}
	if m.succeeded+len(m.inflight) < m.probes {
		return admission{runs: true, recorded: true, probe: true}
	}
	return shadow
}

// tripped reports whether a trip rule fires for counts c.
func (m *model) tripped(successes, failures, consecutive uint32) bool {
	if m.consecutive > 0 && consecutive >= m.consecutive {
		return true
	}
	calls := successes + failures
	return m.ratio > 0 && calls >= m.minCalls && float64(failures) >= m.ratio*float64(calls)
}

func drawKind(rt *rapid.T, label string, kinds ...kind) kind {
	return rapid.SampledFrom(kinds).Draw(rt, label)
}

func opError(k kind, ctx context.Context) error {
	switch k {
	case kindFailure:
		return errBoom
	case kindNeutral:
		return resilience.MarkNeutral(errBoom)
	case kindRejected:
		return fmt.Errorf("bulkhead: %w", resilience.ErrRejected)
	case kindCancel:
		return ctx.Err()
	}
	return nil
}

// class is how the model expects an outcome to count.
func (m *model) class(k kind, twoStep bool) kind {
	switch k {
	case kindSuccess, kindFailure:
		return k
	case kindSlow:
		if !twoStep && m.slowCall > 0 {
			return kindFailure
		}
		return kindSuccess
	case kindPanic:
		return kindFailure
	}
	return kindNeutral
}

// A snapshot is what the test saw just before a call. The hook changes
// the model during the call, so expectations are computed from it.
type snapshot struct {
	state     breaker.State
	counts    breaker.Counts
	gen       int
	succeeded int
}

// before observes the breaker at the current instant; State first, so that
// an open period that is over becomes half-open now, as the call would see.
func (m *model) before(rt *rapid.T) snapshot {
	s := m.b.State()
	if s != m.state {
		rt.Fatalf("State() %v, model %v", s, m.state)
	}
	return snapshot{s, m.b.Counts(), m.gen, m.succeeded}
}

// applyOutcome checks the effect of a recorded outcome of class cl of a
// call of the current period (a probe if probe), given what was seen just
// before. exact is false when the clock moved in between, so that the
// window may have rolled.
func (m *model) applyOutcome(rt *rapid.T, cl kind, probe bool, before snapshot, exact bool) {
	s0, c0, gen0 := before.state, before.counts, before.gen
	c1 := m.b.Counts()
	switch {
	case s0 == breaker.StateClosed && !probe:
		switch cl {
		case kindFailure:
			var trip bool
			if exact {
				trip = m.tripped(c0.Successes, c0.Failures+1, c0.ConsecutiveFailures+1)
			} else {
				trip = m.gen != gen0
			}
			if trip {
				if m.state != breaker.StateOpen || m.gen != gen0+1 {
					rt.Fatalf("failure with counts %+v before: state %v (gen %d→%d), want open", c0, m.state, gen0, m.gen)
				}
				return
			}
			if m.gen != gen0 {
				rt.Fatalf("failure with counts %+v before: state changed to %v although no rule fires", c0, m.state)
			}
			if m.tripped(c1.Successes, c1.Failures, c1.ConsecutiveFailures) {
				rt.Fatalf("still closed after a failure with counts %+v, which trip", c1)
			}
			if exact && (c1.Failures != c0.Failures+1 || c1.ConsecutiveFailures != c0.ConsecutiveFailures+1) {
				rt.Fatalf("failure: counts %+v → %+v", c0, c1)
			}
		case kindSuccess:
			if m.gen != gen0 {
				rt.Fatalf("a success changed the state to %v", m.state)
			}
			if exact && (c1.Successes != c0.Successes+1 || c1.ConsecutiveFailures != 0) {
				rt.Fatalf("success: counts %+v → %+v", c0, c1)
			}
		default:
			if m.gen != gen0 {
				rt.Fatalf("a neutral outcome changed the state to %v", m.state)
			}
			if exact && (c1.Neutral != c0.Neutral+1 || c1.Failures != c0.Failures || c1.Successes != c0.Successes) {
				rt.Fatalf("neutral: counts %+v → %+v", c0, c1)
			}
		}
	case probe:
		switch cl {
		case kindFailure:
			if m.state != breaker.StateOpen || m.gen != gen0+1 {
				rt.Fatalf("a failed probe left the breaker %v", m.state)
			}
		case kindSuccess:
			if before.succeeded+1 >= m.probes {
				if m.state != breaker.StateClosed || m.gen != gen0+1 {
					rt.Fatalf("probe %d of %d succeeded: state %v, want closed", before.succeeded+1, m.probes, m.state)
				}
				return
			}
			if m.gen != gen0 {
				rt.Fatalf("probe %d of %d succeeded: state changed to %v", before.succeeded+1, m.probes, m.state)
			}
			m.succeeded++
			if c1.Successes != c0.Successes+1 {
				rt.Fatalf("probe success: counts %+v → %+v", c0, c1)
			}
		default:
			if m.gen != gen0 {
				rt.Fatalf("a neutral probe changed the state to %v", m.state)
			}
		}
	}
}

func (m *model) unchanged(rt *rapid.T, what string, before snapshot) {
	if m.gen != before.gen || m.b.State() != before.state {
		rt.Fatalf("%s changed the state %v → %v", what, before.state, m.state)
	}
	if c1 := m.b.Counts(); c1 != before.counts {
		rt.Fatalf("%s changed the counts %+v → %+v", what, before.counts, c1)
	}
}

func (m *model) do(rt *rapid.T) {
	k := kind(rapid.IntRange(0, int(numKinds)-1).Draw(rt, "do"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if k == kindCancel {
		cancel()
	}
	before := m.before(rt)
	s0 := before.state
	want := m.expect()
	shadow0 := m.shadowRejects.Load()

	ran := false
	var recovered any
	var opErr error
	err := func() (err error) {
		defer func() { recovered = recover() }()
		return m.b.Do(ctx, func(ctx context.Context) error {
			ran = true
			switch k {
			case kindSlow:
				time.Sleep(1500 * time.Millisecond) // sleep-ok: fake time inside rapid.SyncTest's synctest bubble
			case kindPanic:
				panic("op panic")
			}
			opErr = opError(k, ctx)
			return opErr
		})
	}()

	if ran != want.runs {
		rt.Fatalf("Do in %v (mode %v): op ran=%v, want %v", s0, m.mode, ran, want.runs)
	}
	if shadowed := m.shadowRejects.Load() - shadow0; shadowed != map[bool]int32{true: 1}[want.shadow] {
		rt.Fatalf("Do in %v (mode %v): %d shadow rejections reported, want shadow=%v", s0, m.mode, shadowed, want.shadow)
	}
	if !ran {
		if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, resilience.ErrRejected) {
			rt.Fatalf("rejected with %v, want ErrOpen", err)
		}
		m.unchanged(rt, "a rejection", before)
		return
	}
	if k == kindPanic {
		if recovered != "op panic" {
			rt.Fatalf("recovered %v, want op's panic", recovered)
		}
	} else if recovered != nil || err != opErr {
		rt.Fatalf("Do returned %v (panic %v), want op's error %v unchanged", err, recovered, opErr)
	}
	if !want.recorded {
		if k != kindSlow {
			m.unchanged(rt, "an uncounted call", before)
		}
		return
	}
	m.applyOutcome(rt, m.class(k, false), want.probe, before, k != kindSlow)
}

func (m *model) allow(rt *rapid.T) {
	before := m.before(rt)
	s0 := before.state
	want := m.expect()
	shadow0 := m.shadowRejects.Load()
	ctx, cancel := context.WithCancel(context.Background())
	done, err := m.b.Allow(ctx)
	if (err == nil) != want.runs {
		cancel()
		rt.Fatalf("Allow in %v (mode %v): admitted=%v, want %v", s0, m.mode, err == nil, want.runs)
	}
	if shadowed := m.shadowRejects.Load() - shadow0; shadowed != map[bool]int32{true: 1}[want.shadow] {
		cancel()
		rt.Fatalf("Allow in %v (mode %v): %d shadow rejections reported, want shadow=%v", s0, m.mode, shadowed, want.shadow)
	}
	if err != nil {
		cancel()
		if done != nil || !errors.Is(err, breaker.ErrOpen) {
			rt.Fatalf("Allow rejected with (%p, %v), want (nil, ErrOpen)", done, err)
		}
		m.unchanged(rt, "a rejection", before)
		return
	}
	c := &call{done: done, ctx: ctx, cancel: cancel, gen: m.gen, recorded: want.recorded, probe: want.probe,
		deadline: time.Now().Add(m.probeTimeout)}
	m.calls = append(m.calls, c)
	if c.probe {
		m.inflight = append(m.inflight, c)
	}
}

func (m *model) finish(rt *rapid.T) {
	if len(m.calls) == 0 {
		return
	}
	i := rapid.IntRange(0, len(m.calls)-1).Draw(rt, "call")
	c := m.calls[i]
	m.calls = append(m.calls[:i], m.calls[i+1:]...)
	k := drawKind(rt, "finish", kindSuccess, kindFailure, kindNeutral, kindRejected, kindCancel)
	if k == kindCancel {
		c.cancel()
	}
	before := m.before(rt)
	counts := c.recorded && c.gen == m.gen && !c.expired
	c.done(opError(k, c.ctx))
	if !counts {
		m.unchanged(rt, "a report from an earlier state, an expired probe or an uncounted call", before)
	} else {
		if c.probe {
			for j, p := range m.inflight {
				if p == c {
					m.inflight = append(m.inflight[:j], m.inflight[j+1:]...)
					break
				}
			}
		}
		m.applyOutcome(rt, m.class(k, true), c.probe, before, true)
	}
	if rapid.Bool().Draw(rt, "report twice") {
		again := m.before(rt)
		c.done(errBoom)
		m.unchanged(rt, "a second report", again)
	}
	c.cancel()
}

// burst starts concurrent callers in half-open and checks that exactly the
// free probe slots run op.
func (m *model) burst(rt *rapid.T) {
	before := m.before(rt)
	gen0 := before.gen
	if before.state != breaker.StateHalfOpen || m.mode == breaker.ModeForcedOpen || m.mode == breaker.ModeDisabled {
		return
	}
	n := rapid.IntRange(1, 8).Draw(rt, "burst")
	succeeded := before.succeeded
	probes := 0
	for range n {
		if m.expect().probe {
			probes++
			m.inflight = append(m.inflight, &call{deadline: time.Now().Add(time.Hour)})
		}
	}
	m.inflight = m.inflight[:len(m.inflight)-probes]
	wantRunning := probes
	if m.mode == breaker.ModeShadow {
		wantRunning = n
	}

	release := make(chan struct{})
	var running atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_ = m.b.Do(context.Background(), func(context.Context) error {
				running.Add(1)
				<-release
				return nil
			})
		})
	}
	synctest.Wait()
	if got := int(running.Load()); got != wantRunning {
		close(release)
		wg.Wait()
		rt.Fatalf("burst of %d in half-open (mode %v, %d of %d slots taken): %d ran op, want %d",
			n, m.mode, m.probes-probes, m.probes, got, wantRunning)
	}
	close(release)
	wg.Wait()
	// All probes succeeded.
	if succeeded+probes >= m.probes {
		if m.state != breaker.StateClosed || m.gen != gen0+1 {
			rt.Fatalf("%d+%d of %d probes succeeded: state %v, want closed", succeeded, probes, m.probes, m.state)
		}
	} else {
		if m.gen != gen0 {
			rt.Fatalf("%d+%d of %d probes succeeded: state changed to %v", succeeded, probes, m.probes, m.state)
		}
		m.succeeded += probes
	}
}

func (m *model) setMode(rt *rapid.T) {
	to := rapid.SampledFrom([]breaker.Mode{breaker.ModeNormal, breaker.ModeShadow, breaker.ModeForcedOpen, breaker.ModeDisabled}).Draw(rt, "mode")
	from := m.mode
	gen0 := m.before(rt).gen
	m.mode = to // the hook reads it
	if err := m.b.SetMode(to); err != nil {
		rt.Fatal(err)
	}
	if from == to || (from == breaker.ModeNormal || from == breaker.ModeShadow) && (to == breaker.ModeNormal || to == breaker.ModeShadow) {
		if m.gen != gen0 {
			rt.Fatalf("SetMode %v→%v changed the state to %v", from, to, m.state)
		}
		return
	}
	var want breaker.State
	switch {
	case to == breaker.ModeForcedOpen:
		want = breaker.StateOpen
	case to == breaker.ModeDisabled:
		want = breaker.StateClosed
	case from == breaker.ModeForcedOpen:
		want = breaker.StateHalfOpen
	default:
		want = breaker.StateClosed
	}
	if m.gen == gen0 { // same state: a new period without a reported change
		if m.state != want {
			rt.Fatalf("SetMode %v→%v: state %v, want %v", from, to, m.state, want)
		}
		m.newPeriod(want)
	}
	if m.state != want || m.gen != gen0+1 {
		rt.Fatalf("SetMode %v→%v: state %v after %d changes, want %v after one", from, to, m.state, m.gen-gen0, want)
	}
}

func (m *model) check(rt *rapid.T) {
	if msg := m.hookErr.Load(); msg != nil {
		rt.Fatal(msg)
	}
	s := m.b.State()
	if s != m.state {
		rt.Fatalf("State() %v, model %v", s, m.state)
	}
	if got := m.b.Mode(); got != m.mode {
		rt.Fatalf("Mode() %v, want %v", got, m.mode)
	}
	// Retained while open and while a half-open breaker awaits a probe.
	wantRetain := s != breaker.StateClosed
	if s == breaker.StateHalfOpen {
		wantRetain = false
		for _, c := range m.inflight {
			if time.Now().Before(c.deadline) {
				wantRetain = true
			}
		}
	}
	if got := m.b.Retain(); got != wantRetain {
		rt.Fatalf("Retain() %v in %v with %d probes in flight, want %v", got, s, len(m.inflight), wantRetain)
	}
	c := m.b.Counts()
	if c.Requests != c.Successes+c.Failures+c.Neutral || c.SlowCalls > c.Failures {
		rt.Fatalf("inconsistent counts %+v", c)
	}
	switch s {
	case breaker.StateOpen:
		if c != (breaker.Counts{}) {
			rt.Fatalf("counts %+v while open, want zero", c)
		}
	case breaker.StateHalfOpen:
		if c.Successes != uint32(m.succeeded) || c.Failures != 0 {
			rt.Fatalf("half-open counts %+v, model %d probes succeeded", c, m.succeeded)
		}
		if m.succeeded+len(m.inflight) > m.probes {
			rt.Fatalf("half-open holds %d succeeded and %d in-flight probes, more than %d", m.succeeded, len(m.inflight), m.probes)
		}
	case breaker.StateClosed:
		if m.mode == breaker.ModeDisabled && c != (breaker.Counts{}) {
			rt.Fatalf("disabled breaker counted %+v", c)
		}
	}
}

// TestPropertyModelCatchesBugs guards the property test itself: a model
// that never admits in half-open must be caught.
func TestPropertyModelCatchesBugs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, HalfOpenProbes: 2})
		m := &model{b: b, probes: 2, state: breaker.StateHalfOpen}
		m.inflight = []*call{{deadline: time.Now().Add(time.Second)}, {deadline: time.Now().Add(time.Second)}}
		if m.expect().runs {
			t.Fatalf("model admits a third probe")
		}
		time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		if !m.expect().probe {
			t.Fatalf("model does not free expired probe slots")
		}
	})
}
