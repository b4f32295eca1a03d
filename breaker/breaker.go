// Package breaker provides a circuit breaker: when a dependency is failing,
// callers stop waiting on it at once, and it is probed gently until it
// recovers.
//
// A [Breaker] is closed at first and lets every call through, counting
// outcomes. When a trip rule fires (so many failures in a row, or a failure
// ratio over a rolling window once it holds enough calls) it opens and
// rejects every call with [ErrOpen] for about Config.OpenFor (jittered, so a
// fleet does not probe in lockstep). Then it is half-open: it admits
// Config.HalfOpenProbes probes, closes when they have all succeeded and opens
// again at the first failure.
//
// # Outcomes
//
// A call that returns nil is a success, unless it took longer than
// Config.SlowCall, which makes it a failure. A call that panics is a failure
// (the panic goes on). An error is neutral, counting neither way, when the
// caller's own context has ended (cancellation or the caller's deadline),
// when it is another policy's rejection ([resilience.ErrRejected]) or when
// Config.IsFailure says so; by default that is when
// [resilience.IsNeutral] reports true, which is how the HTTP and gRPC
// adapters mark client errors (HTTP 4xx other than 408 and 429, gRPC
// InvalidArgument, NotFound, …). Every other error is a failure, including a
// per-attempt timeout inside the breaker while the caller's context is
// alive.
//
// An outcome counts only in the state period in which its call started: the
// result of a call that was admitted before a state change is ignored, with
// one exception. With Config.ProbeFailAfter set, a probe that has no answer
// after that long counts as a failure (the breaker opens again, without
// waiting for a probe that may hang until its own timeout); if that probe,
// or another that was in flight with it, succeeds later, its success still
// counts, as a probe's.
//
// # Placement
//
// In a chain, put the breaker inside the retries and outside the bulkhead
// and the per-attempt timeout:
//
//	overall timeout → retry → breaker → bulkhead → per-attempt timeout → call
//
// Each attempt then counts, an open breaker stops the retries at once (its
// rejection is not retried), a full bulkhead's rejection counts as neutral
// and a per-attempt timeout as a failure.
//
// # Relation to gobreaker
//
// The state machine follows github.com/sony/gobreaker/v2 (generations, a
// bucketed rolling window aligned on the state change, a half-open state that
// admits a fixed number of probes and closes when all succeed), and a test
// checks that both agree step by step. It is not built on gobreaker's
// CircuitBreaker because that type cannot provide what this package adds:
// its OnStateChange runs under its mutex (a hook that calls State
// deadlocks); its open period is a fixed Timeout, so it cannot be jittered;
// a two-step probe that never reports leaves it half-open forever; and its
// two-step API allocates on every call, while Do here allocates nothing.
//
// # Control
//
// [Breaker.SetMode] forces a breaker open or closed (disabled), or puts it
// in shadow mode, where it computes its state and reports would-be
// rejections but lets every call through. [Breaker.Allow] is the two-step
// form of [Breaker.Do] for adapters that cannot wrap a call in a function,
// such as gRPC streams.
//
// # Telemetry
//
// By default a breaker reports through the global OpenTelemetry meter
// provider (Config.Telemetry configures it; package telemetry's
// INSTRUMENTS.md has the reference): resilience.calls and
// resilience.call.duration for every call it let run, by outcome (success;
// failure, slow calls and panics included; neutral) and for every rejection
// (outcome rejected, duration zero); the resilience.breaker.state gauge
// (0 closed, 1 half-open, 2 open, as [Breaker.State] reports it, though
// reading it delivers no state change);
// resilience.breaker.transitions for each state change; and, in shadow mode,
// resilience.breaker.shadow_rejections. A rejection, or in shadow mode a
// would-be rejection, adds a resilience.breaker.rejected event to the span
// in the caller's context. With Config.Telemetry.Logger set, each state
// change is logged (Warn when the breaker opens, Info otherwise); nothing is
// logged per call. With no SDK installed, this costs the success path one
// atomic load. [Breaker.Status] is the breaker's entry on a status page.
package breaker

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/notbuilt"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// Breaker is a circuit breaker and a [resilience.Policy]. See the package
// documentation for how it decides.
//
// A Breaker is safe for concurrent use. Its zero value is not usable: its
// Do, Allow and SetMode return an error saying it was not built with [New],
// without running op, and its other methods report an empty breaker (State
// StateClosed, zero Counts, an empty Status). A nil *Breaker behaves the
// same. A call in the closed state takes no lock to be admitted, and a
// rejection by an open breaker takes none either; neither allocates.
type Breaker struct {
	// word packs the generation, the mode and the state (see pack) so that
	// the closed state admits and the open state rejects without b.mu.
	word atomic.Uint64
	// openUntil is when the current open period ends, in nanoseconds since
	// epoch.
	openUntil atomic.Int64

	cfg   settings
	epoch time.Time // origin of b.now, with a monotonic reading

	openErr, halfOpenErr error // returned on rejection; never allocated per call

	rec *observe.Recorder // nil when telemetry is disabled; see observe.go
	key string            // Config.Telemetry.Key, sanitized, for Status

	mu          sync.Mutex
	state       State
	mode        Mode
	gen         uint64 // bumped at every state change and mode change
	win         window
	consecutive uint32 // failures since the last success
	// half-open bookkeeping
	admitted  uint32  // probe slots taken: probes in flight or succeeded
	succeeded uint32  // probes that succeeded
	inflight  []probe // probes in flight, for their deadlines
	overdue   []probe // probes failed by ProbeFailAfter, awaited until their deadline
	lastProbe uint64  // id of the last probe admitted
	// events for flush, see observe.go
	pending, spare []event
	delivering     bool
}

