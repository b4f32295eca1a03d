package breaker

import "math"

// windowBuckets is the number of buckets in the rolling window.
const windowBuckets = 10

// tally counts outcomes. The counts are 64-bit: a window has no length
// limit, and 2^32 calls fit in a day at 50,000 a second; Counts saturates
// them to its uint32 fields.
type tally struct {
	successes, failures, slow, neutral uint64
}

// sat32 returns n, or math.MaxUint32 when n is larger.
func sat32(n uint64) uint32 {
	if n > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

func (t *tally) add(o outcome) {
	switch o {
	case outcomeSuccess:
		t.successes++
	case outcomeFailure:
		t.failures++
	case outcomeSlow:
		t.failures++
		t.slow++
	case outcomeNeutral:
		t.neutral++
	}
}

func (t *tally) sub(u tally) {
	t.successes -= u.successes
	t.failures -= u.failures
	t.slow -= u.slow
	t.neutral -= u.neutral
}

// window counts outcomes over a rolling period of windowBuckets buckets of
// equal width, aligned on the start of the current state period as
// gobreaker's BucketPeriod window is. An outcome goes in the bucket of the
// time its call completed. It is not safe for concurrent use; its zero
// value must be reset before use.
type window struct {
	width   int64 // nanoseconds per bucket, > 0
	head    int   // index of the current bucket
	headEnd int64 // when the current bucket ends (exclusive)
	buckets [windowBuckets]tally
	total   tally
}

func (w *window) reset(now int64) {
	w.head = 0
	w.headEnd = addSat(now, w.width)
	w.buckets = [windowBuckets]tally{}
	w.total = tally{}
}

// advance drops the buckets that ended at or before now.
func (w *window) advance(now int64) {
	if now < w.headEnd {
		return
	}
	n := (now-w.headEnd)/w.width + 1
	if n >= windowBuckets {
		w.buckets = [windowBuckets]tally{}
		w.total = tally{}
	} else {
		for range n {
			w.head = (w.head + 1) % windowBuckets
			w.total.sub(w.buckets[w.head])
			w.buckets[w.head] = tally{}
		}
	}
	if n > (math.MaxInt64-w.headEnd)/w.width {
		w.headEnd = math.MaxInt64
	} else {
		w.headEnd += n * w.width
	}
}

// add counts o at time now.
func (w *window) add(now int64, o outcome) {
	w.advance(now)
	w.count(o)
}

// count counts o in the current bucket without moving the window.
func (w *window) count(o outcome) {
	w.buckets[w.head].add(o)
	w.total.add(o)
}

// addSat returns a+b for b >= 0, saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
