package keyed_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/keyed"
)

// TestIdleInstancesAreEvicted: an instance unused for IdleTimeout goes at
// the first call after that, give or take the sweep interval
// (IdleTimeout/8), and not before; one in use stays.
func TestIdleInstancesAreEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = time.Minute
		r := newRecorder()
		k := mustNew(t, keyed.Config{IdleTimeout: idle}, tagging(r))
		mustCall(t, k, "a")
		mustCall(t, k, "b")
		time.Sleep(idle - time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "b")            // sweeps: nothing is idle yet
		if got, want := strings.Join(held(k), ","), "a,b"; got != want {
			t.Errorf("before IdleTimeout: held %s, want %s", got, want)
		}
		time.Sleep(idle/8 + 2*time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "b")                // sweeps: a idle for IdleTimeout + IdleTimeout/8 + 1s
		if got, want := strings.Join(held(k), ","), "b"; got != want {
			t.Errorf("after IdleTimeout: held %s, want %s", got, want)
		}
		if got := mustCall(t, k, "a"); got.n != 2 {
			t.Errorf("a after eviction: ran under instance %d, want a new one (2)", got.n)
		}
		if st := k.Stats(); st.Evicted != 1 || st.Keys != 2 {
			t.Errorf("Stats: got %+v, want 1 eviction and 2 keys", st)
		}
	})
}

// TestDefaultIdleTimeout is ten minutes.
func TestDefaultIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := mustNew(t, keyed.Config{}, tagging(newRecorder()))
		mustCall(t, k, "a")
		time.Sleep(keyed.DefaultIdleTimeout - time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "b")
		if !slices.Contains(held(k), "a") {
			t.Errorf("a evicted before the default IdleTimeout")
		}
		time.Sleep(keyed.DefaultIdleTimeout/8 + 2*time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "b")
		if slices.Contains(held(k), "a") {
			t.Errorf("a not evicted after the default IdleTimeout")
		}
	})
}

// TestDefaultLimits: MaxKeys 1024 and MaxKeyLen 256 when zero.
func TestDefaultLimits(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{}, tagging(r))
	most := 0
	for i := range keyed.DefaultMaxKeys + 100 {
		mustCall(t, k, strconv.Itoa(i))
		most = max(most, k.Len())
	}
	if most != keyed.DefaultMaxKeys {
		t.Errorf("most instances held: got %d, want %d", most, keyed.DefaultMaxKeys)
	}
	if got := mustCall(t, k, strings.Repeat("k", keyed.DefaultMaxKeyLen)); got.key == keyed.OverflowKey {
		t.Errorf("a key of DefaultMaxKeyLen bytes went to the overflow instance")
	}
	if got := mustCall(t, k, strings.Repeat("k", keyed.DefaultMaxKeyLen+1)); got.key != keyed.OverflowKey {
		t.Errorf("a key longer than DefaultMaxKeyLen ran under %q, want the overflow instance", got.key)
	}
}

// TestFullTableEvictsLeastRecentlyUsed: room for a new key is made by
// evicting the instance unused the longest, not one used recently.
func TestFullTableEvictsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		k := mustNew(t, keyed.Config{MaxKeys: 4, IdleTimeout: time.Hour}, tagging(r))
		for _, key := range []string{"a", "b", "c", "d", "a"} {
			mustCall(t, k, key)
			time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		}
		mustCall(t, k, "e") // full: b is the least recently used
		if got, want := strings.Join(held(k), ","), "a,c,d,e"; got != want {
			t.Errorf("held %s, want %s", got, want)
		}
		mustCall(t, k, "c")
		time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "f")     // d is now the least recently used
		if got, want := strings.Join(held(k), ","), "a,c,e,f"; got != want {
			t.Errorf("held %s, want %s", got, want)
		}
	})
}

