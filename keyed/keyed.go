// Package keyed keeps one policy instance per key — one circuit breaker and
// bulkhead per host, or per gRPC method — so that one failing dependency
// trips only its own breaker and fills only its own bulkhead.
//
// A [Keyed] is itself a [resilience.Policy]. Its Do finds the key in the
// context ([WithKey]), creates the key's instance with a factory on first
// use, and runs the call under it:
//
//	perHost, err := keyed.New(keyed.Config{Name: "per-host"}, func(host string) (resilience.Policy, error) {
//		tel := telemetry.Settings{Key: host} // the instance's resilience.key
//		br, err := breaker.New(breaker.Config{Name: "upstream", Telemetry: tel})
//		if err != nil {
//			return nil, err
//		}
//		bh, err := bulkhead.New(bulkhead.Config{Name: "upstream", MaxConcurrent: 64, Telemetry: tel})
//		if err != nil {
//			return nil, err
//		}
//		return resilience.Chain(br, bh), nil
//	})
//	...
//	err = perHost.Do(keyed.WithKey(ctx, "inventory.internal:443"), call)
//
// Adapters that know the key at the call site use [Keyed.Policy] instead and
// put nothing in the context.
//
// Keys usually come from untrusted input (the Host of a request), so the
// number of instances is bounded: at most [Config.MaxKeys] per-key instances,
// plus one shared overflow instance (key [OverflowKey]) that serves the keys
// that find no room. Instances unused for [Config.IdleTimeout] are evicted,
// and when the table is full the least recently used ones make room; but an
// instance that is in use, or whose policy implements [resilience.Retainer]
// and reports Retain() == true (an open circuit breaker), is never evicted,
// so its state survives. Eviction happens during calls, without a background
// goroutine.
//
// # Telemetry
//
// A Keyed records no metrics of its own: its instances do, and each needs
// its key to tell its series from its siblings'. The factory passes it in the
// Config it builds the instance from, as Telemetry.Key; with a Config shared
// by all keys, copy it first:
//
//	func(key string) (resilience.Policy, error) {
//		c := breakerCfg // a breaker.Config, a plain value
//		c.Telemetry.Key = key
//		return breaker.New(c)
//	}
//
// The key becomes the resilience.key attribute of the instance's metrics,
// span events and state-change logs. Keys may come from untrusted input, and
// that is safe: package telemetry sanitizes them (a URL is reduced to its
// host, never its path, query or user information) and caps their number
// per process (the first 100 keys per policy name and 2000 in all get their
// own series, later ones are reported as "_other"). The overflow instance is
// built with the key [OverflowKey], which is that same "_other". An evicted
// instance needs no clean-up: its gauges stop once it has been freed.
//
// [Keyed.Status] reports every instance's status for a status page
// (telemetry.StatusHandler): register the Keyed, not its instances.
package keyed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/notbuilt"
	"github.com/cascadeguard/resilience/telemetry"
)

// Defaults for the zero fields of [Config].
const (
	DefaultMaxKeys     = 1024
	DefaultIdleTimeout = 10 * time.Minute
	DefaultMaxKeyLen   = 256
)

// OverflowKey is the key with which the factory builds the shared overflow
// instance: the one that serves keys longer than [Config.MaxKeyLen] and new
// keys that find the table full of instances that cannot be evicted. A call
// whose key is OverflowKey itself is served by the overflow instance too, so
// there is never a second instance under that name.
const OverflowKey = "_other"

// ErrNilPolicy is wrapped in the [FactoryError] returned when the factory
// returns a nil Policy and a nil error.
var ErrNilPolicy = errors.New("keyed: factory returned a nil Policy")

var errNotBuilt error = notbuilt.New("keyed: Keyed not built with New")

