// Package observe is the telemetry machinery that every policy and adapter
// of the module shares: a [Recorder] per policy instance that records
// metrics through the OpenTelemetry metric API, adds span events to the
// caller's span, and logs state transitions through log/slog.
//
// It is built for the policies' hot paths. Instruments and attribute sets
// are made once, in [NewRecorder]; a call records with prebuilt option
// slices and allocates nothing; with no SDK installed the success path of a
// call costs one atomic load, and a nil *Recorder (telemetry disabled) one
// nil check. The instrument and attribute names are documented in
// telemetry/INSTRUMENTS.md.
//
// # When measurements flow
//
// A recorder built on an explicit provider, or on the global provider after
// an SDK was installed, records from the start. A recorder built on the
// global provider before any SDK was installed costs almost nothing; it
// starts recording successful and rejected calls the first time it learns
// that an SDK is present, which is the earliest of: the SDK's first
// collection (the package registers one observable callback on the global
// meter for this), the construction of any new recorder, or any failure,
// timeout, neutral outcome, retry, wait or transition recorded anywhere in
// the process. Those slower events are recorded as soon as the SDK is
// installed, and the observable gauges are read at each collection.
// Checking the global provider exactly on every call would cost an interface
// call per call, too much against policies whose whole success path (or an
// open breaker's rejection) is a few nanoseconds.
package observe

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeguard/resilience/telemetry"
)

// gate.live (globalLive) is true once an SDK is known to be behind the global meter
// provider. It is read on every call by recorders built on the global
// provider and written a handful of times in a process's life; the padding
// keeps other variables' writes off its cache line.
var gate struct {
	_    [64]byte
	live atomic.Bool
	_    [64]byte
}

var globalLive = &gate.live

// watchOnce guards the one callback registered on the global meter that
// sets globalLive at the SDK's first collection.
var watchOnce sync.Once

// epoch anchors [Stamp]: a clock reading a century before start-up, so that
// time.Since(epoch) stays positive also inside a testing/synctest bubble,
// whose fake clock starts in the year 2000 (and still fits an int64 of
// nanoseconds for another 190 years).
var epoch = time.Now().Add(-100 * 365 * 24 * time.Hour)

// A Recorder records the telemetry of one policy instance. Build it once,
// in the policy's New, with [NewRecorder], and keep it in the policy.
//
// A nil *Recorder is valid and records nothing: every method is a no-op on
// it, so a policy with telemetry disabled pays one nil check per call. A
// Recorder is safe for concurrent use. It holds no goroutine and needs no
// Close; the gauge callbacks it registers end when the garbage collector
// frees it (see [Recorder.ObserveState]).
type Recorder struct {
	kind     Kind
	name     string       // admitted resilience.policy.name
	key      string       // admitted resilience.key, or empty
	live     *atomic.Bool // globalLive, or &own for an explicit provider
	own      atomic.Bool
	isGlobal bool

	meter    metric.Meter
	calls    metric.Int64Counter
	duration metric.Float64Histogram

	// Kind-specific instruments; no-op instruments for other kinds.
	wait             metric.Float64Histogram
	retries          metric.Int64Counter
	retryDelay       metric.Float64Histogram
	budgetRejections metric.Int64Counter
	transitions      metric.Int64Counter
	shadowRejections metric.Int64Counter
	stateGauge       metric.Int64ObservableGauge
	inFlightGauge    metric.Int64ObservableUpDownCounter
	queuedGauge      metric.Int64ObservableUpDownCounter
	observables      []metric.Observable // the kind's real observable instruments

	// Prebuilt measurement options: recording passes these slices as they
	// are, so it allocates nothing.
	addOpts    [numOutcomes][]metric.AddOption
	recOpts    [numOutcomes][]metric.RecordOption
	baseAdd    []metric.AddOption
	baseRec    []metric.RecordOption
	baseObs    []metric.ObserveOption
	reasonAdd  [numReasons][]metric.AddOption
	transAdd   [numStates][numStates][]metric.AddOption
	eventAttrs []attribute.KeyValue // kind, name and key, for span events
	rejectName string               // span event name of this kind's rejection

	logger *slog.Logger

	gaugeMu    sync.Mutex // serializes ObserveState and ObserveLoad
	gauges     atomic.Pointer[gaugeFuncs]
	registered bool // guarded by gaugeMu
}

// gaugeFuncs are the policy's functions that the gauge callback reads.
type gaugeFuncs struct {
	state    func() BreakerState
	inFlight func() int64
	queued   func() int64
}