// TestRetainedInstancesSurviveIdleness: an instance that reports Retain()
// true (an open breaker) is kept however long it is idle, and evicted once
// it no longer asks to be.
func TestRetainedInstancesSurviveIdleness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		k := mustNew(t, keyed.Config{IdleTimeout: time.Minute}, tagging(r))
		mustCall(t, k, "open").retain.Store(true)
		mustCall(t, k, "closed")
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "other")
		if got, want := strings.Join(held(k), ","), "open,other"; got != want {
			t.Errorf("after an idle hour: held %s, want %s", got, want)
		}
		if got := mustCall(t, k, "open"); got.n != 1 {
			t.Errorf("retained key ran under instance %d, want the first: its state was lost", got.n)
		}
		r.instance("open").retain.Store(false)
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "other")
		if got, want := strings.Join(held(k), ","), "other"; got != want {
			t.Errorf("after it stopped being retained: held %s, want %s", got, want)
		}
	})
}

// TestLongCallIsNotIdle: an instance with a call running longer than
// IdleTimeout is not evicted, and its idle time counts from the call's end.
func TestLongCallIsNotIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		k := mustNew(t, keyed.Config{IdleTimeout: time.Minute}, tagging(r))
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = k.Do(keyed.WithKey(t.Context(), "stream"), func(ctx context.Context) error {
				time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
				return nil
			})
		}()
		for range 60 {
			time.Sleep(59 * time.Second) // sleep-ok: fake time inside a synctest bubble
			mustCall(t, k, "tick")
			if !slices.Contains(held(k), "stream") {
				t.Errorf("the instance of a running call was evicted")
				break
			}
		}
		<-done
		time.Sleep(30 * time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "tick")
		if !slices.Contains(held(k), "stream") {
			t.Errorf("evicted 30s after its call ended, want IdleTimeout (1m)")
		}
		time.Sleep(2 * time.Minute) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "tick")
		if slices.Contains(held(k), "stream") {
			t.Errorf("not evicted 2m30s after its call ended")
		}
		if got := r.builds("stream"); got != 1 {
			t.Errorf("stream built %d times, want 1", got)
		}
	})
}

// TestConcurrentFirstUseLeavesNothingInFlight: callers that race to create
// the same key must each count their call in flight and release it, or the
// instance would look busy forever and never be evicted.
func TestConcurrentFirstUseLeavesNothingInFlight(t *testing.T) {
	const keys, callers = 100, 8
	var mu sync.Mutex
	builds := map[string]int{}
	k := mustNew(t, keyed.Config{MaxKeys: 2 * keys}, func(key string) (resilience.Policy, error) {
		for range 10 {
			runtime.Gosched() // let the other callers miss the key and queue
		}
		mu.Lock()
		builds[key]++
		mu.Unlock()
		return &instance{key: key}, nil
	})
	firstUse := func(key string) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range callers {
			wg.Go(func() {
				<-start
				_ = k.Do(keyed.WithKey(context.Background(), key), noop)
			})
		}
		close(start)
		wg.Wait()
	}
	for i := range keys {
		firstUse("first" + strconv.Itoa(i))
	}
	// Make room over and over: every first* instance is evictable.
	for i := range 10 * keys {
		if _, err := k.Policy("later" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range keys {
		key := "first" + strconv.Itoa(i)
		firstUse(key)
		if builds[key] != 2 {
			t.Errorf("%s built %d times, want 2: it was not evicted, so a call is still counted in flight", key, builds[key])
		}
	}
}

// TestChainAsksItsMembersToRetain: a factory's usual result is a Chain of
// a breaker and a bulkhead; the chain is retained while its breaker asks
// to be.
func TestChainAsksItsMembersToRetain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		breakers := map[string]*instance{}
		pass := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
		k := mustNew(t, keyed.Config{IdleTimeout: time.Minute}, func(key string) (resilience.Policy, error) {
			br := &instance{key: key}
			breakers[key] = br
			return resilience.Chain(br, pass), nil
		})
		for _, key := range []string{"open", "closed"} {
			if err := k.Do(keyed.WithKey(context.Background(), key), noop); err != nil {
				t.Fatal(err)
			}
		}
		breakers["open"].retain.Store(true)
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		if _, err := k.Policy("other"); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(held(k), ","), "open,other"; got != want {
			t.Errorf("held %s, want %s", got, want)
		}
	})
}

// flipRetainer reports false to its first Retain and true afterwards: a
// breaker that opens between a sweep's first look at its entry and the
// eviction itself.
type flipRetainer struct {
	resilience.PolicyFunc
	calls atomic.Int32
}