// A probe is a half-open call that has not reported yet.
type probe struct {
	id       uint64
	deadline int64 // when its slot is freed if it has not reported
	failAt   int64 // when it fails if it has not reported (ProbeFailAfter)
}

// A ticket is what admission gives a call to report its outcome with.
type ticket struct {
	gen    uint64 // the generation in which the call was admitted
	probe  uint64 // the probe's id, or 0 if the call is not a probe
	record bool   // whether the outcome may count at all
}

// The layout of Breaker.word: bits 0-1 hold the state, bits 2-3 the mode,
// bit 4 is set by New (builtBit) and the rest hold the generation. A closed
// breaker in ModeNormal or ModeShadow has word&fastMask == builtBit and
// admits without a lock; the zero Breaker, whose word is 0, takes the slow
// path, which refuses it, so the fast path needs no test of its own.
const (
	stateBits = 0b0_0011
	modeShift = 2
	builtBit  = 0b1_0000
	genShift  = 5
	fastMask  = 0b1_1011 // the state, the high bit of the mode and builtBit
)

// errNotBuilt is returned by the methods of a Breaker not built with New.
var errNotBuilt error = notbuilt.New("breaker: Breaker not built with New")

var (
	_ resilience.Policy        = (*Breaker)(nil)
	_ resilience.Retainer      = (*Breaker)(nil)
	_ telemetry.StatusReporter = (*Breaker)(nil)
)

// New returns a Breaker for cfg, or an error naming the bad field and value.
func New(cfg Config) (*Breaker, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		cfg:         s,
		epoch:       time.Now(),
		openErr:     &OpenError{Name: s.name, State: StateOpen},
		halfOpenErr: &OpenError{Name: s.name, State: StateHalfOpen},
		mode:        s.mode,
		win:         window{width: s.bucket},
	}
	b.win.reset(0)
	switch b.mode {
	case ModeForcedOpen:
		b.state = StateOpen
	case ModeDisabled, ModeNormal, ModeShadow:
		b.state = StateClosed
	}
	b.publish()
	b.rec = observe.NewRecorder(observe.KindBreaker, s.name, cfg.Telemetry)
	b.key = observe.StoredKey(cfg.Telemetry.Key)
	// The gauge reports what State would, without State's side effect: see
	// peekState. The closure and the recorder form a cycle with b that the
	// garbage collector frees as a whole; the meter holds the recorder only
	// weakly.
	b.rec.ObserveState(func() observe.BreakerState { return observe.BreakerState(b.peekState()) })
	return b, nil
}

