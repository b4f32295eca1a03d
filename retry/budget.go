package retry

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the zero fields of a [BudgetConfig].
const (
	DefaultBudgetRatio        = 0.1
	DefaultBudgetMinPerSecond = 1.0
	DefaultBudgetPeriod       = 10 * time.Second
)

// BudgetConfig configures a [Budget]. The zero value allows retries of up to
// 10 % of the calls made in the last 10 s, plus one retry per second.
type BudgetConfig struct {
	// Ratio is the number of retries each call earns: every call deposits
	// Ratio tokens, every retry spends one. 0.1 lets retries add at most
	// 10 % to the load. It is kept to a precision of 1e-6. Zero means
	// DefaultBudgetRatio (0.1); outside [0, 1] is an error.
	Ratio float64

	// MinPerSecond is a floor: retries allowed per second even when calls
	// have earned none, so that a quiet client can still retry. The floor is
	// a token bucket (golang.org/x/time/rate) that holds at most
	// max(1, ⌈MinPerSecond⌉) tokens (the bucket's size is a whole number)
	// and starts with one second's worth, so that a client that has just
	// started can retry (with the default, one retry). Zero means DefaultBudgetMinPerSecond (1); negative or not
	// finite is an error.
	MinPerSecond float64

	// Period is how long a call's deposit stays spendable: tokens earned more
	// than Period ago expire, so a long healthy spell cannot bank a retry
	// storm for the next outage. Deposits are kept in ten slots of
	// Period/10, so a deposit expires between 0.9 × Period and Period after
	// it was made. Zero means DefaultBudgetPeriod (10s); negative is an
	// error.
	Period time.Duration
}

// A Budget limits the retries of all the [Retry] policies that share it to a
// ratio of their calls, plus a small floor per second. Over any run, the
// retries it allows are at most Ratio × calls + MinPerSecond × seconds +
// max(1, ⌈MinPerSecond⌉) (what the floor's bucket holds; with the default
// floor of 1, Ratio × calls + seconds + 1), so under a total outage with
// MaxAttempts 3 the attempts reaching the dependency stay within calls plus
// that, instead of 3 × calls.
//
// A retry takes its token before its backoff wait; if the caller gives up
// during the wait, the token is given back.
//
// A Budget is safe for concurrent use; the policies that call one
// dependency may share one. Do not share one across dependencies: the
// calls to a healthy one would pay for retries to a failing one. Each call costs a read of the
// monotonic clock and an atomic add; only retries take a lock. A nil *Budget
// allows every retry. Build one with [NewBudget]: the zero value is not
// usable, and [New] refuses it.
type Budget struct {
	cfg   BudgetConfig
	ratio int64 // micro-tokens deposited per call
	start time.Time
	slot  time.Duration // Period / budgetSlots

	// slots holds the deposits of the last budgetSlots time slots: the slot
	// of epoch e (time since start / slot) is slots[e % budgetSlots].
	slots [budgetSlots]budgetSlot

	mu    sync.Mutex // held to spend tokens and to recycle a slot
	floor *rate.Limiter

	allowed, rejected atomic.Uint64

	// exhausted is set by the retry that the budget refuses first and
	// cleared by the next one it allows, so that the policies sharing the
	// budget log each transition once (Config.Telemetry.Logger).
	exhausted atomic.Bool
}

const (
	budgetSlots = 10
	microToken  = 1_000_000 // one retry, in the units of budgetSlot.micro
)

type budgetSlot struct {
	epoch atomic.Int64 // the epoch whose deposits micro holds
	micro atomic.Int64 // unspent micro-tokens deposited in that epoch
}

// NewBudget returns a Budget for cfg, or an error naming the bad field and
// value.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	switch {
	case cfg.Ratio == 0:
		cfg.Ratio = DefaultBudgetRatio
	case !(cfg.Ratio >= 0 && cfg.Ratio <= 1): // also catches NaN
		return nil, fmt.Errorf("retry: budget Ratio %v is outside [0, 1]", cfg.Ratio)
	}
	switch {
	case cfg.MinPerSecond == 0:
		cfg.MinPerSecond = DefaultBudgetMinPerSecond
	case !(cfg.MinPerSecond >= 0) || math.IsInf(cfg.MinPerSecond, 1):
		return nil, fmt.Errorf("retry: budget MinPerSecond %v must be a finite number of at least 0", cfg.MinPerSecond)
	}
	switch {
	case cfg.Period == 0:
		cfg.Period = DefaultBudgetPeriod
	case cfg.Period < 0:
		return nil, fmt.Errorf("retry: budget Period %v must not be negative", cfg.Period)
	}

	burst := int(math.Min(math.Max(1, math.Ceil(cfg.MinPerSecond)), 1<<20))
	now := time.Now()
	b := &Budget{
		cfg:   cfg,
		ratio: int64(cfg.Ratio * microToken), // rounded down: never more than Ratio
		start: now,
		slot:  max(cfg.Period/budgetSlots, 1),
		floor: rate.NewLimiter(rate.Limit(cfg.MinPerSecond), burst),
	}
	// The floor starts with one second's worth of tokens, as if the client
	// had been quiet for a second before it started: a client that has
	// just started (and earned nothing yet) can retry right away, when
	// transient failures are likely (a dependency that restarts with it),
	// and the bound grows by that one second only.
	b.floor.AllowN(now.Add(-time.Second), burst)
	return b, nil
}

