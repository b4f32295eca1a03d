package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/bulkhead"
)

func mustNew(t testing.TB, cfg bulkhead.Config) *bulkhead.Bulkhead {
	t.Helper()
	b, err := bulkhead.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return b
}

// A holder occupies one slot of a bulkhead until end is called.
type holder struct {
	release chan struct{}
	done    chan error
}

// hold starts a call that holds a slot (or waits for one) until end. Inside
// a synctest bubble, synctest.Wait() afterwards makes sure it got there.
func hold(b *bulkhead.Bulkhead) *holder {
	h := &holder{release: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		h.done <- b.Do(context.Background(), func(context.Context) error {
			<-h.release
			return nil
		})
	}()
	return h
}

func (h *holder) end() error {
	close(h.release)
	return <-h.done
}

func checkCounts(t *testing.T, b *bulkhead.Bulkhead, inFlight, queued int) {
	t.Helper()
	if got := b.InFlight(); got != inFlight {
		t.Errorf("InFlight() = %d, want %d", got, inFlight)
	}
	if got := b.Queued(); got != queued {
		t.Errorf("Queued() = %d, want %d", got, queued)
	}
}

func TestFullRejectsAtOnce(t *testing.T) {
	tests := []struct {
		name            string
		cfg             bulkhead.Config
		holders, queued int
	}{
		{"no queue", bulkhead.Config{MaxConcurrent: 2}, 2, 0},
		{"queue full", bulkhead.Config{MaxConcurrent: 1, MaxQueue: 2}, 1, 2},
		{"queue full with MaxWait", bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Hour}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, tt.cfg)
				var hs []*holder
				for range tt.holders + tt.queued {
					hs = append(hs, hold(b))
					synctest.Wait()
				}
				checkCounts(t, b, tt.holders, tt.queued)

				ran := false
				start := time.Now()
				err := b.Do(context.Background(), func(context.Context) error { ran = true; return nil })
				if got := time.Since(start); got != 0 {
					t.Errorf("rejected after %v, want at once", got)
				}
				if err != bulkhead.ErrFull {
					t.Errorf("got %v, want ErrFull", err)
				}
				if !errors.Is(err, resilience.ErrRejected) || !resilience.IsNeutral(err) {
					t.Errorf("err %v does not match resilience.ErrRejected", err)
				}
				if ran {
					t.Errorf("op ran on a rejected call")
				}
				checkCounts(t, b, tt.holders, tt.queued)
				for _, h := range hs {
					if err := h.end(); err != nil {
						t.Errorf("holder: got %v, want nil", err)
					}
				}
				checkCounts(t, b, 0, 0)
			})
		})
	}
}

func TestMaxWaitRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{Name: "inventory", MaxConcurrent: 1, MaxQueue: 1, MaxWait: 50 * time.Millisecond})
		h := hold(b)
		synctest.Wait()

		ran := false
		start := time.Now()
		err := b.Do(context.Background(), func(context.Context) error { ran = true; return nil })
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("rejected after %v, want MaxWait 50ms", got)
		}
		if !errors.Is(err, bulkhead.ErrFull) || !errors.Is(err, resilience.ErrRejected) {
			t.Errorf("got %v, want an error matching ErrFull and ErrRejected", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "inventory") || !strings.Contains(msg, "50ms") {
			t.Errorf("error %q does not name the bulkhead and MaxWait", msg)
		}
		if ran {
			t.Errorf("op ran on a call that timed out in the queue")
		}
		checkCounts(t, b, 1, 0)

		// The queue place is free again: the next waiter gets the slot.
		w := hold(b)
		synctest.Wait()
		checkCounts(t, b, 1, 1)
		if err := h.end(); err != nil {
			t.Errorf("holder: %v", err)
		}
		synctest.Wait()
		checkCounts(t, b, 1, 0)
		if err := w.end(); err != nil {
			t.Errorf("waiter: got %v, want nil", err)
		}
		checkCounts(t, b, 0, 0)
	})
}