// NewRecorder returns the recorder for a policy of the given kind and name,
// configured by s (the policy Config's Telemetry field). It returns nil when
// s.Disabled is set; a nil *Recorder records nothing.
//
// NewRecorder creates the instruments the kind uses and every attribute set
// the recorder will need, so it allocates; call it once per policy
// instance, never per call. An empty name means the kind. The name and
// s.Key are sanitized ([SanitizeKey]) and capped ([MaxNames],
// [MaxKeysPerName], [MaxKeys]) before they reach any attribute or log.
func NewRecorder(kind Kind, name string, s telemetry.Settings) *Recorder {
	if s.Disabled {
		return nil
	}
	if name = SanitizeKey(name); name == "" {
		name = string(kind)
	}
	name, key := defaultLimiter.admit(name, s.Key)

	mp := s.MeterProvider
	isGlobal := mp == nil
	if isGlobal {
		mp = otel.GetMeterProvider()
	}
	var m metric.Meter
	if mp != nil {
		m = mp.Meter(ScopeName)
	}
	if m == nil {
		m = noop.Meter{}
	}

	r := &Recorder{kind: kind, name: name, key: key, meter: m, isGlobal: isGlobal}
	r.live = &r.own
	if isGlobal {
		r.live = globalLive
	}
	r.buildInstruments(m)
	r.buildOptions()
	if s.Logger != nil {
		args := []any{AttrKind, string(kind), AttrName, name}
		if key != "" {
			args = append(args, AttrKey, key)
		}
		r.logger = s.Logger.With(args...)
	}

	if isGlobal && !globalLive.Load() {
		watchGlobal(m)
	}
	r.refresh(context.Background())
	return r
}

func (r *Recorder) buildInstruments(m metric.Meter) {
	r.calls = counter(m, MetricCalls, "Calls a policy handled, by outcome.", unitCall)
	r.duration = histogram(m, MetricCallDuration, "How long calls took through a policy, by outcome.")

	r.wait = noop.Float64Histogram{}
	r.retries = noop.Int64Counter{}
	r.retryDelay = noop.Float64Histogram{}
	r.budgetRejections = noop.Int64Counter{}
	r.transitions = noop.Int64Counter{}
	r.shadowRejections = noop.Int64Counter{}
	r.stateGauge = noop.Int64ObservableGauge{}
	r.inFlightGauge = noop.Int64ObservableUpDownCounter{}
	r.queuedGauge = noop.Int64ObservableUpDownCounter{}
	r.rejectName = "resilience." + string(r.kind) + ".rejected"

	switch r.kind {
	case KindBreaker:
		r.rejectName = EventBreakerRejected
		r.transitions = counter(m, MetricBreakerTransitions, "Circuit breaker state transitions.", unitTransition)
		r.shadowRejections = counter(m, MetricBreakerShadowRejected,
			"Calls a breaker in shadow mode would have rejected but let through.", unitCall)
		r.stateGauge = stateGauge(m)
		r.observables = []metric.Observable{r.stateGauge}
	case KindBulkhead:
		r.rejectName = EventBulkheadRejected
		r.wait = histogram(m, MetricWaitDuration, "How long calls waited for admission, by outcome of the wait.")
		g, err := m.Int64ObservableUpDownCounter(MetricBulkheadInFlight,
			metric.WithDescription("Calls running inside a bulkhead."), metric.WithUnit(unitCall))
		r.inFlightGauge = orNoop(g, err, r.inFlightGauge)
		g, err = m.Int64ObservableUpDownCounter(MetricBulkheadQueued,
			metric.WithDescription("Calls waiting for a bulkhead slot."), metric.WithUnit(unitCall))
		r.queuedGauge = orNoop(g, err, r.queuedGauge)
		r.observables = []metric.Observable{r.inFlightGauge, r.queuedGauge}
	case KindRateLimit:
		r.rejectName = EventRateLimitRejected
		r.wait = histogram(m, MetricWaitDuration, "How long calls waited for admission, by outcome of the wait.")
	case KindRetry:
		r.rejectName = EventRetryBudgetRejected
		r.retries = counter(m, MetricRetryAttempts, "Retries scheduled: attempts after the first, by reason.", unitRetry)
		r.retryDelay = histogram(m, MetricRetryDelay, "Delays waited before retries.")
		r.budgetRejections = counter(m, MetricRetryBudgetRejections,
			"Retries refused because the retry budget was exhausted.", unitRetry)
	}
}

