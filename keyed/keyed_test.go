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
	"github.com/cascadeguard/resilience/keyed"
)

// instance is the policy the test factories build: it records its key and
// its calls, and reports Retain() as told.
type instance struct {
	key    string
	n      int // the how-many-th instance built for key, from 1
	retain atomic.Bool
	calls  atomic.Int64
}

func (p *instance) Do(ctx context.Context, op func(context.Context) error) error {
	p.calls.Add(1)
	return op(ctx)
}

func (p *instance) Retain() bool { return p.retain.Load() }

// recorder is a factory that remembers what it built.
type recorder struct {
	mu    sync.Mutex
	built map[string]int
	last  map[string]*instance
	fail  map[string]error // keys for which the factory fails
}

func newRecorder() *recorder {
	return &recorder{built: map[string]int{}, last: map[string]*instance{}, fail: map[string]error{}}
}

func (r *recorder) factory(key string) (resilience.Policy, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail[key]; err != nil {
		return nil, err
	}
	r.built[key]++
	p := &instance{key: key, n: r.built[key]}
	r.last[key] = p
	return p, nil
}

func (r *recorder) builds(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.built[key]
}

func (r *recorder) instance(key string) *instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[key]
}

func (r *recorder) setFail(key string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[key] = err
}

func mustNew(t testing.TB, cfg keyed.Config, f keyed.Factory) *keyed.Keyed {
	t.Helper()
	k, err := keyed.New(cfg, f)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

// call runs one call for key through Do and returns the instance that ran
// it (nil if none did) and Do's error.
func call(k *keyed.Keyed, key string) (*instance, error) {
	var ran *instance
	err := k.Do(keyed.WithKey(context.Background(), key), func(ctx context.Context) error {
		ran = runningInstance(ctx)
		return nil
	})
	return ran, err
}

// mustCall is call for keys whose factory cannot fail.
func mustCall(t testing.TB, k *keyed.Keyed, key string) *instance {
	t.Helper()
	p, err := call(k, key)
	if err != nil || p == nil {
		t.Fatalf("Do(%q): got instance %v, err %v; want an instance, nil", key, p, err)
	}
	return p
}

type runningKey struct{}

// tagging wraps the recorder's instances so that op learns which instance
// runs it.
func tagging(r *recorder) keyed.Factory {
	return func(key string) (resilience.Policy, error) {
		p, err := r.factory(key)
		if err != nil {
			return nil, err
		}
		inst := p.(*instance)
		return &tagged{inst}, nil
	}
}

type tagged struct{ *instance }

func (t *tagged) Do(ctx context.Context, op func(context.Context) error) error {
	return t.instance.Do(context.WithValue(ctx, runningKey{}, t.instance), op)
}

func runningInstance(ctx context.Context) *instance {
	p, _ := ctx.Value(runningKey{}).(*instance)
	return p
}

// held lists the keys of the instances k holds, sorted, the overflow
// instance included.
func held(k *keyed.Keyed) []string {
	var keys []string
	k.Range(func(key string, _ resilience.Policy) bool {
		keys = append(keys, key)
		return true
	})
	slices.Sort(keys)
	return keys
}

func TestNewRejectsBadConfig(t *testing.T) {
	r := newRecorder()
	tests := []struct {
		name    string
		cfg     keyed.Config
		factory keyed.Factory
		want    []string // substrings of the error
	}{
		{"nil factory", keyed.Config{}, nil, []string{"factory", "nil"}},
		{"negative MaxKeys", keyed.Config{MaxKeys: -1}, r.factory, []string{"MaxKeys", "-1"}},
		{"negative IdleTimeout", keyed.Config{IdleTimeout: -time.Second}, r.factory, []string{"IdleTimeout", "-1s"}},
		{"negative MaxKeyLen", keyed.Config{MaxKeyLen: -7}, r.factory, []string{"MaxKeyLen", "-7"}},
	}
	for _, tt := range tests {
		k, err := keyed.New(tt.cfg, tt.factory)
		if err == nil || k != nil {
			t.Errorf("%s: got (%v, %v), want an error", tt.name, k, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
	}
}

func TestDoRunsUnderTheKeysInstance(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{}, tagging(r))
	for _, key := range []string{"a", "b", "a", "a", "b", "c"} {
		if got := mustCall(t, k, key); got.key != key {
			t.Errorf("Do(%q) ran under the instance for %q", key, got.key)
		}
	}
	for key, want := range map[string]int64{"a": 3, "b": 2, "c": 1} {
		if got := r.instance(key).calls.Load(); got != want || r.builds(key) != 1 {
			t.Errorf("key %q: got %d calls, %d builds; want %d calls, 1 build", key, got, r.builds(key), want)
		}
	}
	if got, want := k.Len(), 3; got != want {
		t.Errorf("Len: got %d, want %d", got, want)
	}
}

func TestOpSeesTheCallersContext(t *testing.T) {
	k := mustNew(t, keyed.Config{}, newRecorder().factory)
	type mark struct{}
	ctx := context.WithValue(keyed.WithKey(context.Background(), "host:443"), mark{}, "caller")
	opErr := errors.New("op failed")
	err := k.Do(ctx, func(ctx context.Context) error {
		if got, ok := keyed.KeyFrom(ctx); !ok || got != "host:443" {
			t.Errorf("KeyFrom in op: got %q, %v; want host:443, true", got, ok)
		}
		if ctx.Value(mark{}) != "caller" {
			t.Errorf("op's context lost the caller's values")
		}
		return opErr
	})
	if err != opErr {
		t.Errorf("Do: got %v, want op's error %v unchanged", err, opErr)
	}
}

func TestContextWithoutKeyUsesTheEmptyKey(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{}, tagging(r))
	if _, ok := keyed.KeyFrom(context.Background()); ok {
		t.Errorf("KeyFrom(Background): got ok, want no key")
	}
	var ran *instance
	for range 2 {
		if err := k.Do(context.Background(), func(ctx context.Context) error {
			ran = runningInstance(ctx)
			return nil
		}); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	if ran == nil || ran.key != "" || r.builds("") != 1 {
		t.Errorf("key-less calls ran under %+v with %d builds, want the instance for \"\" built once", ran, r.builds(""))
	}
	if got := mustCall(t, k, ""); got != ran {
		t.Errorf("WithKey(\"\") ran under a different instance than a key-less context")
	}
}

func TestFactoryCalledOncePerKeyUnderConcurrentFirstUse(t *testing.T) {
	var mu sync.Mutex
	builds := map[string]int{}
	k := mustNew(t, keyed.Config{}, func(key string) (resilience.Policy, error) {
		runtime.Gosched() // widen the window for a second build
		mu.Lock()
		builds[key]++
		mu.Unlock()
		return &instance{key: key}, nil
	})
	const goroutines, keys = 16, 100
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range keys {
				key := strconv.Itoa((i + g*7) % keys)
				var err error
				if g%2 == 0 {
					err = k.Do(keyed.WithKey(context.Background(), key), func(context.Context) error { return nil })
				} else {
					_, err = k.Policy(key)
				}
				if err != nil {
					t.Errorf("key %s: %v", key, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range keys {
		if got := builds[strconv.Itoa(i)]; got != 1 {
			t.Errorf("key %d built %d times, want 1", i, got)
		}
	}
}

func TestFactoryErrorIsReturnedAndNotCached(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{Name: "per-host"}, r.factory)
	boom := errors.New("no such host")
	r.setFail("bad\nhost", boom)

	ran := false
	err := k.Do(keyed.WithKey(context.Background(), "bad\nhost"), func(context.Context) error { ran = true; return nil })
	if ran {
		t.Errorf("op ran although the factory failed")
	}
	var fe *keyed.FactoryError
	if !errors.As(err, &fe) || fe.Key != "bad\nhost" || fe.Name != "per-host" || !errors.Is(err, boom) {
		t.Fatalf("got %v, want a *FactoryError for key %q wrapping %v", err, "bad\nhost", boom)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, `"bad\nhost"`) {
		t.Errorf("error %q: want the key quoted, with no raw newline", msg)
	}
	if !resilience.IsNeutral(err) {
		t.Errorf("a factory error must be neutral for breakers around the Keyed")
	}
	if _, err := k.Policy("bad\nhost"); !errors.Is(err, boom) {
		t.Errorf("Policy: got %v, want the factory's error", err)
	}
	if got := k.Len(); got != 0 {
		t.Errorf("Len after failures: got %d, want 0", got)
	}
	// The failure is not remembered: once the factory recovers, so does the key.
	r.setFail("bad\nhost", nil)
	if _, err := call(k, "bad\nhost"); err != nil {
		t.Errorf("after the factory recovered: got %v, want nil", err)
	}
	if st := k.Stats(); st.FactoryErrors != 2 || st.Created != 1 {
		t.Errorf("Stats: got %+v, want 2 factory errors and 1 instance created", st)
	}
}

func TestFactoryReturningNilPolicyIsAnError(t *testing.T) {
	k := mustNew(t, keyed.Config{}, func(string) (resilience.Policy, error) { return nil, nil })
	ran := false
	err := k.Do(keyed.WithKey(context.Background(), "h"), func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, keyed.ErrNilPolicy) || ran {
		t.Errorf("got err %v, op ran %v; want ErrNilPolicy and op not run", err, ran)
	}
	if p, err := k.Policy("h"); p != nil || !errors.Is(err, keyed.ErrNilPolicy) {
		t.Errorf("Policy: got (%v, %v), want (nil, ErrNilPolicy)", p, err)
	}
}

func TestZeroKeyedReturnsErrors(t *testing.T) {
	var k keyed.Keyed
	if err := k.Do(context.Background(), func(context.Context) error { return nil }); err == nil {
		t.Errorf("Do on a zero Keyed: got nil, want an error")
	}
	if p, err := k.Policy("h"); err == nil || p != nil {
		t.Errorf("Policy on a zero Keyed: got (%v, %v), want an error", p, err)
	}
	if k.Len() != 0 || len(held(&k)) != 0 {
		t.Errorf("zero Keyed holds instances")
	}
}

func TestPolicyIsTheKeysHandle(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{}, tagging(r))
	p, err := k.Policy("a")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := k.Policy("a")
	if p != q {
		t.Errorf("Policy(a) twice: got two handles")
	}
	var ran *instance
	_ = p.Do(context.Background(), func(ctx context.Context) error { ran = runningInstance(ctx); return nil })
	if ran == nil || ran.key != "a" {
		t.Errorf("handle ran under %+v, want the instance for a", ran)
	}
	if got := mustCall(t, k, "a"); got != ran || r.builds("a") != 1 {
		t.Errorf("Do and the handle use different instances (builds %d)", r.builds("a"))
	}
	inst := keyed.Instance(p)
	var direct *instance
	if inst != nil && inst != p {
		_ = inst.Do(context.Background(), func(ctx context.Context) error { direct = runningInstance(ctx); return nil })
	}
	if direct != ran {
		t.Errorf("Instance(handle) = %v runs under %+v, want the factory's instance for a, not the handle", inst, direct)
	}
	if got := keyed.Instance(ran); got != resilience.Policy(ran) {
		t.Errorf("Instance(not a handle): got %v, want it back", got)
	}
	if got := keyed.Instance(nil); got != nil {
		t.Errorf("Instance(nil): got %v, want nil", got)
	}
}

func TestLongKeysGoToTheOverflowInstance(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{MaxKeyLen: 8}, tagging(r))
	if got := mustCall(t, k, "12345678"); got.key != "12345678" {
		t.Errorf("key of MaxKeyLen bytes ran under %q, want its own instance", got.key)
	}
	for _, key := range []string{"123456789", strings.Repeat("x", 1<<16)} {
		if got := mustCall(t, k, key); got.key != keyed.OverflowKey {
			t.Errorf("key of %d bytes ran under %q, want %q", len(key), got.key, keyed.OverflowKey)
		}
	}
	p, _ := k.Policy("a key that is too long")
	var ran *instance
	_ = p.Do(context.Background(), func(ctx context.Context) error { ran = runningInstance(ctx); return nil })
	if ran == nil || ran.key != keyed.OverflowKey {
		t.Errorf("Policy(long key) ran under %+v, want the overflow instance", ran)
	}
	if r.builds(keyed.OverflowKey) != 1 || k.Len() != 1 {
		t.Errorf("got %d overflow builds and Len %d, want 1 and 1", r.builds(keyed.OverflowKey), k.Len())
	}
	if got, want := strings.Join(held(k), ","), "12345678,"+keyed.OverflowKey; got != want {
		t.Errorf("Range: got %s, want %s", got, want)
	}
	if st := k.Stats(); st.Overflowed != 3 {
		t.Errorf("Stats.Overflowed: got %d, want 3", st.Overflowed)
	}
}

func TestOverflowKeyItselfIsTheOverflowInstance(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{MaxKeyLen: len(keyed.OverflowKey)}, tagging(r))
	a := mustCall(t, k, keyed.OverflowKey)
	b := mustCall(t, k, keyed.OverflowKey+"+")
	if a != b || a.key != keyed.OverflowKey || r.builds(keyed.OverflowKey) != 1 {
		t.Errorf("OverflowKey and an overflowed key ran under different instances or it was built %d times", r.builds(keyed.OverflowKey))
	}
	if k.Len() != 0 {
		t.Errorf("Len: got %d, want 0: the overflow instance is not counted", k.Len())
	}
	if st := k.Stats(); st.Overflowed != 1 {
		t.Errorf("Stats.Overflowed: got %d, want 1 (the OverflowKey itself is not an overflow)", st.Overflowed)
	}
}

func TestOverflowFactoryErrorNamesTheOverflowKey(t *testing.T) {
	r := newRecorder()
	boom := errors.New("quota")
	r.setFail(keyed.OverflowKey, boom)
	k := mustNew(t, keyed.Config{MaxKeyLen: 1}, r.factory)
	_, err := call(k, "long")
	var fe *keyed.FactoryError
	if !errors.As(err, &fe) || fe.Key != keyed.OverflowKey || !errors.Is(err, boom) {
		t.Errorf("got %v, want a FactoryError for %q wrapping %v", err, keyed.OverflowKey, boom)
	}
	r.setFail(keyed.OverflowKey, nil)
	if _, err := call(k, "long"); err != nil {
		t.Errorf("after the factory recovered: %v", err)
	}
}

// TestFullOfRetainedInstancesOverflows: when every instance must be kept,
// new keys are still served, by the overflow instance, and the retained
// instances keep their state.
func TestFullOfRetainedInstancesOverflows(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{MaxKeys: 4}, tagging(r))
	for i := range 4 {
		mustCall(t, k, strconv.Itoa(i)).retain.Store(true)
	}
	for i := range 100 {
		key := "new" + strconv.Itoa(i)
		if got := mustCall(t, k, key); got.key != keyed.OverflowKey {
			t.Fatalf("new key %s ran under %q, want the overflow instance", key, got.key)
		}
	}
	for i := range 4 {
		if key := strconv.Itoa(i); r.builds(key) != 1 {
			t.Errorf("retained key %s built %d times, want 1", key, r.builds(key))
		}
	}
	if got, want := k.Stats(), (keyed.Stats{Keys: 4, Created: 5, Overflowed: 100}); got != want {
		t.Errorf("Stats: got %+v, want %+v", got, want)
	}
	// Once an instance may go, new keys get their own again, within
	// MaxKeys/16 (here 1) further new keys.
	r.instance("2").retain.Store(false)
	own := 0
	for i := range 2 {
		if got := mustCall(t, k, "later"+strconv.Itoa(i)); got.key != keyed.OverflowKey {
			own++
		}
	}
	if own == 0 || slices.Contains(held(k), "2") || k.Len() != 4 {
		t.Errorf("after key 2 stopped being retained: %d of 2 new keys got their own instance, want at least 1; held %v", own, held(k))
	}
	for _, key := range []string{"0", "1", "3"} {
		if !slices.Contains(held(k), key) {
			t.Errorf("retained key %s evicted; held %v", key, held(k))
		}
	}
}