// Config configures a [Keyed]. The zero value is a usable configuration with
// the documented defaults. Config is a plain value: copy it freely.
type Config struct {
	// Name identifies the Keyed in errors. Empty means "keyed".
	Name string

	// MaxKeys bounds the number of per-key instances. Zero means
	// DefaultMaxKeys (1024); negative is an error. The overflow instance
	// comes on top, so at most MaxKeys+1 instances exist at any time.
	//
	// A new key that finds the table full makes room: it evicts the idle
	// instances and, least recently used first, other evictable ones until
	// MaxKeys/16 slots (at least one) are free, so that the cost of that scan
	// is shared by the next new keys. When fewer can be evicted (the others
	// are in use or retained), the key is served by the overflow instance,
	// and so are up to MaxKeys/16 further new keys that find the table full
	// before the next attempt to make room (the periodic sweep for idle
	// instances also makes room).
	MaxKeys int

	// IdleTimeout is how long an instance may go unused (no call in flight
	// and none ended) before it is evicted. Zero means DefaultIdleTimeout
	// (10 minutes); negative is an error. Eviction is lazy: it happens during
	// later calls to the Keyed, which look for idle instances once every
	// IdleTimeout/8 (or every millisecond, if that is longer), so an instance
	// is evicted a little after it became idle, and only if the Keyed is
	// used. There is no background goroutine.
	IdleTimeout time.Duration

	// MaxKeyLen bounds the length of a key in bytes. Longer keys are not
	// truncated (that would merge unrelated keys) but served by the overflow
	// instance, so that the factory, the table and telemetry never see them.
	// Zero means DefaultMaxKeyLen (256); negative is an error.
	MaxKeyLen int

	// OnEvict, if not nil, is called with the key and policy of each evicted
	// instance, after the eviction, in the goroutine of the call to the Keyed
	// that evicted it and with no lock held: it may call the Keyed. Use it to
	// release what a factory acquired outside the instance (an entry in a
	// registry of its own, for instance); the instance's metrics need
	// nothing. It must be quick and must not panic.
	OnEvict func(key string, p resilience.Policy)
}

// Factory builds the instance for a key. The key is at most
// [Config.MaxKeyLen] bytes long and, when keys come from requests, chosen by
// whoever sends them: do not log it or make it a telemetry attribute
// yourself. To label the instance's telemetry with it, set it as
// Telemetry.Key in the instance's Config (see Telemetry in the package
// documentation), which sanitizes it and bounds the number of keys.
//
// A Factory runs with the Keyed's internal lock held, once per key and
// instance, and never concurrently with itself: keep it fast and
// non-blocking, and do not call [Keyed.Do] or [Keyed.Policy] of the same
// Keyed from it (that deadlocks); [Keyed.Len], [Keyed.Range] and
// [Keyed.Stats] are safe.
type Factory func(key string) (resilience.Policy, error)

// Keyed is a [resilience.Policy] that runs each call under the instance of
// the call's key, created on first use by a [Factory] and evicted when idle.
// See the package documentation for the bounds it keeps.
//
// Finding the instance of an existing key takes no lock and allocates
// nothing. Creating and evicting instances take an internal lock, with which
// the factory and the instances' Retain methods are called: like the
// factory, Retain must be quick and must not call Do or Policy of the same
// Keyed.
//
// A Keyed is safe for concurrent use. Its zero value is not usable: its Do
// and Policy return an error (its Status reports no instances). Build one
// with [New].
type Keyed struct {
	name       string
	factory    Factory
	onEvict    func(string, resilience.Policy)
	maxKeys    int
	maxKeyLen  int
	idle       int64 // nanoseconds
	sweepEvery int64 // nanoseconds between sweeps for idle instances
	batch      int   // instances to free when the table is full
	base       time.Time

	m         sync.Map // key string → *entry; written only with mu held
	overflow  atomic.Pointer[entry]
	nextSweep atomic.Int64 // nanoseconds since base
	n         atomic.Int64 // len(entries)

	created, evictions, overflowed, factoryErrors atomic.Uint64

	mu      sync.Mutex
	entries []*entry // the per-key instances; entries[e.idx] == e
	cands   []candidate
	// credit counts the new keys that find the table full and go to the
	// overflow instance without a sweep, after a sweep to make room freed
	// fewer than batch slots: a table full of instances that cannot be
	// evicted then costs a scan per batch new keys, not per new key.
	credit int
}

var (
	_ resilience.Policy        = (*Keyed)(nil)
	_ telemetry.StatusReporter = (*Keyed)(nil)
)

// New returns a Keyed that builds instances with factory, or an error naming
// the bad field and value.
func New(cfg Config, factory Factory) (*Keyed, error) {
	if factory == nil {
		return nil, errors.New("keyed: factory is nil")
	}
	if cfg.MaxKeys < 0 {
		return nil, fmt.Errorf("keyed: MaxKeys %d must not be negative (0 means %d)", cfg.MaxKeys, DefaultMaxKeys)
	}
	if cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("keyed: IdleTimeout %v must not be negative (0 means %v)", cfg.IdleTimeout, DefaultIdleTimeout)
	}
	if cfg.MaxKeyLen < 0 {
		return nil, fmt.Errorf("keyed: MaxKeyLen %d must not be negative (0 means %d)", cfg.MaxKeyLen, DefaultMaxKeyLen)
	}
	k := &Keyed{
		name:      orDefault(cfg.Name, "keyed"),
		factory:   factory,
		onEvict:   cfg.OnEvict,
		maxKeys:   orDefault(cfg.MaxKeys, DefaultMaxKeys),
		maxKeyLen: orDefault(cfg.MaxKeyLen, DefaultMaxKeyLen),
		idle:      int64(orDefault(cfg.IdleTimeout, DefaultIdleTimeout)),
		base:      time.Now(),
	}
	k.sweepEvery = max(k.idle/8, int64(time.Millisecond))
	k.batch = max(1, k.maxKeys/16)
	k.nextSweep.Store(k.sweepEvery)
	return k, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name returns the Keyed's name.