func (r *Recorder) buildOptions() {
	base := []attribute.KeyValue{
		attribute.String(AttrKind, string(r.kind)),
		attribute.String(AttrName, r.name),
	}
	if r.key != "" {
		base = append(base, attribute.String(AttrKey, r.key))
	}
	with := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		kv := append(append(make([]attribute.KeyValue, 0, len(base)+len(extra)), base...), extra...)
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	baseOpt := with()
	r.baseAdd = []metric.AddOption{baseOpt}
	r.baseRec = []metric.RecordOption{baseOpt}
	r.baseObs = []metric.ObserveOption{baseOpt}
	for o := range numOutcomes {
		opt := with(attribute.String(AttrOutcome, o.String()))
		r.addOpts[o] = []metric.AddOption{opt}
		r.recOpts[o] = []metric.RecordOption{opt}
	}
	if r.kind == KindRetry {
		for rs := range numReasons {
			r.reasonAdd[rs] = []metric.AddOption{with(attribute.String(AttrRetryReason, rs.String()))}
		}
	}
	if r.kind == KindBreaker {
		for from := range BreakerState(numStates) {
			for to := range BreakerState(numStates) {
				r.transAdd[from][to] = []metric.AddOption{with(
					attribute.String(AttrPreviousState, from.String()),
					attribute.String(AttrState, to.String()))}
			}
		}
	}
	r.eventAttrs = base
}

// refresh reports whether measurements should be recorded now, first
// checking the instruments when the recorder does not know yet. Only paths
// that are not the success path call it: it costs interface calls.
func (r *Recorder) refresh(ctx context.Context) bool {
	if r.live.Load() {
		return true
	}
	// The global provider's instruments all switch to the SDK at once, so
	// one of them tells; if a View dropped it, the SDK's first collection
	// still turns the recorder on (watchGlobal).
	on := r.calls.Enabled(ctx)
	if !on && !r.isGlobal {
		// An explicit provider's Views may drop any instrument: the
		// recorder is live if any of its own is kept.
		on = r.duration.Enabled(ctx) || r.wait.Enabled(ctx) || r.retries.Enabled(ctx) ||
			r.retryDelay.Enabled(ctx) || r.budgetRejections.Enabled(ctx) ||
			r.transitions.Enabled(ctx) || r.shadowRejections.Enabled(ctx)
	}
	if on {
		r.live.Store(true)
	}
	return on
}

// watchGlobal registers, once per process, a callback on the global meter
// that marks the global provider live at the SDK's first collection, so
// that recorders built before the SDK was installed learn of it even when
// they see only successful calls.
func watchGlobal(m metric.Meter) {
	watchOnce.Do(func() {
		g := stateGauge(m)
		_, err := m.RegisterCallback(func(context.Context, metric.Observer) error {
			globalLive.Store(true)
			return nil
		}, g)
		if err != nil {
			otel.Handle(err)
		}
	})
}

// A Stamp is what [Recorder.Start] returns for [Recorder.Done]: zero when
// the call is not measured, else the call's start on the monotonic clock
// when the duration histogram wants it. It is a plain integer, so carrying
// it through a call costs a register; the zero value means "not measured".
type Stamp int64

const (
	stampOn    Stamp = 1 // measured, without the clock
	stampClock Stamp = 2 // measured, start time = epoch + (s - stampClock)
)

// Measuring reports whether a call's duration would be recorded now: an
// SDK is installed (or an explicit provider given). Policies that time calls
// only for telemetry skip the clock when it is false.
func (r *Recorder) Measuring() bool { return r != nil && r.live.Load() }

// Start returns the stamp to pass to [Recorder.Done] when the call ends.
// It reads the clock only when an SDK wants call durations; with no SDK
// installed, or on a nil Recorder, it costs one load and returns zero.
func (r *Recorder) Start(ctx context.Context) Stamp {
	if r == nil || !r.live.Load() {
		return 0
	}
	return r.start(ctx)
}

func (r *Recorder) start(ctx context.Context) Stamp {
	if r.duration.Enabled(ctx) {
		return stampClock + Stamp(time.Since(epoch))
	}
	return stampOn
}

func (r *Recorder) since(s Stamp) float64 {
	return (time.Since(epoch) - time.Duration(s-stampClock)).Seconds()
}

// Done records the end of a call that [Recorder.Start] stamped with s: one
// resilience.calls with the outcome o and, when s carries a start time, its
// duration in resilience.call.duration. A successful call that was not
// stamped costs one comparison. Outcomes other than Success are recorded
// even when s is zero if an SDK is present, and they check for one.
func (r *Recorder) Done(ctx context.Context, s Stamp, o Outcome) {
	if s == 0 && o == Success {
		return
	}
	r.done(ctx, s, o)
}