func (f *flipRetainer) Retain() bool { return f.calls.Add(1) > 1 }

// Regression: an entry whose policy came to need retaining after the sweep
// chose it (a call opened its breaker meanwhile) is given back, not evicted.
func TestEvictionLooksAgainAfterClaimingTheEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		created := map[string]int{}
		var a *flipRetainer
		k, err := keyed.New(keyed.Config{MaxKeys: 8, IdleTimeout: time.Minute}, func(key string) (resilience.Policy, error) {
			created[key]++
			p := &flipRetainer{PolicyFunc: func(ctx context.Context, op func(context.Context) error) error { return op(ctx) }}
			if key == "a" {
				a = p
			}
			return p, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		run := func(key string) {
			p, err := k.Policy(key)
			if err != nil {
				t.Fatal(err)
			}
			_ = p.Do(context.Background(), func(context.Context) error { return nil })
		}
		run("a")
		time.Sleep(2 * time.Minute) // sleep-ok: fake time inside a synctest bubble; "a" is idle
		run("b")                    // its release runs the periodic sweep
		if a.calls.Load() < 2 {
			t.Fatalf("the sweep asked Retain %d times, want the second look after claiming the entry", a.calls.Load())
		}
		run("a")
		if created["a"] != 1 {
			t.Errorf("instance for \"a\" created %d times: the sweep evicted it although it came to need retaining", created["a"])
		}
	})
}

// TestBreakersOfKeysNeverCalledAgainAreEvicted: keys whose breakers opened
// and which are never called again (attacker-chosen hosts, say) do not hold
// the table for good: once their open period is over they are evicted like
// any idle instance, and new keys get instances of their own instead of
// sharing the overflow one.
func TestBreakersOfKeysNeverCalledAgainAreEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := mustNew(t, keyed.Config{MaxKeys: 2, IdleTimeout: time.Minute}, func(string) (resilience.Policy, error) {
			return breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second})
		})
		fail := func(context.Context) error { return errors.New("boom") }
		for _, key := range []string{"attacker-1", "attacker-2"} {
			_ = k.Do(keyed.WithKey(context.Background(), key), fail)
		}
		// While their breakers are open, they stay: new keys overflow.
		if err := k.Do(keyed.WithKey(context.Background(), "early"), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if st := k.Stats(); st.Overflowed != 1 {
			t.Errorf("a new key while both breakers are open: Overflowed %d, want 1", st.Overflowed)
		}
		time.Sleep(2 * time.Minute) // sleep-ok: fake time inside a synctest bubble
		for _, key := range []string{"new-a", "new-b"} {
			if err := k.Do(keyed.WithKey(context.Background(), key), func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		got := held(k)
		slices.Sort(got)
		if want := []string{keyed.OverflowKey, "new-a", "new-b"}; !slices.Equal(got, want) {
			t.Errorf("held %v, want %v: the two new keys (and the overflow instance)", got, want)
		}
		if st := k.Stats(); st.Overflowed != 1 {
			t.Errorf("Overflowed %d, want no new key sent to the overflow instance", st.Overflowed)
		}
	})
}

func TestNilKeyedReturnsError(t *testing.T) {
	var k *keyed.Keyed
	if err := k.Do(context.Background(), func(context.Context) error { return nil }); err == nil || !strings.Contains(err.Error(), "not built with New") {
		t.Errorf("Do on a nil Keyed: %v, want not built with New", err)
	}
	if _, err := k.Policy("a"); err == nil {
		t.Error("Policy on a nil Keyed: nil error")
	}
	// The read methods report an empty set (a status page may hold the
	// result of a New that failed).
	k.Range(func(string, resilience.Policy) bool { t.Error("Range on a nil Keyed called f"); return true })
	if k.Name() != "" || k.Len() != 0 || k.Stats() != (keyed.Stats{}) || k.Status().Kind != "keyed" {
		t.Errorf("nil Keyed: Name %q, Len %d, Stats %+v, Status %+v; want empties", k.Name(), k.Len(), k.Stats(), k.Status())
	}
}