// Name returns the breaker's name.
func (b *Breaker) Name() string {
	if b == nil {
		return ""
	}
	return b.cfg.name
}

// built reports whether b was built with New. It reads a field that New
// always sets (to a positive bucket width): no atomic.
func (b *Breaker) built() bool { return b != nil && b.cfg.bucket > 0 }

// now returns the monotonic time in nanoseconds since b was made. All the
// breaker's time goes through time.Now, which testing/synctest fakes.
func (b *Breaker) now() int64 { return int64(time.Since(b.epoch)) }

// publish stores the state, mode and generation for the lock-free paths.
// b.mu must be held.
func (b *Breaker) publish() {
	b.word.Store(b.gen<<genShift | builtBit | uint64(b.mode)<<modeShift | uint64(b.state))
}

// Do runs op if the breaker admits the call, and returns op's error; if it
// does not, Do returns an error matching [ErrOpen] (an [*OpenError]) without
// running op. A panic in op counts as a failure and goes on. ctx is passed
// to op unchanged; it must not be nil. On a Breaker not built with [New] (a
// zero or nil one), Do returns an error saying so, without running op.
func (b *Breaker) Do(ctx context.Context, op func(context.Context) error) error {
	t, err := b.admit(ctx)
	if err != nil {
		return err
	}
	// The start is read only when a duration is needed: for the slow-call
	// rule or for telemetry. A clock read costs tens of nanoseconds here.
	var start int64
	timed := b.cfg.slowCall > 0 || b.rec.Measuring()
	if timed {
		start = b.now()
	}
	returned := false
	defer func() {
		if !returned {
			// op panicked (or exited its goroutine). Count it, so that a
			// probe that never returns cannot keep the breaker half-open.
			end := b.now()
			b.complete(ctx, t, outcomeFailure, end, elapsed(timed, start, end))
		}
	}()
	err = op(ctx)
	end := b.now()
	d := elapsed(timed, start, end)
	// Classified before returned is set: a panic in Config.IsFailure
	// counts as a failure too, and frees a probe's slot.
	o := b.classify(ctx, err, d, true)
	returned = true
	b.complete(ctx, t, o, end, d)
	return err
}

// elapsed is the duration of a call that started at start and ended at end,
// or zero when the call was not timed.
func elapsed(timed bool, start, end int64) time.Duration {
	if !timed {
		return 0
	}
	return time.Duration(end - start)
}

// Allow is the two-step form of [Breaker.Do], for adapters that cannot wrap
// a call in a function, such as a gRPC stream that is admitted when it opens
// and reports when it ends. If the breaker admits the call, Allow returns a
// done function to call with the call's final error, classified as Do's
// would be except that the SlowCall rule does not apply; ctx is the call's
// context and decides whether an error is the caller's own cancellation.
// Calls to done after the first do nothing, and done is safe to call from
// any goroutine. If done is never called, nothing leaks: a probe's slot is
// freed after Config.ProbeTimeout.
//
// If the breaker rejects the call, Allow returns a nil done and an error
// matching [ErrOpen]; on a Breaker not built with [New], a nil done and an
// error saying so.
//
// Allow allocates (the done function); Do does not.
func (b *Breaker) Allow(ctx context.Context) (done func(err error), err error) {
	t, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	c := &twoStep{b: b, ctx: ctx, t: t, start: b.now()}
	return c.done, nil
}

type twoStep struct {
	b        *Breaker
	ctx      context.Context
	t        ticket
	start    int64
	reported atomic.Bool
}