func TestCallerContextEndsWhileQueued(t *testing.T) {
	tests := []struct {
		name     string
		maxWait  time.Duration
		deadline bool // else cancelled
		want     error
	}{
		{"cancel, no MaxWait", 0, false, context.Canceled},
		{"cancel before MaxWait", time.Second, false, context.Canceled},
		{"deadline, no MaxWait", 0, true, context.DeadlineExceeded},
		{"deadline before MaxWait", time.Second, true, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 5, MaxWait: tt.maxWait})
				h := hold(b)
				synctest.Wait()

				var ctx context.Context
				var cancel context.CancelFunc
				if tt.deadline {
					ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
				} else {
					ctx, cancel = context.WithCancel(context.Background())
					go func() {
						time.Sleep(30 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
						cancel()
					}()
				}
				defer cancel()

				ran := false
				start := time.Now()
				err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
				if got := time.Since(start); got != 30*time.Millisecond {
					t.Errorf("returned after %v, want 30ms", got)
				}
				if err != tt.want {
					t.Errorf("got %v, want %v unchanged", err, tt.want)
				}
				if errors.Is(err, bulkhead.ErrFull) {
					t.Errorf("the caller's own context error matches ErrFull")
				}
				if ran {
					t.Errorf("op ran for a caller that gave up")
				}
				checkCounts(t, b, 1, 0)
				if err := h.end(); err != nil {
					t.Errorf("holder: %v", err)
				}
				checkCounts(t, b, 0, 0)
			})
		})
	}
}

func TestContextAlreadyEnded(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
	if err != context.Canceled || ran {
		t.Errorf("got (%v, ran %v), want (context.Canceled, op not run)", err, ran)
	}
	checkCounts(t, b, 0, 0)
}

func TestOpErrorPassesThrough(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
	opErr := errors.New("connection refused")
	if err := b.Do(context.Background(), func(context.Context) error { return opErr }); err != opErr {
		t.Errorf("got %v, want %v unchanged", err, opErr)
	}
	checkCounts(t, b, 0, 0)
}

func TestPanicReleasesSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		type boom struct{}
		start := make(chan struct{})
		recovered := make(chan any, 1)
		go func() {
			defer func() { recovered <- recover() }()
			_ = b.Do(context.Background(), func(context.Context) error {
				<-start
				panic(boom{})
			})
		}()
		synctest.Wait()
		w := hold(b) // queued behind the call that will panic
		synctest.Wait()
		checkCounts(t, b, 1, 1)

		close(start)
		if got := <-recovered; got != (boom{}) {
			t.Errorf("recovered %v, want the op's own panic value re-panicked", got)
		}
		synctest.Wait()
		checkCounts(t, b, 1, 0) // the waiter got the slot the panic released
		if err := w.end(); err != nil {
			t.Errorf("waiter: got %v, want nil", err)
		}
		checkCounts(t, b, 0, 0)
	})
}

func TestGoexitReleasesSlot(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Do(context.Background(), func(context.Context) error {
			runtime.Goexit()
			return nil
		})
	}()
	<-done
	checkCounts(t, b, 0, 0)
}

// Waiters that time out or are cancelled must leave every slot and queue
// place as it was: no permit lost, none created.
func TestGivingUpLeavesCapacityUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slots, waiters = 3, 1000
		b := mustNew(t, bulkhead.Config{MaxConcurrent: slots, MaxQueue: waiters, MaxWait: 100 * time.Millisecond})
		var hs []*holder
		for range slots {
			hs = append(hs, hold(b))
		}
		synctest.Wait()

		var ran atomic.Int64
		errs := make([]error, waiters)
		var wg sync.WaitGroup
		for i := range waiters {
			wg.Go(func() {
				ctx := context.Background()
				switch i % 3 {
				case 0: // cancelled by the caller
					c, cancel := context.WithCancel(ctx)
					defer cancel()
					go func() {
						time.Sleep(time.Duration(i%97) * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
						cancel()
					}()
					ctx = c
				case 1: // the caller's deadline, some of them at MaxWait exactly
					c, cancel := context.WithTimeout(ctx, time.Duration(i%101)*time.Millisecond)
					defer cancel()
					ctx = c
				}
				errs[i] = b.Do(ctx, func(context.Context) error { ran.Add(1); return nil })
			})
		}
		wg.Wait()

		if got := ran.Load(); got != 0 {
			t.Errorf("%d ops ran while every slot was held", got)
		}
		for i, err := range errs {
			var ok bool
			switch i % 3 {
			case 0:
				ok = err == context.Canceled
			case 1:
				ok = err == context.DeadlineExceeded
			default:
				ok = errors.Is(err, bulkhead.ErrFull)
			}
			if !ok {
				t.Errorf("waiter %d: unexpected error %v", i, err)
			}
		}
		checkCounts(t, b, slots, 0)

		for _, h := range hs {
			if err := h.end(); err != nil {
				t.Errorf("holder: %v", err)
			}
		}
		checkCounts(t, b, 0, 0)

		// Exactly `slots` calls run at once again, the rest queue.
		hs = hs[:0]
		for range 10 {
			hs = append(hs, hold(b))
		}
		synctest.Wait()
		checkCounts(t, b, slots, 10-slots)
		for _, h := range hs {
			close(h.release)
		}
		for _, h := range hs {
			if err := <-h.done; err != nil {
				t.Errorf("call after the waiters gave up: %v", err)
			}
		}
		checkCounts(t, b, 0, 0)
	})
}