// TestFullTableOfRetainedInstancesIsNotScannedPerKey: when nothing can be
// evicted, new keys go to the overflow instance without a scan of the
// table each: a flood of new keys then costs O(1) amortised per key, not
// O(MaxKeys).
func TestFullTableOfRetainedInstancesIsNotScannedPerKey(t *testing.T) {
	const maxKeys, newKeys = 64, 1000
	var retains atomic.Int64
	k := mustNew(t, keyed.Config{MaxKeys: maxKeys}, func(key string) (resilience.Policy, error) {
		return &counting{retains: &retains}, nil
	})
	for i := range maxKeys + newKeys {
		if _, err := k.Policy(strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A scan asks each of the maxKeys instances; one scan per
	// maxKeys/16 new keys at most.
	if got, most := retains.Load(), int64(newKeys/(maxKeys/16)+1)*maxKeys; got > most {
		t.Errorf("Retain called %d times for %d new keys, want at most %d", got, newKeys, most)
	}
	if st := k.Stats(); st.Overflowed != newKeys || st.Keys != maxKeys {
		t.Errorf("Stats: got %+v, want %d overflowed and %d keys", st, newKeys, maxKeys)
	}
}

type counting struct{ retains *atomic.Int64 }

func (p *counting) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

func (p *counting) Retain() bool { p.retains.Add(1); return true }

// TestMillionKeysStayBounded: a million distinct attacker-chosen keys keep
// the table at MaxKeys instances and the heap flat.
func TestMillionKeysStayBounded(t *testing.T) {
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 200_000 // the race detector makes this ~10x slower; the bound is the same
	}
	const maxKeys = 1024
	var built atomic.Int64
	k := mustNew(t, keyed.Config{MaxKeys: maxKeys}, func(key string) (resilience.Policy, error) {
		built.Add(1)
		return &instance{key: key}, nil
	})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	var before uint64
	deadline := time.Now().Add(20 * time.Second)
	buf := make([]byte, 0, 64)
	for i := range n {
		if i == 10*maxKeys {
			before = heap() // the table is warm: full, with its spare capacity
		}
		buf = strconv.AppendInt(append(buf[:0], "attacker-"...), int64(i), 10)
		buf = append(buf, ".example:443"...)
		if _, err := k.Policy(string(buf)); err != nil {
			t.Fatalf("Policy: %v", err)
		}
		if i%4096 == 0 {
			if got := k.Len(); got > maxKeys {
				t.Fatalf("after %d keys: Len %d > MaxKeys %d", i+1, got, maxKeys)
			}
			if time.Now().After(deadline) {
				t.Fatalf("too slow: %d keys in 20s", i)
			}
		}
	}
	after := heap()
	if got := k.Len(); got > maxKeys || got < maxKeys/2 {
		t.Errorf("Len: got %d, want at most %d and not far below", got, maxKeys)
	}
	if got := built.Load(); got != int64(n) {
		t.Errorf("factory called %d times, want %d (one per distinct key)", got, n)
	}
	t.Logf("%d keys: heap in use %d bytes after %d keys, %d at the end", n, before, 10*maxKeys, after)
	// Unbounded, the table would hold n entries of ~200 bytes: 40 MB or more.
	if after > before+8<<20 {
		t.Errorf("heap in use grew from %d to %d bytes over %d keys", before, after, n)
	}
	runtime.KeepAlive(k)
}

// TestKeysAreCopied: a key that is a slice of a big string (a URL, a
// request line) must not keep that string alive.
func TestKeysAreCopied(t *testing.T) {
	k := mustNew(t, keyed.Config{}, newRecorder().factory)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range 32 {
		big := strings.Repeat(strconv.Itoa(i%10), 1<<20) + "/host-" + strconv.Itoa(i)
		if _, err := k.Policy(big[len(big)-12:]); err != nil {
			t.Fatal(err)
		}
	}
	if after := heap(); after > before+4<<20 {
		t.Errorf("heap grew by %d bytes for 32 short keys sliced from 1 MiB strings", after-before)
	}
	if k.Len() != 32 {
		t.Errorf("Len: got %d, want 32", k.Len())
	}
	runtime.KeepAlive(k)
}

// TestRetainedInstancesSurviveChurn: under a churn of new keys, an instance
// that reports Retain() true (an open breaker) is never evicted.
func TestRetainedInstancesSurviveChurn(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{MaxKeys: 16}, tagging(r))
	for i := range 8 {
		mustCall(t, k, "open"+strconv.Itoa(i)).retain.Store(true)
	}
	for i := range 10_000 {
		mustCall(t, k, "churn"+strconv.Itoa(i))
		if k.Len() > 16 {
			t.Fatalf("Len %d > MaxKeys 16", k.Len())
		}
	}
	for i := range 8 {
		key := "open" + strconv.Itoa(i)
		if got := mustCall(t, k, key); got.n != 1 || r.builds(key) != 1 {
			t.Errorf("retained key %s: built %d times, want 1: its state was lost", key, r.builds(key))
		}
	}
	if st := k.Stats(); st.Evicted < 10_000-16 {
		t.Errorf("Stats.Evicted: got %d, want at least %d", st.Evicted, 10_000-16)
	}
}