func (r *Recorder) done(ctx context.Context, s Stamp, o Outcome) {
	if r == nil {
		return
	}
	if o >= numOutcomes {
		o = Failure
	}
	if s == 0 && !r.refresh(ctx) {
		return
	}
	// An SDK resolves the attribute set on every measurement even for an
	// instrument a View dropped; asking first makes a drop free.
	if r.calls.Enabled(ctx) {
		r.calls.Add(ctx, 1, r.addOpts[o]...)
	}
	if s >= stampClock {
		r.duration.Record(ctx, r.since(s), r.recOpts[o]...)
	}
}

// Record records the end of a call whose duration d the policy measured
// itself (the breaker times every call for its slow-call rule): one
// resilience.calls with the outcome o and d in resilience.call.duration. It
// takes the place of Start and Done. A successful call with no SDK present
// costs one load and one comparison.
func (r *Recorder) Record(ctx context.Context, o Outcome, d time.Duration) {
	// Written to stay within the inlining budget: the nil check for
	// outcomes other than Success is in record.
	if o != Success || (r != nil && r.live.Load()) {
		r.record(ctx, o, d)
	}
}

func (r *Recorder) record(ctx context.Context, o Outcome, d time.Duration) {
	if r == nil {
		return
	}
	if o >= numOutcomes {
		o = Failure
	}
	if !r.refresh(ctx) {
		return
	}
	if r.calls.Enabled(ctx) {
		r.calls.Add(ctx, 1, r.addOpts[o]...)
	}
	if r.duration.Enabled(ctx) {
		r.duration.Record(ctx, d.Seconds(), r.recOpts[o]...)
	}
}

// Reject records that the policy refused a call, which therefore did not
// run: the outcome Rejected with a duration of zero (a wait before the
// refusal goes to [Recorder.Waited]), and the kind's rejection event on the
// caller's span (resilience.breaker.rejected, resilience.bulkhead.rejected,
// resilience.ratelimit.rejected) with the extra attributes, which must be
// bounded values such as a state, never error text or request data. No
// [Recorder.Start] is needed before it. Like a success, a rejection costs
// one load and the span check when no SDK is known (see the package
// documentation for a late SDK).
func (r *Recorder) Reject(ctx context.Context, extra ...attribute.KeyValue) {
	if r == nil {
		return
	}
	// A flood of rejections (an open breaker under load) is a fast path
	// too: like successes, it does not check for an SDK the recorder does
	// not know of yet.
	if r.live.Load() {
		r.record(ctx, Rejected, 0)
	}
	r.event(ctx, r.rejectName, extra)
}

// TimedOut records that the policy's own deadline d ended a call stamped
// with s: the outcome Timeout and the resilience.timeout span event.
func (r *Recorder) TimedOut(ctx context.Context, s Stamp, d time.Duration) {
	if r == nil {
		return
	}
	r.done(ctx, s, Timeout)
	r.event(ctx, EventTimeout, []attribute.KeyValue{attribute.Float64(AttrTimeoutDuration, d.Seconds())})
}

// Event adds the span event name to the span in ctx, with the policy's
// kind, name and key and the extra attributes (bounded values only). It
// does nothing, and allocates nothing, when that span is not recording.
func (r *Recorder) Event(ctx context.Context, name string, extra ...attribute.KeyValue) {
	if r == nil {
		return
	}
	r.event(ctx, name, extra)
}

// event takes extra as a slice and copies it, so that the caller's
// variadic arguments never escape to the heap when the span is not
// recording.
func (r *Recorder) event(ctx context.Context, name string, extra []attribute.KeyValue) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, len(r.eventAttrs)+len(extra)+1)
	attrs = append(attrs, r.eventAttrs...)
	if r.key == "" {
		if k := KeyFromContext(ctx); k != "" {
			_, k = defaultLimiter.admit(r.name, k)
			attrs = append(attrs, attribute.String(AttrKey, k))
		}
	}
	attrs = append(attrs, extra...)
	span.AddEvent(name, trace.WithAttributes(attrs...))
}