func (c *twoStep) done(err error) {
	if c.reported.Swap(true) {
		return
	}
	end := c.b.now()
	completed := false
	defer func() {
		if !completed {
			// Config.IsFailure panicked: a failure, as in Do.
			c.b.complete(c.ctx, c.t, outcomeFailure, end, time.Duration(end-c.start))
		}
	}()
	o := c.b.classify(c.ctx, err, 0, false)
	completed = true
	c.b.complete(c.ctx, c.t, o, end, time.Duration(end-c.start))
}

// admit decides whether a call may run. The closed state takes no lock.
func (b *Breaker) admit(ctx context.Context) (ticket, error) {
	if b == nil {
		return ticket{}, errNotBuilt
	}
	w := b.word.Load()
	if w&fastMask == builtBit {
		return ticket{gen: w >> genShift, record: true}, nil
	}
	return b.admitSlow(ctx, w)
}

func (b *Breaker) admitSlow(ctx context.Context, w uint64) (ticket, error) {
	if w&builtBit == 0 {
		return ticket{}, errNotBuilt
	}
	mode := Mode(w >> modeShift & 3)
	switch mode {
	case ModeDisabled:
		return ticket{}, nil
	case ModeForcedOpen:
		b.rejected(ctx, StateOpen)
		return ticket{}, b.openErr
	}
	if State(w&stateBits) == StateOpen && b.now() < b.openUntil.Load() {
		return b.refuse(ctx, mode, StateOpen)
	}

	b.mu.Lock()
	now := b.now()
	b.update(now)
	mode = b.mode
	var t ticket
	refused := StateClosed // a state that rejected the call, if not closed
	switch {
	case mode == ModeDisabled:
	case mode == ModeForcedOpen || b.state == StateOpen:
		refused = StateOpen
	case b.state == StateClosed:
		t = ticket{gen: b.gen, record: true}
	case b.takeProbe(now):
		t = ticket{gen: b.gen, probe: b.lastProbe, record: true}
	default:
		refused = StateHalfOpen
	}
	flush := b.mustFlush()
	b.mu.Unlock()
	if flush {
		b.flushAdmitted(ctx, t)
	}
	if refused != StateClosed {
		return b.refuse(ctx, mode, refused)
	}
	return t, nil
}

// flushAdmitted runs the pending hooks for a call that admission gave
// ticket t. If a hook panics, the call never runs: its probe slot, if it
// took one, is given back (the outcome neutral) before the panic goes on,
// so that the breaker does not wait out ProbeTimeout for it.
func (b *Breaker) flushAdmitted(ctx context.Context, t ticket) {
	if t.probe == 0 {
		b.flush()
		return
	}
	flushed := false
	defer func() {
		if !flushed {
			b.complete(ctx, t, outcomeNeutral, b.now(), 0)
		}
	}()
	b.flush()
	flushed = true
}

// refuse rejects a call in state s, or in ModeShadow lets it run without
// counting it.
func (b *Breaker) refuse(ctx context.Context, mode Mode, s State) (ticket, error) {
	if mode == ModeShadow {
		b.shadowRejected(ctx, s)
		return ticket{}, nil
	}
	b.rejected(ctx, s)
	if s == StateHalfOpen {
		return ticket{}, b.halfOpenErr
	}
	return ticket{}, b.openErr
}

// takeProbe takes a half-open probe slot if one is free, freeing the slots
// of probes past their deadline first when none is. b.mu must be held.
func (b *Breaker) takeProbe(now int64) bool {
	if b.admitted >= b.cfg.probes {
		b.expireProbes(now)
		if b.admitted >= b.cfg.probes {
			return false
		}
	}
	b.admitted++
	b.lastProbe++
	p := probe{id: b.lastProbe, deadline: addSat(now, b.cfg.probeTimeout), failAt: math.MaxInt64}
	if b.cfg.probeFailAfter > 0 {
		p.failAt = addSat(now, b.cfg.probeFailAfter)
	}
	b.inflight = append(b.inflight, p)
	return true
}