// TestInFlightInstanceIsNotEvicted: a per-key bulkhead must not be bypassed
// by evicting its instance while a call is running in it and building a
// second one for the same key.
func TestInFlightInstanceIsNotEvicted(t *testing.T) {
	r := newRecorder()
	k := mustNew(t, keyed.Config{MaxKeys: 4}, tagging(r))
	started, finish := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- k.Do(keyed.WithKey(context.Background(), "busy"), func(context.Context) error {
			close(started)
			<-finish
			return nil
		})
	}()
	<-started
	for i := range 200 {
		mustCall(t, k, "churn"+strconv.Itoa(i))
	}
	if got := r.builds("busy"); got != 1 || !slices.Contains(held(k), "busy") {
		t.Errorf("busy key built %d times, held %v: its instance was evicted during a call", got, held(k))
	}
	p, _ := k.Policy("busy")
	var ran *instance
	_ = p.Do(context.Background(), func(ctx context.Context) error { ran = runningInstance(ctx); return nil })
	if ran == nil || ran.n != 1 {
		t.Errorf("a second call for busy ran under %+v, want the first instance", ran)
	}
	close(finish)
	if err := <-done; err != nil {
		t.Errorf("busy call: %v", err)
	}
}

// TestPanicReleasesTheInstance: a panicking op must not leave its instance
// counted in flight forever (and so never evictable).
func TestPanicReleasesTheInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		k := mustNew(t, keyed.Config{IdleTimeout: time.Minute}, tagging(r))
		func() {
			defer func() {
				if v := recover(); v != "boom" {
					t.Errorf("recovered %v, want the op's panic", v)
				}
			}()
			_ = k.Do(keyed.WithKey(context.Background(), "p"), func(context.Context) error { panic("boom") })
		}()
		time.Sleep(2 * time.Minute) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "other")     // a call after the idle timeout sweeps
		if slices.Contains(held(k), "p") {
			t.Errorf("the instance of a panicked call was not evicted when idle: held %v", held(k))
		}
	})
}