// A waiter that gives up at the very instant a slot is handed to it either
// runs op or returns an error without running it, and the slot is never lost.
func TestGiveUpRacingHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slots, waiters = 2, 200
		const at = 50 * time.Millisecond
		b := mustNew(t, bulkhead.Config{MaxConcurrent: slots, MaxQueue: waiters, MaxWait: at})
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range slots {
			wg.Go(func() {
				_ = b.Do(context.Background(), func(context.Context) error {
					time.Sleep(at) // releases at the instant the waiters give up // sleep-ok: fake time inside a synctest bubble
					return nil
				})
			})
		}
		synctest.Wait()

		for i := range waiters {
			wg.Go(func() {
				ctx := context.Background()
				if i%2 == 0 {
					c, cancel := context.WithTimeout(ctx, at)
					defer cancel()
					ctx = c
				}
				ran := false
				err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
				switch {
				case ran && err == nil:
					admitted.Add(1)
				case !ran && i%2 == 0 && err == context.DeadlineExceeded:
				case !ran && i%2 == 1 && errors.Is(err, bulkhead.ErrFull):
				default:
					t.Errorf("waiter %d: got (%v, ran %v)", i, err, ran)
				}
			})
		}
		wg.Wait()
		t.Logf("%d of %d waiters admitted", admitted.Load(), waiters)
		checkCounts(t, b, 0, 0)
	})
}

func TestFIFOAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: n})
		h := hold(b)
		synctest.Wait()

		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_ = b.Do(context.Background(), func(context.Context) error {
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					return nil
				})
			})
			synctest.Wait() // waiter i is queued before i+1 arrives
		}
		if err := h.end(); err != nil {
			t.Errorf("holder: %v", err)
		}
		wg.Wait()
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(order, want) {
			t.Errorf("admission order %v, want %v", order, want)
		}
	})
}

// A caller that releases its slot and calls again at once must queue behind
// the caller that was already waiting, not take the slot back.
func TestNoOvertakingWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		var mu sync.Mutex
		var order []string
		record := func(s string) func(context.Context) error {
			return func(context.Context) error {
				mu.Lock()
				order = append(order, s)
				mu.Unlock()
				return nil
			}
		}
		release := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = b.Do(context.Background(), func(context.Context) error { <-release; return nil })
			if err := b.Do(context.Background(), record("again")); err != nil {
				t.Errorf("second call: %v", err)
			}
		}()
		synctest.Wait()
		waiterDone := make(chan struct{})
		go func() {
			defer close(waiterDone)
			if err := b.Do(context.Background(), record("waiter")); err != nil {
				t.Errorf("waiter: %v", err)
			}
		}()
		synctest.Wait()
		close(release)
		<-done
		<-waiterDone
		if want := []string{"waiter", "again"}; !slices.Equal(order, want) {
			t.Errorf("order %v, want %v", order, want)
		}
	})
}