// RetryScheduled records that a retry policy will start attempt number
// attempt (2 for the first retry) after delay, for reason: one
// resilience.retry.attempts, the delay in resilience.retry.delay, and the
// resilience.retry.scheduled span event.
func (r *Recorder) RetryScheduled(ctx context.Context, attempt int, delay time.Duration, reason RetryReason) {
	if r == nil {
		return
	}
	if reason >= numReasons {
		reason = ReasonError
	}
	if r.refresh(ctx) {
		r.retries.Add(ctx, 1, r.reasonAdd[reason]...)
		r.retryDelay.Record(ctx, delay.Seconds(), r.baseRec...)
	}
	if !trace.SpanFromContext(ctx).IsRecording() {
		return // build no attributes for a span that drops them
	}
	r.event(ctx, EventRetryScheduled, []attribute.KeyValue{
		attribute.Int(AttrRetryAttempt, attempt),
		attribute.Float64(AttrRetryDelay, delay.Seconds()),
		attribute.String(AttrRetryReason, reason.String()),
	})
}

// BudgetRejected records that a retry policy did not retry because its
// retry budget was exhausted: one resilience.retry.budget.rejections and
// the resilience.retry.budget_exhausted span event.
func (r *Recorder) BudgetRejected(ctx context.Context) {
	if r == nil {
		return
	}
	if r.refresh(ctx) {
		r.budgetRejections.Add(ctx, 1, r.baseAdd...)
	}
	r.event(ctx, EventRetryBudgetRejected, nil)
}

// Log messages of [Recorder.BudgetTransition].
const (
	MsgBudgetExhausted = "resilience: retry budget exhausted"
	MsgBudgetRecovered = "resilience: retry budget recovered"
)

// BudgetTransition logs that the retry budget ran out (exhausted true, at
// Warn) or has tokens again after running out (exhausted false, at Info).
// Call it only on the transition, which the budget detects with a
// compare-and-swap on its own flag, never per refused retry.
func (r *Recorder) BudgetTransition(ctx context.Context, exhausted bool) {
	if r == nil || r.logger == nil {
		return
	}
	if exhausted {
		r.logger.LogAttrs(ctx, slog.LevelWarn, MsgBudgetExhausted)
	} else {
		r.logger.LogAttrs(ctx, slog.LevelInfo, MsgBudgetRecovered)
	}
}

// Waited records that a call waited d for admission (a bulkhead slot, a
// rate limiter's token) and how the wait ended: Success when admitted,
// Rejected when the policy gave up on it, Neutral when the caller's context
// ended. Call it only for calls that did wait.
func (r *Recorder) Waited(ctx context.Context, d time.Duration, o Outcome) {
	if r == nil {
		return
	}
	if o >= numOutcomes {
		o = Failure
	}
	if r.refresh(ctx) {
		r.wait.Record(ctx, d.Seconds(), r.recOpts[o]...)
	}
}

// StateChanged records a breaker's transition from one state to another:
// one resilience.breaker.transitions and, when the policy has a logger, one
// log record (Warn when the breaker opens, Info otherwise). ctx may be
// context.Background() when no call caused the transition.
func (r *Recorder) StateChanged(ctx context.Context, from, to BreakerState) {
	if r == nil || from < 0 || from >= numStates || to < 0 || to >= numStates {
		return
	}
	if r.refresh(ctx) {
		r.transitions.Add(ctx, 1, r.transAdd[from][to]...)
	}
	if r.logger != nil {
		level := slog.LevelInfo
		if to == StateOpen {
			level = slog.LevelWarn
		}
		r.logger.LogAttrs(ctx, level, "resilience: breaker state changed",
			slog.String(AttrPreviousState, from.String()), slog.String(AttrState, to.String()))
	}
}

// ShadowRejected records that a breaker in shadow mode would have rejected
// a call but let it through: one resilience.breaker.shadow_rejections and a
// resilience.breaker.rejected span event with resilience.breaker.shadow
// true.
func (r *Recorder) ShadowRejected(ctx context.Context, extra ...attribute.KeyValue) {
	if r == nil {
		return
	}
	if r.refresh(ctx) {
		r.shadowRejections.Add(ctx, 1, r.baseAdd...)
	}
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, len(extra)+1)
	attrs = append(attrs, attribute.Bool(AttrBreakerShadow, true))
	r.event(ctx, EventBreakerRejected, append(attrs, extra...))
}

// Log writes one record through the policy's logger, with the policy's
// kind, name and key, when it has a logger. It is for state transitions
// (a retry budget exhausted or recovered), never for per-call events; attrs
// must not carry error text, URLs or header values.
func (r *Recorder) Log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if r == nil || r.logger == nil {
		return
	}
	r.logger.LogAttrs(ctx, level, msg, attrs...)
}