// failOverdueProbes opens a half-open breaker again if a probe in flight has
// run past ProbeFailAfter, as of the moment it did (the open period starts
// then, not when a call happened to notice), and keeps every probe in flight
// as overdue: their late successes still count, so that a slow but healthy
// dependency can close a breaker that needs several probes. b.mu must be
// held.
func (b *Breaker) failOverdueProbes(now int64) {
	failedAt := int64(math.MaxInt64)
	for _, p := range b.inflight {
		failedAt = min(failedAt, p.failAt)
	}
	if failedAt > now {
		return
	}
	b.forgetOverdue(now)
	for _, p := range b.inflight {
		if len(b.overdue) == maxOverdue {
			b.overdue = slices.Delete(b.overdue, 0, 1) // the oldest
		}
		b.overdue = append(b.overdue, p)
	}
	b.setState(StateOpen, failedAt)
}

// forgetOverdue drops the overdue probes past their deadline (ProbeTimeout
// from their start): their outcome no longer counts. b.mu must be held.
func (b *Breaker) forgetOverdue(now int64) {
	kept := b.overdue[:0]
	for _, p := range b.overdue {
		if p.deadline > now {
			kept = append(kept, p)
		}
	}
	clear(b.overdue[len(kept):])
	b.overdue = kept
}

// clearOverdue forgets every overdue probe. b.mu must be held.
func (b *Breaker) clearOverdue() {
	clear(b.overdue)
	b.overdue = b.overdue[:0]
}

// lateProbe records the outcome of an overdue probe, and reports whether it
// counted: a success counts as a probe that succeeded, and moves an open
// breaker to half-open first; other outcomes were counted as the failure
// already. b.mu must be held.
func (b *Breaker) lateProbe(t ticket, o outcome, now int64) bool {
	i := slices.IndexFunc(b.overdue, func(p probe) bool { return p.id == t.probe })
	if i < 0 {
		return false
	}
	forgotten := b.overdue[i].deadline <= now // reported after ProbeTimeout
	b.overdue = slices.Delete(b.overdue, i, i+1)
	if forgotten || o != outcomeSuccess || b.mode == ModeForcedOpen || b.mode == ModeDisabled || b.state == StateClosed {
		return false
	}
	if b.state == StateOpen {
		b.setState(StateHalfOpen, now)
	}
	b.win.count(o)
	b.consecutive = 0
	b.succeeded++
	if b.succeeded >= b.cfg.probes {
		b.setState(StateClosed, now)
	}
	return true
}

func (b *Breaker) expireProbes(now int64) {
	kept := b.inflight[:0]
	for _, p := range b.inflight {
		if p.deadline > now {
			kept = append(kept, p)
			continue
		}
		b.admitted--
		b.queue(event{kind: eventProbeExpired})
	}
	b.inflight = kept
}

// releaseProbe removes probe id from the in-flight list and reports whether
// it was there (it is not when its slot expired). b.mu must be held.
func (b *Breaker) releaseProbe(id uint64) bool {
	for i, p := range b.inflight {
		if p.id == id {
			last := len(b.inflight) - 1
			b.inflight[i] = b.inflight[last]
			b.inflight = b.inflight[:last]
			return true
		}
	}
	return false
}

// complete records the outcome of an admitted call that ended at end.
func (b *Breaker) complete(ctx context.Context, t ticket, o outcome, end int64, d time.Duration) {
	recorded := false
	flush := false
	if t.record {
		b.mu.Lock()
		if t.gen == b.gen {
			recorded = b.record(t, o, end)
		} else if t.probe != 0 && len(b.overdue) > 0 {
			recorded = b.lateProbe(t, o, end)
		}
		flush = b.mustFlush()
		b.mu.Unlock()
	}
	if flush {
		b.flush()
	}
	b.observed(ctx, o, d, recorded)
}

