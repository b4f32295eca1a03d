package keyed

import (
	"context"
	"sync/atomic"

	"github.com/cascadeguard/resilience"
)

// evictedBit is set in entry.state when a sweep evicts the entry (and for
// good, unless the sweep gives the entry back before it releases the lock);
// the low bits count the calls in flight. One word holds both so
// that a sweep can evict an entry only if no call is in flight, in a single
// compare-and-swap, while a call acquires it with a single add.
const evictedBit = 1 << 62

// An entry is one instance in the table, or the overflow instance. It is
// also the handle that Keyed.Policy returns.
type entry struct {
	k        *Keyed
	key      string
	p        resilience.Policy
	retainer resilience.Retainer // p, if it implements Retainer

	state    atomic.Int64 // calls in flight, plus evictedBit
	lastUsed atomic.Int64 // k.now() when the last call ended, or at creation

	idx int // position in k.entries, with k.mu held; -1 for the overflow entry
}

var _ resilience.Policy = (*entry)(nil)

func (k *Keyed) newEntry(key string, p resilience.Policy, now int64, acquire bool) *entry {
	e := &entry{k: k, key: key, p: p}
	e.retainer, _ = p.(resilience.Retainer)
	e.lastUsed.Store(now)
	if acquire {
		e.state.Store(1)
	}
	return e
}

// acquire counts a call in flight, unless the entry has been evicted.
func (e *entry) acquire() bool {
	if e.state.Add(1)&evictedBit != 0 {
		e.state.Add(-1)
		return false
	}
	return true
}

// release ends a call that acquire counted, and sweeps idle entries when a
// sweep is due.
func (e *entry) release() {
	now := e.k.now()
	// Store before the decrement: a sweep that sees no call in flight
	// also sees this call's end.
	e.lastUsed.Store(now)
	e.state.Add(-1)
	if now >= e.k.nextSweep.Load() {
		e.k.sweepDue(now)
	}
}

// Do runs op under the entry's instance, or, if the entry has been evicted,
// under the key's current one.
func (e *entry) Do(ctx context.Context, op func(context.Context) error) error {
	if !e.acquire() {
		return e.k.doKey(ctx, e.key, op)
	}
	defer e.release()
	return e.p.Do(ctx, op)
}
