package keyed

import (
	"cmp"
	"slices"
)

// A candidate is an entry that a sweep may evict to make room, with its
// last use read once, so that sorting sees stable values.
type candidate struct {
	e    *entry
	last int64
}

// sweepDue runs the periodic sweep for idle entries, if it is due and no
// other goroutine has claimed it.
func (k *Keyed) sweepDue(now int64) {
	next := k.nextSweep.Load()
	if now < next || !k.nextSweep.CompareAndSwap(next, now+k.sweepEvery) {
		return
	}
	// A call for an existing key never waits for the lock: if a new key is
	// being added, skip this sweep, which that goroutine may do itself (in
	// obtain); otherwise the next one is due in sweepEvery.
	if !k.mu.TryLock() {
		return
	}
	var evicted []*entry
	defer k.notify(&evicted) // after the deferred Unlock below
	defer k.mu.Unlock()
	evicted = k.sweepLocked(now, 0, evicted)
	k.credit = 0
}

// sweepLocked evicts the entries idle for k.idle, and then, if that freed
// fewer than want slots, the least recently used evictable entries until it
// has freed want. An entry with a call in flight or whose policy asks to be
// retained is never evicted. The evicted entries are appended to evicted
// when there is an OnEvict hook to call. k.mu is held.
//
// A sweep costs O(MaxKeys log MaxKeys); obtain makes room by k.batch slots
// at a time and the periodic sweep runs every k.sweepEvery, so the cost per
// call stays small under any churn of keys.
func (k *Keyed) sweepLocked(now int64, want int, evicted []*entry) []*entry {
	freed := 0
	cands := k.cands[:0]
	for i := 0; i < len(k.entries); {
		e := k.entries[i]
		if e.state.Load() != 0 || (e.retainer != nil && e.retainer.Retain()) {
			i++
			continue
		}
		last := e.lastUsed.Load()
		if now-last >= k.idle {
			if k.evictLocked(e, last) {
				// entries[i] is now the former last entry: look at it next.
				evicted = k.collect(evicted, e)
				freed++
				continue
			}
		} else if want > 0 {
			cands = append(cands, candidate{e: e, last: last})
		}
		i++
	}
	if freed < want && len(cands) > 0 {
		slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(a.last, b.last) })
		for _, c := range cands {
			if freed >= want {
				break
			}
			if k.evictLocked(c.e, c.last) {
				evicted = k.collect(evicted, c.e)
				freed++
			}
		}
	}
	clear(cands) // keep no evicted entry alive
	k.cands = cands[:0]
	return evicted
}

// evictLocked evicts e if no call is in flight and none ended since the
// sweep read lastUse, its last use. k.mu is held.
func (k *Keyed) evictLocked(e *entry, lastUse int64) bool {
	if !e.state.CompareAndSwap(0, evictedBit) {
		return false
	}
	// A call may have come and gone between the sweep's look at e and the
	// swap, and opened e's breaker on its way out. New calls are held off
	// now (they see evictedBit and wait for mu in obtain), so look again,
	// and give e back if it was used or must now be retained.
	if e.lastUsed.Load() != lastUse || (e.retainer != nil && e.retainer.Retain()) {
		e.state.Add(-evictedBit)
		return false
	}
	k.m.CompareAndDelete(e.key, e)
	last := len(k.entries) - 1
	moved := k.entries[last]
	k.entries[e.idx] = moved
	moved.idx = e.idx
	k.entries[last] = nil
	k.entries = k.entries[:last]
	k.n.Store(int64(last))
	k.evictions.Add(1)
	return true
}

func (k *Keyed) collect(evicted []*entry, e *entry) []*entry {
	if k.onEvict == nil {
		return evicted
	}
	return append(evicted, e)
}