// Many goroutines at once, a third of them giving up early: the limit holds,
// every admitted op runs exactly once, rejected ones never, and the bulkhead
// ends empty.
func TestManyGoroutines(t *testing.T) {
	const (
		slots      = 8
		goroutines = 10_000
	)
	b := mustNew(t, bulkhead.Config{MaxConcurrent: slots, MaxQueue: 1000, MaxWait: 20 * time.Millisecond})
	var running, peak atomic.Int64
	runs := make([]atomic.Int32, goroutines)
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			if i%3 == 0 {
				c, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(500))*time.Microsecond)
				defer cancel()
				ctx = c
			}
			<-start
			errs[i] = b.Do(ctx, func(context.Context) error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				runs[i].Add(1)
				runtime.Gosched()
				running.Add(-1)
				return nil
			})
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	close(start)
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d goroutines did not finish within 20s: InFlight %d, Queued %d", goroutines, b.InFlight(), b.Queued())
	}

	if got := peak.Load(); got > slots {
		t.Errorf("peak concurrency %d, want at most %d", got, slots)
	}
	var admitted, rejected, gaveUp int
	for i, err := range errs {
		n := runs[i].Load()
		switch {
		case err == nil && n == 1:
			admitted++
		case errors.Is(err, bulkhead.ErrFull) && n == 0:
			rejected++
		case (err == context.DeadlineExceeded) && n == 0:
			gaveUp++
		default:
			t.Fatalf("goroutine %d: got (%v, op ran %d times)", i, err, n)
		}
	}
	t.Logf("admitted %d, rejected %d, gave up %d, peak %d", admitted, rejected, gaveUp, peak.Load())
	checkCounts(t, b, 0, 0)
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg   bulkhead.Config
		field string
		value string
	}{
		{bulkhead.Config{MaxConcurrent: -1}, "MaxConcurrent", "-1"},
		{bulkhead.Config{MaxConcurrent: 1 << 31}, "MaxConcurrent", "2147483648"},
		{bulkhead.Config{MaxQueue: -5}, "MaxQueue", "-5"},
		{bulkhead.Config{MaxQueue: 1 << 40}, "MaxQueue", "1099511627776"},
		{bulkhead.Config{MaxQueue: 1, MaxWait: -time.Second}, "MaxWait", "-1s"},
		// MaxWait without a queue would do nothing: refused, naming both.
		{bulkhead.Config{MaxWait: time.Second}, "MaxWait 1s", "MaxQueue 0"},
		{bulkhead.Config{MaxConcurrent: 3, MaxWait: time.Millisecond}, "MaxWait 1ms", "MaxQueue 0"},
	}
	for _, tt := range tests {
		b, err := bulkhead.New(tt.cfg)
		if err == nil || b != nil {
			t.Errorf("New(%+v): got (%v, %v), want an error", tt.cfg, b, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "bulkhead: ") || !strings.Contains(msg, tt.field) || !strings.Contains(msg, tt.value) {
			t.Errorf("New(%+v): error %q does not name %s and %s", tt.cfg, msg, tt.field, tt.value)
		}
	}
}

func TestConfigAndDefaults(t *testing.T) {
	tests := []struct {
		cfg                  bulkhead.Config
		name                 string
		maxConcurrent, queue int
		maxWait              time.Duration
	}{
		{bulkhead.Config{}, "bulkhead", bulkhead.DefaultMaxConcurrent, 0, 0},
		{bulkhead.Config{Name: "db", MaxConcurrent: 7, MaxQueue: 3, MaxWait: time.Second}, "db", 7, 3, time.Second},
	}
	for _, tt := range tests {
		b := mustNew(t, tt.cfg)
		got := fmt.Sprint(b.Name(), b.MaxConcurrent(), b.MaxQueue(), b.MaxWait())
		want := fmt.Sprint(tt.name, tt.maxConcurrent, tt.queue, tt.maxWait)
		if got != want {
			t.Errorf("New(%+v): got %s, want %s", tt.cfg, got, want)
		}
	}
}

func TestZeroConfigAdmitsDefaultMaxConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{})
		var hs []*holder
		for range bulkhead.DefaultMaxConcurrent {
			hs = append(hs, hold(b))
		}
		synctest.Wait()
		checkCounts(t, b, bulkhead.DefaultMaxConcurrent, 0)
		if err := b.Do(context.Background(), func(context.Context) error { return nil }); err != bulkhead.ErrFull {
			t.Errorf("call %d: got %v, want ErrFull", bulkhead.DefaultMaxConcurrent+1, err)
		}
		for _, h := range hs {
			_ = h.end()
		}
	})
}

func TestRetain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		if b.Retain() {
			t.Errorf("idle bulkhead: Retain() = true, want false")
		}
		h := hold(b)
		synctest.Wait()
		if !b.Retain() {
			t.Errorf("call in flight: Retain() = false, want true")
		}
		w := hold(b)
		synctest.Wait()
		_ = h.end()
		if !b.Retain() {
			t.Errorf("waiter admitted: Retain() = false, want true")
		}
		_ = w.end()
		if b.Retain() {
			t.Errorf("after all calls: Retain() = true, want false")
		}
	})
}