// record counts outcome o of a call admitted in the current generation and
// changes state if a rule says so. b.mu must be held.
func (b *Breaker) record(t ticket, o outcome, now int64) bool {
	switch b.state {
	case StateClosed:
		b.win.add(now, o)
		switch o {
		case outcomeSuccess:
			b.consecutive = 0
		case outcomeFailure, outcomeSlow:
			b.consecutive++
			if b.tripped() {
				b.setState(StateOpen, now)
			}
		}
		return true
	case StateHalfOpen:
		if !b.releaseProbe(t.probe) {
			return false // its slot expired and may have gone to another probe
		}
		// The window does not roll in half-open: Counts shows every probe.
		b.win.count(o)
		switch o {
		case outcomeSuccess:
			b.consecutive = 0
			b.succeeded++
			if b.succeeded >= b.cfg.probes {
				b.setState(StateClosed, now)
			}
		case outcomeFailure, outcomeSlow:
			// The dependency failed a probe just now: an overdue probe
			// that started earlier may no longer close the breaker.
			b.clearOverdue()
			b.setState(StateOpen, now)
		case outcomeNeutral:
			b.admitted--
		}
		return true
	}
	return false
}

// tripped reports whether a trip rule fires. b.mu must be held.
func (b *Breaker) tripped() bool {
	if b.cfg.consecutive > 0 && b.consecutive >= b.cfg.consecutive {
		return true
	}
	if b.cfg.ratio > 0 {
		calls := b.win.total.successes + b.win.total.failures
		return calls >= uint64(b.cfg.minCalls) && float64(b.win.total.failures) >= b.cfg.ratio*float64(calls)
	}
	return false
}

// update moves an open breaker whose time is up to half-open. b.mu must be
// held.
func (b *Breaker) update(now int64) {
	if b.mode == ModeForcedOpen {
		return
	}
	if b.state == StateHalfOpen && b.cfg.probeFailAfter > 0 {
		b.failOverdueProbes(now)
	}
	// (A probe that failed long ago may have opened a period that is over
	// already.)
	if b.state == StateOpen && now >= b.openUntil.Load() {
		b.setState(StateHalfOpen, now)
	}
}

// setState starts a new state period: a new generation with fresh counts.
// b.mu must be held.
func (b *Breaker) setState(to State, now int64) {
	from := b.state
	b.state = to
	b.gen++
	b.win.reset(now)
	b.consecutive = 0
	b.admitted, b.succeeded = 0, 0
	b.inflight = b.inflight[:0]
	if to == StateClosed {
		// The dependency is back: overdue probes are no longer awaited.
		b.clearOverdue()
	}
	if to == StateOpen {
		b.openUntil.Store(addSat(now, int64(b.openPeriod())))
	}
	b.publish()
	if from != to {
		b.queue(event{kind: eventTransition, from: from, to: to})
	}
}

// openPeriod returns OpenFor jittered uniformly by ±openJitter.
func (b *Breaker) openPeriod() time.Duration {
	f := float64(b.cfg.openFor) * (1 - openJitter + 2*openJitter*rand.Float64())
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}

// State returns the breaker's current state. In ModeForcedOpen it is
// StateOpen and in ModeDisabled StateClosed; in ModeShadow it is the
// computed state. An open breaker whose time is up becomes half-open when
// State (or a call) looks at it.
func (b *Breaker) State() State {
	if b == nil {
		return StateClosed
	}
	w := b.word.Load()
	s := State(w & stateBits)
	if s != StateOpen || Mode(w>>modeShift&3) == ModeForcedOpen || b.now() < b.openUntil.Load() {
		return s
	}
	b.mu.Lock()
	b.update(b.now())
	s = b.state
	flush := b.mustFlush()
	b.mu.Unlock()
	if flush {
		b.flush()
	}
	return s
}

// peekState returns what State would return, without moving an open breaker
// whose time is up to half-open: it takes no lock and delivers no state
// change. The state gauge reads it, from inside the metric SDK's collection,
// where the SDK holds its own lock: a state change delivered there would run
// OnStateChange under that lock, and a hook that builds a policy on the
// same provider (a keyed factory) would deadlock. The change is delivered by
// the next call or State instead.
func (b *Breaker) peekState() State {
	w := b.word.Load()
	s := State(w & stateBits)
	if s == StateOpen && Mode(w>>modeShift&3) != ModeForcedOpen && b.now() >= b.openUntil.Load() {
		return StateHalfOpen
	}
	return s
}