// TestConcurrentChurnKeepsOneInstancePerKeyInUse is a stress test of the
// invariant the in-flight count protects: at no time do two instances of
// the same key run calls.
func TestConcurrentChurnKeepsOneInstancePerKeyInUse(t *testing.T) {
	const keys = 32
	// running[i] is the instance of key i that has calls running, and how
	// many; a mutex makes the bookkeeping exact.
	var mu sync.Mutex
	type use struct {
		owner *int
		calls int
	}
	var running [keys]use
	var violations int
	k := mustNew(t, keyed.Config{MaxKeys: 8, IdleTimeout: time.Nanosecond}, func(key string) (resilience.Policy, error) {
		i, err := strconv.Atoi(key)
		if err != nil {
			return nil, err
		}
		id := new(int) // this instance's identity
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			mu.Lock()
			if u := &running[i]; u.owner != nil && u.owner != id {
				violations++
			} else {
				u.owner = id
				u.calls++
			}
			mu.Unlock()
			defer func() {
				mu.Lock()
				if u := &running[i]; u.owner == id {
					if u.calls--; u.calls == 0 {
						u.owner = nil
					}
				}
				mu.Unlock()
			}()
			return op(ctx)
		}), nil
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := strconv.Itoa((i*7 + g*13) % keys)
				var err error
				if i%2 == 0 {
					err = k.Do(keyed.WithKey(context.Background(), key), func(context.Context) error { runtime.Gosched(); return nil })
				} else {
					var p resilience.Policy
					if p, err = k.Policy(key); err == nil {
						err = p.Do(context.Background(), func(context.Context) error { runtime.Gosched(); return nil })
					}
				}
				if err != nil {
					t.Errorf("key %s: %v", key, err)
					return
				}
				if n := k.Len(); n > 8 {
					t.Errorf("Len %d > MaxKeys 8", n)
					return
				}
			}
		})
	}
	wg.Wait()
	if violations != 0 {
		t.Errorf("%d times two instances of one key ran calls at once", violations)
	}
	if st := k.Stats(); st.Evicted == 0 {
		t.Errorf("no evictions: the test did not exercise eviction")
	}
}