// ObserveState makes the resilience.breaker.state gauge report f() at each
// collection (0 closed, 1 half-open, 2 open). Call it once, in the
// breaker's New; f must be cheap and must not block. It does nothing on a
// recorder whose kind is not KindBreaker.
//
// The callback holds the recorder only weakly: once the policy (and with it
// the recorder) is unreachable, its series stops at the next collection
// after the garbage collector frees it, and the callback is unregistered.
// An instance that package keyed evicts therefore keeps reporting its last
// state until then, and no longer.
func (r *Recorder) ObserveState(f func() BreakerState) {
	if r == nil || f == nil || r.kind != KindBreaker {
		return
	}
	r.setGauges(func(g *gaugeFuncs) { g.state = f })
}

// ObserveLoad makes the resilience.bulkhead.in_flight and
// resilience.bulkhead.queued instruments report inFlight() and queued() at
// each collection; either may be nil. Call it once, in the bulkhead's New;
// the functions must be cheap and must not block. Its lifetime is that of
// [Recorder.ObserveState]. It does nothing on a recorder whose kind is not
// KindBulkhead.
func (r *Recorder) ObserveLoad(inFlight, queued func() int64) {
	if r == nil || (inFlight == nil && queued == nil) || r.kind != KindBulkhead {
		return
	}
	r.setGauges(func(g *gaugeFuncs) { g.inFlight, g.queued = inFlight, queued })
}

func (r *Recorder) setGauges(update func(*gaugeFuncs)) {
	r.gaugeMu.Lock()
	defer r.gaugeMu.Unlock()
	g := new(gaugeFuncs)
	if old := r.gauges.Load(); old != nil {
		*g = *old
	}
	update(g)
	r.gauges.Store(g)
	if r.registered {
		return
	}
	r.registered = true
	reg, err := r.meter.RegisterCallback(gaugeCallback(weak.Make(r)), r.observables...)
	if err != nil {
		otel.Handle(err)
	}
	if reg != nil {
		runtime.AddCleanup(r, unregister, reg)
	}
}

// gaugeCallback is a function of its own so that the callback it returns
// can capture nothing but the weak pointer: a strong reference would keep
// the recorder, and the policy its functions close over, alive for as long
// as the meter lives.
func gaugeCallback(wp weak.Pointer[Recorder]) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		r := wp.Value()
		if r == nil {
			return nil
		}
		r.live.Store(true) // a collection proves an SDK is there
		g := r.gauges.Load()
		if g.state != nil {
			o.ObserveInt64(r.stateGauge, int64(g.state()), r.baseObs...)
		}
		if g.inFlight != nil {
			o.ObserveInt64(r.inFlightGauge, g.inFlight(), r.baseObs...)
		}
		if g.queued != nil {
			o.ObserveInt64(r.queuedGauge, g.queued(), r.baseObs...)
		}
		return nil
	}
}

func unregister(reg metric.Registration) { _ = reg.Unregister() }

func counter(m metric.Meter, name, desc, unit string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
	return orNoop(c, err, metric.Int64Counter(noop.Int64Counter{}))
}

func histogram(m metric.Meter, name, desc string) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit(unitSecond),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	return orNoop(h, err, metric.Float64Histogram(noop.Float64Histogram{}))
}

func stateGauge(m metric.Meter) metric.Int64ObservableGauge {
	g, err := m.Int64ObservableGauge(MetricBreakerState,
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."), metric.WithUnit(unitState))
	return orNoop(g, err, metric.Int64ObservableGauge(noop.Int64ObservableGauge{}))
}

// orNoop reports err to the OpenTelemetry error handler and returns inst,
// or fallback when a faulty provider returned no instrument at all: the API
// asks providers to return a usable instrument even with an error, but a
// nil one would panic on the hot path.
func orNoop[T comparable](inst T, err error, fallback T) T {
	if err != nil {
		otel.Handle(err)
	}
	var zero T
	if inst == zero {
		return fallback
	}
	return inst
}

// keyCtx is the context key of [ContextWithKey].
type keyCtx struct{}

// ContextWithKey returns a context carrying key (a host, a gRPC method) for
// the span events of policies that are not keyed themselves: an adapter
// sets it once per request, and a shared breaker's rejection event then
// names the host. Metrics never read it (they would need a per-call
// attribute set); keyed instances carry their key from
// [telemetry.Settings.Key] instead.
func ContextWithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// KeyFromContext returns the key [ContextWithKey] stored in ctx, or "".
func KeyFromContext(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}