// Mode returns the breaker's mode.
func (b *Breaker) Mode() Mode {
	if b == nil {
		return ModeNormal
	}
	return Mode(b.word.Load() >> modeShift & 3)
}

// SetMode changes the breaker's mode (see [Mode]); it returns an error, and
// changes nothing, for an unknown mode. Forcing the breaker open or closed
// reports the state change to OnStateChange like any other; so does leaving
// ModeForcedOpen, which goes to half-open. Switching between ModeNormal and
// ModeShadow keeps the state and the counts. On a Breaker not built with
// [New] it returns an error saying so.
func (b *Breaker) SetMode(m Mode) error {
	if !b.built() {
		return errNotBuilt
	}
	if !m.valid() {
		return fmt.Errorf("breaker: Mode %d is unknown", int(m))
	}
	b.mu.Lock()
	old := b.mode
	if old != m {
		b.mode = m
		now := b.now()
		if forcing(old) || forcing(m) {
			// A probe started before an operator forced the breaker
			// must not decide its state after.
			b.clearOverdue()
		}
		switch {
		case m == ModeForcedOpen:
			b.setState(StateOpen, now)
		case m == ModeDisabled:
			b.setState(StateClosed, now)
		case old == ModeForcedOpen:
			b.setState(StateHalfOpen, now)
		case old == ModeDisabled:
			b.setState(StateClosed, now)
		default: // between ModeNormal and ModeShadow
			b.publish()
		}
	}
	flush := b.mustFlush()
	b.mu.Unlock()
	if flush {
		b.flush()
	}
	return nil
}

// forcing reports whether m decides the state by itself.
func forcing(m Mode) bool { return m == ModeForcedOpen || m == ModeDisabled }

// Counts returns what the breaker has recorded in its current state period
// (see [Counts]).
func (b *Breaker) Counts() Counts {
	if !b.built() {
		return Counts{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == StateClosed {
		b.win.advance(b.now())
	}
	t := b.win.total
	return Counts{
		Requests:            sat32(t.successes + t.failures + t.neutral),
		Successes:           sat32(t.successes),
		Failures:            sat32(t.failures),
		SlowCalls:           sat32(t.slow),
		Neutral:             sat32(t.neutral),
		ConsecutiveFailures: b.consecutive,
	}
}

// Retain reports whether the breaker holds state that must not be lost by
// evicting it from a per-key cache ([resilience.Retainer]): true while it is
// forced open, while it is open and its open period runs, and while it is
// half-open and awaits a probe (in flight, or overdue and awaited until its
// ProbeTimeout), in any mode.
//
// A half-open breaker that awaits no probe is not retained: its key has not
// been called since the open period ended. Were it retained until its next
// call, keys that failed once and were never called again (a million
// attacker-chosen hosts, say) would fill a per-key cache for good and send
// every new key to its shared overflow instance. The breaker that replaces
// it starts closed, and opens again by its trip rules.
func (b *Breaker) Retain() bool {
	if b == nil {
		return false
	}
	w := b.word.Load()
	switch {
	case Mode(w>>modeShift&3) == ModeForcedOpen:
		return true
	case State(w&stateBits) == StateClosed:
		return false
	}
	now := b.now()
	if State(w&stateBits) == StateOpen && now < b.openUntil.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == StateOpen && now < b.openUntil.Load() {
		// Read again under the lock: retained while its open period runs.
		return true
	}
	// Half-open, or open past its period (half-open to whoever looks):
	// retained while a probe is awaited.
	for _, ps := range [2][]probe{b.inflight, b.overdue} {
		for _, p := range ps {
			if now < p.deadline {
				return true
			}
		}
	}
	return false
}