// TestHandleOutlivesEviction: a handle from Policy whose instance was
// evicted runs its calls under the key's new instance, never the old one.
func TestHandleOutlivesEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		k := mustNew(t, keyed.Config{IdleTimeout: time.Minute}, tagging(r))
		h, err := k.Policy("a")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "b")         // sweeps: a is idle
		if slices.Contains(held(k), "a") {
			t.Fatalf("a not evicted; held %v", held(k))
		}
		var ran *instance
		if err := h.Do(context.Background(), func(ctx context.Context) error { ran = runningInstance(ctx); return nil }); err != nil {
			t.Fatal(err)
		}
		if ran == nil || ran.n != 2 || r.builds("a") != 2 {
			t.Errorf("handle ran under %+v after eviction, want a second instance for a", ran)
		}
		if got := mustCall(t, k, "a"); got != ran {
			t.Errorf("Do(a) and the old handle now use different instances")
		}
	})
}

func TestOnEvictMayCallTheKeyed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		var k *keyed.Keyed
		var evicted []string
		k = mustNew(t, keyed.Config{IdleTimeout: time.Minute, OnEvict: func(key string, p resilience.Policy) {
			if got := p.(*tagged).key; got != key {
				t.Errorf("OnEvict(%q) got the policy of %q", key, got)
			}
			evicted = append(evicted, key)
			// No lock is held: building another instance must not deadlock.
			if _, err := k.Policy("from-hook"); err != nil {
				t.Errorf("Policy in OnEvict: %v", err)
			}
			_ = k.Len()
		}}, tagging(r))
		mustCall(t, k, "a")
		mustCall(t, k, "b")
		time.Sleep(30 * time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "b")
		time.Sleep(45 * time.Second) // sleep-ok: fake time inside a synctest bubble
		mustCall(t, k, "c")          // a idle 75s, b 45s
		if got, want := strings.Join(evicted, ","), "a"; got != want {
			t.Errorf("OnEvict saw %q, want %q", got, want)
		}
		if got, want := strings.Join(held(k), ","), "b,c,from-hook"; got != want {
			t.Errorf("held: got %s, want %s", got, want)
		}
	})
}

