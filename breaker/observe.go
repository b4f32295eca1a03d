package breaker

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// Everything a Breaker reports to the outside world goes through the methods
// in this file, and they are all called outside b.mu: the user's hooks may
// call back into the breaker, and telemetry can be attached here in one
// place. Events that arise under b.mu (state changes, expired probes) are
// queued there and delivered in order by flush.

// observed is called once for every call the breaker let run, when its
// outcome is known (for Allow, when done is first called). recorded is
// false when the outcome did not count: disabled mode, a shadow call that
// would have been rejected, a result from an earlier state, an expired
// probe.
//
// Telemetry records the call whatever recorded says: it ran and had that
// outcome; recorded is about the breaker's own counts. The breaker measured
// d already (for its slow-call rule), so no Start/Done is needed.
func (b *Breaker) observed(ctx context.Context, o outcome, d time.Duration, recorded bool) {
	b.rec.Record(ctx, o.telemetry(), d)
}

// rejected is called for every call rejected with ErrOpen, in the given
// state, before Do or Allow returns.
func (b *Breaker) rejected(ctx context.Context, s State) {
	b.rec.Reject(ctx, stateAttr(s)...)
}

// shadowRejected is called in ModeShadow for every call the breaker lets
// through although it would have rejected it in the given state.
func (b *Breaker) shadowRejected(ctx context.Context, s State) {
	b.rec.ShadowRejected(ctx, stateAttr(s)...)
	if f := b.cfg.onShadowReject; f != nil {
		f(b.cfg.name, s)
	}
}

// transitioned is called after every state change, in order. No call's
// context is at hand (a transition may be delivered by another goroutine
// than the one whose call caused it), so the record has none.
func (b *Breaker) transitioned(from, to State) {
	b.rec.StateChanged(context.Background(), observe.BreakerState(from), observe.BreakerState(to))
	if f := b.cfg.onStateChange; f != nil {
		f(b.cfg.name, from, to)
	}
}

// rejectAttrs are the resilience.state attributes of a rejection event,
// built once: a rejection by an open breaker is a hot path that must not
// build (or allocate) attributes when no span is recording.
var rejectAttrs = [...][]attribute.KeyValue{
	StateClosed:   {attribute.String(observe.AttrState, observe.StateClosed.String())},
	StateHalfOpen: {attribute.String(observe.AttrState, observe.StateHalfOpen.String())},
	StateOpen:     {attribute.String(observe.AttrState, observe.StateOpen.String())},
}

// stateAttr returns the resilience.state attribute for s, in a slice that
// the recorder only reads.
func stateAttr(s State) []attribute.KeyValue {
	if s < 0 || int(s) >= len(rejectAttrs) {
		return nil
	}
	return rejectAttrs[s]
}

// Status reports the breaker's state, mode and the counts of its current
// state period ([Breaker.Counts]), for [telemetry.StatusHandler]. Like
// [Breaker.State], it moves an open breaker whose time is up to half-open.
// The state is read before the counts, so the counts belong to that state
// unless another change comes between the two reads. A Breaker not built
// with [New] reports an empty breaker status.
func (b *Breaker) Status() telemetry.Status {
	if !b.built() {
		return telemetry.Status{Kind: string(observe.KindBreaker), Breaker: &telemetry.BreakerStatus{}}
	}
	s := b.State()
	c := b.Counts()
	st := &telemetry.BreakerStatus{
		State:               observe.BreakerState(s).String(), // closed, half_open, open
		Requests:            c.Requests,
		Successes:           c.Successes,
		Failures:            c.Failures,
		SlowCalls:           c.SlowCalls,
		Neutral:             c.Neutral,
		ConsecutiveFailures: c.ConsecutiveFailures,
	}
	if m := b.Mode(); m != ModeNormal {
		st.Mode = m.String() // shadow, forced-open, disabled
	}
	return telemetry.Status{Kind: string(observe.KindBreaker), Name: b.cfg.name, Key: b.key, Breaker: st}
}

// probeExpired is called for every half-open probe whose slot was freed
// because it did not report within ProbeTimeout. Telemetry records nothing
// for it: the probe's call is recorded when (and if) it ends.
func (b *Breaker) probeExpired() {}

type eventKind uint8

const (
	eventTransition eventKind = iota
	eventProbeExpired
)

// An event is a report queued under b.mu for delivery by flush.
type event struct {
	kind     eventKind
	from, to State
}

// queue records an event for flush. b.mu must be held.
func (b *Breaker) queue(e event) {
	b.pending = append(b.pending, e)
}

// mustFlush reports whether the caller, about to release b.mu, should call
// flush. b.mu must be held.
func (b *Breaker) mustFlush() bool {
	return len(b.pending) > 0 && !b.delivering
}

// flush delivers queued events, in order, with b.mu released while each is
// delivered. One goroutine delivers at a time: if another is already at it
// (possibly this very goroutine, from inside a hook), flush returns at once
// and that one delivers the new events after the ones it holds.
func (b *Breaker) flush() {
	b.mu.Lock()
	if b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	finished := false
	defer func() {
		if !finished {
			// A hook panicked: the rest of its batch is lost, but the next
			// caller must be able to deliver what comes after.
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
		}
	}()
	for len(b.pending) > 0 {
		batch := b.pending
		b.pending, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		for _, e := range batch {
			switch e.kind {
			case eventTransition:
				b.transitioned(e.from, e.to)
			case eventProbeExpired:
				b.probeExpired()
			}
		}
		b.mu.Lock()
		b.spare = batch[:0]
	}
	b.delivering = false
	finished = true
	b.mu.Unlock()
}