func (k *Keyed) Name() string {
	if k == nil {
		return ""
	}
	return k.name
}

// Do runs op under the instance for the key that [WithKey] put in ctx,
// creating the instance first if there is none. A ctx without a key is
// served by the instance for the empty key "", like any other key. op gets
// ctx unchanged, key included.
//
// Keys longer than MaxKeyLen, the key [OverflowKey], and new keys that find
// the table full of instances that cannot be evicted are served by the
// shared overflow instance.
//
// If the factory fails, op does not run and Do returns a [*FactoryError];
// the failure is not remembered, so the next call for the key asks the
// factory again.
func (k *Keyed) Do(ctx context.Context, op func(context.Context) error) error {
	if k == nil {
		return errNotBuilt
	}
	key, _ := ctx.Value(ctxKey{}).(string)
	return k.doKey(ctx, key, op)
}

func (k *Keyed) doKey(ctx context.Context, key string, op func(context.Context) error) error {
	e := k.lookup(key)
	if e == nil || !e.acquire() {
		var err error
		if e, err = k.obtain(key, true); err != nil {
			return err
		}
	}
	defer e.release()
	return e.p.Do(ctx, op)
}

// Policy returns the policy for key, creating its instance first if there is
// none; it fails like [Keyed.Do] when the factory does. Adapters that know
// the key at the call site use it to avoid a context value per call: for an
// existing key it takes no lock and allocates nothing.
//
// The result is a handle, not the factory's instance: its Do counts the call
// as in flight (so that the instance is not evicted under it) and marks the
// instance used. A handle whose instance has been evicted since runs its
// calls under the key's current instance, creating it if need be. Use
// [Keyed.Range] to reach the instances themselves.
func (k *Keyed) Policy(key string) (resilience.Policy, error) {
	if k == nil {
		return nil, errNotBuilt
	}
	if e := k.lookup(key); e != nil {
		return e, nil
	}
	e, err := k.obtain(key, false)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Instance returns the factory's instance behind h, a handle that
// [Keyed.Policy] returned, for reaching the instance's own methods (its
// breaker's state, say) without a lookup. For any other policy, a nil one
// included, it returns h. Calls made through the instance directly are not
// counted as in flight, so run them through the handle.
func Instance(h resilience.Policy) resilience.Policy {
	if e, ok := h.(*entry); ok && e != nil {
		return e.p
	}
	return h
}

// Len returns the number of per-key instances held, at most MaxKeys. The
// overflow instance is not counted.
func (k *Keyed) Len() int {
	if k == nil {
		return 0
	}
	return int(k.n.Load())
}

// Range calls f with the key and policy of each instance held, the overflow
// instance (key [OverflowKey]) last if it exists, until f returns false. It
// takes no lock and is not a consistent snapshot: instances created or
// evicted meanwhile may or may not be visited. f may call any method of the
// Keyed.
//
// The policies are the factory's instances, for reading their state (a
// breaker's, say) on a status page; calls made through them directly are not
// seen by the Keyed, which may then evict an instance in use. Make calls
// with [Keyed.Do] or [Keyed.Policy].
func (k *Keyed) Range(f func(key string, p resilience.Policy) bool) {
	if k == nil {
		return
	}
	more := true
	k.m.Range(func(_, v any) bool {
		e := v.(*entry)
		if e.state.Load()&evictedBit != 0 {
			return true
		}
		more = f(e.key, e.p)
		return more
	})
	if o := k.overflow.Load(); o != nil && more {
		f(o.key, o.p)
	}
}

// Stats are counters of a [Keyed], for telemetry and status pages.
type Stats struct {
	Keys          int    // per-key instances held now, as Len reports
	Created       uint64 // instances the factory built, the overflow instance included
	Evicted       uint64 // instances evicted, idle or to make room
	Overflowed    uint64 // lookups of a key served by the overflow instance: too long, or no room
	FactoryErrors uint64 // factory calls that failed or returned a nil Policy
}

// Stats returns the Keyed's counters. It takes no lock.
func (k *Keyed) Stats() Stats {
	if k == nil {
		return Stats{}
	}
	return Stats{
		Keys:          k.Len(),
		Created:       k.created.Load(),
		Evicted:       k.evictions.Load(),
		Overflowed:    k.overflowed.Load(),
		FactoryErrors: k.factoryErrors.Load(),
	}
}

// FactoryError is returned by [Keyed.Do] and [Keyed.Policy] when the factory
// failed to build the instance for a key. It unwraps to the factory's error
// (or [ErrNilPolicy]). It is neutral under [resilience.IsNeutral]: it says
// nothing about the health of the dependency, so a breaker around the Keyed
// does not count it.
type FactoryError struct {
	Name string // the Keyed's name
	Key  string // the key the factory was called with; untrusted, bounded by MaxKeyLen
	Err  error  // what the factory returned
}

// Error quotes the key, so that a key with control characters cannot forge
// log lines.
func (e *FactoryError) Error() string {
	return fmt.Sprintf("keyed: %s: building the instance for key %q: %v", e.Name, e.Key, e.Err)
}

// Unwrap returns the factory's error.
func (e *FactoryError) Unwrap() error { return e.Err }

// Neutral reports true: see [resilience.IsNeutral].
func (e *FactoryError) Neutral() bool { return true }

// lookup returns the live entry for key without locking, or nil. The entry
// may be evicted at any moment after; acquire tells.
func (k *Keyed) lookup(key string) *entry {
	if k.toOverflow(key) {
		if key != OverflowKey {
			k.overflowed.Add(1)
		}
		return k.overflow.Load()
	}
	if v, ok := k.m.Load(key); ok {
		return v.(*entry)
	}
	return nil
}

func (k *Keyed) toOverflow(key string) bool {
	return len(key) > k.maxKeyLen || key == OverflowKey
}

// obtain is the slow path: it returns the entry for key, creating it (or
// the overflow entry) if need be, with one call counted in flight if
// acquire is set.
func (k *Keyed) obtain(key string, acquire bool) (*entry, error) {
	if k.factory == nil {
		return nil, errNotBuilt
	}
	var evicted []*entry
	defer k.notify(&evicted) // after the deferred Unlock below
	k.mu.Lock()
	defer k.mu.Unlock()

	if k.toOverflow(key) {
		return k.overflowLocked(acquire)
	}
	if v, ok := k.m.Load(key); ok {
		// Entries in the map are alive while mu is held: only a sweep,
		// holding mu, marks them evicted, and it removes them at once.
		e := v.(*entry)
		if acquire {
			e.state.Add(1)
		}
		return e, nil
	}
	now := k.now()
	if now >= k.nextSweep.Load() {
		k.nextSweep.Store(now + k.sweepEvery)
		evicted = k.sweepLocked(now, 0, evicted)
		k.credit = 0
	}
	if len(k.entries) >= k.maxKeys {
		if k.credit > 0 {
			k.credit--
		} else {
			before := len(k.entries)
			evicted = k.sweepLocked(now, k.batch, evicted)
			if before-len(k.entries) < k.batch {
				// Most instances cannot be evicted now: send the next
				// new keys that find the table full to the overflow
				// instance without scanning again.
				k.credit = k.batch
			}
		}
		if len(k.entries) >= k.maxKeys {
			k.overflowed.Add(1)
			return k.overflowLocked(acquire)
		}
	}
	// Copy the key: it may be a slice of a much larger string (a URL, a
	// request line) that the table must not keep alive.
	key = strings.Clone(key)
	p, err := k.build(key)
	if err != nil {
		return nil, err
	}
	e := k.newEntry(key, p, now, acquire)
	e.idx = len(k.entries)
	k.entries = append(k.entries, e)
	k.n.Store(int64(len(k.entries)))
	k.m.Store(key, e)
	return e, nil
}

func (k *Keyed) overflowLocked(acquire bool) (*entry, error) {
	e := k.overflow.Load()
	if e == nil {
		p, err := k.build(OverflowKey)
		if err != nil {
			return nil, err
		}
		e = k.newEntry(OverflowKey, p, k.now(), false)
		e.idx = -1
		k.overflow.Store(e)
	}
	if acquire {
		e.state.Add(1)
	}
	return e, nil
}

// build calls the factory; mu is held.
func (k *Keyed) build(key string) (resilience.Policy, error) {
	p, err := k.factory(key)
	if err == nil && p == nil {
		err = ErrNilPolicy
	}
	if err != nil {
		k.factoryErrors.Add(1)
		return nil, &FactoryError{Name: k.name, Key: key, Err: err}
	}
	k.created.Add(1)
	return p, nil
}

// now returns the monotonic time since k was built, in nanoseconds.
func (k *Keyed) now() int64 { return int64(time.Since(k.base)) }

func (k *Keyed) notify(evicted *[]*entry) {
	for _, e := range *evicted {
		k.onEvict(e.key, e.p)
	}
}