// TestCallbacksMayReadTheKeyed: Retain and the factory run with the lock
// held; the read-only methods they may call must not take it.
func TestCallbacksMayReadTheKeyed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var k *keyed.Keyed
		read := func() {
			_ = k.Len()
			_ = k.Stats()
			k.Range(func(string, resilience.Policy) bool { return true })
		}
		k = mustNew(t, keyed.Config{IdleTimeout: time.Minute, MaxKeys: 2}, func(key string) (resilience.Policy, error) {
			read()
			return &reading{read: read}, nil
		})
		for i := range 10 {
			if _, err := call(k, strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute) // sleep-ok: fake time inside a synctest bubble
		}
	})
}

type reading struct{ read func() }

func (p *reading) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

func (p *reading) Retain() bool { p.read(); return false }

// TestExistingKeyNeverWaitsForTheFactory: a slow factory building one key
// holds the lock; calls for existing keys, even those whose end is due to
// sweep for idle instances, must not wait for it. It runs in real time, not
// in a synctest bubble: a goroutine blocked on a mutex does not let a
// bubble's clock advance, so a regression would hang instead of failing.
func TestExistingKeyNeverWaitsForTheFactory(t *testing.T) {
	building, release := make(chan struct{}), make(chan struct{})
	// IdleTimeout 1ns: a sweep is due every millisecond.
	k := mustNew(t, keyed.Config{IdleTimeout: time.Nanosecond}, func(key string) (resilience.Policy, error) {
		if key == "slow" {
			close(building)
			<-release
		}
		return &instance{key: key}, nil
	})
	fast, err := k.Policy("fast")
	if err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		_, _ = call(k, "slow")
	}()
	<-building
	fastDone := make(chan int)
	go func() {
		// Enough calls, over at least 10ms, for several sweeps to fall due.
		n := 0
		for start := time.Now(); n < 100_000 && (n < 100 || time.Since(start) < 10*time.Millisecond); n++ {
			_ = fast.Do(context.Background(), noop)
		}
		fastDone <- n
	}()
	select {
	case <-fastDone:
	case <-time.After(5 * time.Second):
		t.Errorf("calls for an existing key waited for the factory of another")
		close(release)
		<-fastDone
		<-slowDone
		return
	}
	close(release)
	<-slowDone
}

func TestRangeStopsWhenToldAndSkipsNothing(t *testing.T) {
	k := mustNew(t, keyed.Config{MaxKeyLen: 4}, newRecorder().factory)
	for _, key := range []string{"a", "b", "c", "too long"} {
		if _, err := k.Policy(key); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := strings.Join(held(k), ","), "_other,a,b,c"; got != want {
		t.Errorf("Range: got %s, want %s", got, want)
	}
	for stopAt := 1; stopAt <= 4; stopAt++ {
		n := 0
		k.Range(func(key string, p resilience.Policy) bool {
			n++
			if p.(*instance).key != key {
				t.Errorf("Range(%q) gave the policy of %q", key, p.(*instance).key)
			}
			return n < stopAt
		})
		if n != stopAt {
			t.Errorf("Range told to stop after %d visited %d", stopAt, n)
		}
	}
}

func TestName(t *testing.T) {
	for _, tt := range []struct{ name, want string }{{"", "keyed"}, {"per-host", "per-host"}} {
		k := mustNew(t, keyed.Config{Name: tt.name}, newRecorder().factory)
		if got := k.Name(); got != tt.want {
			t.Errorf("Name with Config.Name %q: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
