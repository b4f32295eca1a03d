package breaker

import (
	"context"
	"time"
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
func (b *Breaker) observed(ctx context.Context, o outcome, d time.Duration, recorded bool) {}

// rejected is called for every call rejected with ErrOpen, in the given
// state, before Do or Allow returns.
func (b *Breaker) rejected(ctx context.Context, s State) {}

// shadowRejected is called in ModeShadow for every call the breaker lets
// through although it would have rejected it in the given state.
func (b *Breaker) shadowRejected(ctx context.Context, s State) {
	if f := b.cfg.onShadowReject; f != nil {
		f(b.cfg.name, s)
	}
}

// transitioned is called after every state change, in order.
func (b *Breaker) transitioned(from, to State) {
	if f := b.cfg.onStateChange; f != nil {
		f(b.cfg.name, from, to)
	}
}

// probeExpired is called for every half-open probe whose slot was freed
// because it did not report within ProbeTimeout.
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