// valid reports whether b was made by NewBudget.
func (b *Budget) valid() bool { return b.slot > 0 && b.floor != nil }

// epoch returns the number of the time slot that t falls in.
func (b *Budget) epoch(t time.Time) int64 {
	return int64(max(t.Sub(b.start), 0) / b.slot)
}

// epochNow is epoch(time.Now()), cheaper: time.Since reads only the
// monotonic clock.
func (b *Budget) epochNow() int64 {
	return int64(max(time.Since(b.start), 0) / b.slot)
}

// deposit records one call: Ratio tokens in the current slot.
func (b *Budget) deposit() {
	if b == nil || b.ratio == 0 {
		return
	}
	b.credit(b.ratio)
}

// refund gives back a retry that withdraw allowed but that never ran (the
// caller gave up during the wait before it): one token in the current slot,
// whether it came from the earned tokens or from the floor. Retries still
// never exceed the bound: the token was not used.
func (b *Budget) refund() {
	if b == nil {
		return
	}
	b.allowed.Add(^uint64(0)) // one fewer allowed
	b.credit(microToken)
}

// credit adds micro micro-tokens to the current slot.
func (b *Budget) credit(micro int64) {
	e := b.epochNow()
	s := &b.slots[e%budgetSlots]
	if s.epoch.Load() < e {
		b.mu.Lock()
		if s.epoch.Load() < e {
			// The slot last held an epoch that has expired: recycle it.
			// micro is cleared before epoch moves on, so whoever sees the
			// new epoch adds to a cleared slot.
			s.micro.Store(0)
			s.epoch.Store(e)
		}
		b.mu.Unlock()
	}
	// A goroutine delayed between the check and the add may credit a newer
	// epoch's slot: the deposit then lives a little longer, but every token
	// still comes from a call, so the bound on retries holds.
	s.micro.Add(micro)
}

// withdraw spends one retry, from earned tokens (oldest first) or else from
// the floor, and reports whether there was one to spend.
func (b *Budget) withdraw() bool {
	if b == nil {
		return true
	}
	now := time.Now()
	e := b.epoch(now)
	b.mu.Lock()
	if b.earned(e) >= microToken {
		need := int64(microToken)
		for k := max(e-budgetSlots+1, 0); need > 0 && k <= e; k++ {
			s := &b.slots[k%budgetSlots]
			if s.epoch.Load() != k {
				continue
			}
			// Outside mu, micro only ever grows, so what was loaded can
			// be taken.
			take := min(need, s.micro.Load())
			s.micro.Add(-take)
			need -= take
		}
		b.mu.Unlock()
		b.allowed.Add(1)
		return true
	}
	b.mu.Unlock()
	if b.floor.AllowN(now, 1) {
		b.allowed.Add(1)
		return true
	}
	b.rejected.Add(1)
	return false
}

// earned returns the unexpired, unspent micro-tokens as of epoch e.
func (b *Budget) earned(e int64) int64 {
	var sum int64
	for k := max(e-budgetSlots+1, 0); k <= e; k++ {
		s := &b.slots[k%budgetSlots]
		if s.epoch.Load() == k {
			sum += s.micro.Load()
		}
	}
	return sum
}

// BudgetState is a snapshot of a [Budget], for a status page.
type BudgetState struct {
	Config    BudgetConfig // the configuration in effect, defaults applied
	Available float64      // earned plus floor tokens, fractions included
	Allowed   uint64       // retries allowed since the budget was made
	Rejected  uint64       // retries refused since the budget was made
	// Exhausted is true when the next retry would be refused: a retry
	// spends a whole token, earned or from the floor, and neither holds
	// one (Available may still be 1 or more, made of two fractions).
	Exhausted bool
}

// State returns a snapshot of b. A nil *Budget returns the zero BudgetState,
// with Available set to +Inf.
func (b *Budget) State() BudgetState {
	if b == nil {
		return BudgetState{Available: math.Inf(1)}
	}
	if !b.valid() {
		return BudgetState{}
	}
	now := time.Now()
	b.mu.Lock()
	earned := b.earned(b.epoch(now))
	b.mu.Unlock()
	floor := b.floor.TokensAt(now)
	return BudgetState{
		Config:    b.cfg,
		Available: float64(earned)/microToken + floor,
		Allowed:   b.allowed.Load(),
		Rejected:  b.rejected.Load(),
		Exhausted: earned < microToken && floor < 1,
	}
}
