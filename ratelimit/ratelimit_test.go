package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/telemetry"
)

func mustNew(t testing.TB, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

// call runs one call through l and reports how long Do took, whether op ran
// and Do's error.
func call(ctx context.Context, l *ratelimit.Limiter) (took time.Duration, ran bool, err error) {
	start := time.Now()
	err = l.Do(ctx, func(context.Context) error { ran = true; return nil })
	return time.Since(start), ran, err
}

// expect checks one call: it must take want time and run op (wantErr nil)
// or return wantErr without running op.
func expect(t *testing.T, what string, took time.Duration, ran bool, err error, want time.Duration, wantErr error) {
	t.Helper()
	if took != want {
		t.Errorf("%s: returned after %v, want %v", what, took, want)
	}
	if err != wantErr {
		t.Errorf("%s: got %v, want %v", what, err, wantErr)
	}
	if ran != (wantErr == nil) {
		t.Errorf("%s: op ran %v, want %v", what, ran, wantErr == nil)
	}
}

func TestBurstThenRejectAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, ratelimit.Config{Rate: 10, Burst: 3})
		ctx := context.Background()
		for i := range 3 {
			took, ran, err := call(ctx, l)
			expect(t, fmt.Sprintf("call %d in the burst", i+1), took, ran, err, 0, nil)
		}
		took, ran, err := call(ctx, l)
		expect(t, "call over the limit", took, ran, err, 0, ratelimit.ErrLimited)
		if !errors.Is(err, resilience.ErrRejected) || !resilience.IsNeutral(err) {
			t.Errorf("err %v does not match resilience.ErrRejected", err)
		}

		// A rejected call consumed nothing: one token later, one call passes.
		time.Sleep(100 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		took, ran, err = call(ctx, l)
		expect(t, "call after 100ms", took, ran, err, 0, nil)
		took, ran, err = call(ctx, l)
		expect(t, "second call after 100ms", took, ran, err, 0, ratelimit.ErrLimited)
	})
}

func TestWaitsWithinMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, ratelimit.Config{Rate: 10, Burst: 1, MaxWait: 200 * time.Millisecond})
		ctx := context.Background()
		took, ran, err := call(ctx, l)
		expect(t, "first call", took, ran, err, 0, nil)
		took, ran, err = call(ctx, l)
		expect(t, "second call", took, ran, err, 100*time.Millisecond, nil)
		took, ran, err = call(ctx, l)
		expect(t, "third call", took, ran, err, 100*time.Millisecond, nil)
	})
}

// A call whose token would come too late is rejected at once, and its
// reservation is given back: the calls after it do not pay for it.
func TestTooLateRejectsAndGivesTheTokenBack(t *testing.T) {
	tests := []struct {
		name     string
		maxWait  time.Duration
		deadline time.Duration // 0: none
	}{
		{"past MaxWait", 50 * time.Millisecond, 0},
		{"past the caller's deadline", time.Second, 50 * time.Millisecond},
		{"exactly at the caller's deadline", time.Second, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustNew(t, ratelimit.Config{Rate: 10, Burst: 1, MaxWait: tt.maxWait})
				took, ran, err := call(context.Background(), l)
				expect(t, "first call", took, ran, err, 0, nil)

				ctx := context.Background()
				if tt.deadline > 0 {
					c, cancel := context.WithTimeout(ctx, tt.deadline)
					defer cancel()
					ctx = c
				}
				took, ran, err = call(ctx, l) // its token would come at 100ms
				expect(t, "call over the limit", took, ran, err, 0, ratelimit.ErrLimited)

				time.Sleep(100 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				took, ran, err = call(context.Background(), l)
				expect(t, "call when the next token is due", took, ran, err, 0, nil)
			})
		})
	}
}

func TestCallerCancelsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, ratelimit.Config{Rate: 10, Burst: 1, MaxWait: time.Second})
		took, ran, err := call(context.Background(), l)
		expect(t, "first call", took, ran, err, 0, nil)

		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(30 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			cancel()
		}()
		took, ran, err = call(ctx, l)
		expect(t, "cancelled call", took, ran, err, 30*time.Millisecond, context.Canceled)

		// The cancelled call's token was given back: at 150ms the bucket
		// is full again (without it, the next token would come at 200ms).
		time.Sleep(120 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		took, ran, err = call(context.Background(), l)
		expect(t, "call at 150ms", took, ran, err, 0, nil)
	})
}

func TestCallerDeadlineWhileWaitingIsNotLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The deadline leaves room for the wait, so the call waits; it
		// must then run, not be reported as limited.
		l := mustNew(t, ratelimit.Config{Rate: 10, Burst: 1, MaxWait: time.Second})
		_, _, _ = call(context.Background(), l)
		ctx, cancel := context.WithTimeout(context.Background(), 101*time.Millisecond)
		defer cancel()
		took, ran, err := call(ctx, l)
		expect(t, "call with a deadline just after its token", took, ran, err, 100*time.Millisecond, nil)
	})
}

func TestContextAlreadyEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, ratelimit.Config{Rate: 1, Burst: 1, MaxWait: time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		took, ran, err := call(ctx, l)
		expect(t, "cancelled call", took, ran, err, 0, context.Canceled)
		// It took no token.
		took, ran, err = call(context.Background(), l)
		expect(t, "next call", took, ran, err, 0, nil)
	})
}

func TestOpErrorPassesThrough(t *testing.T) {
	l := mustNew(t, ratelimit.Config{Rate: rate.Inf})
	opErr := errors.New("connection refused")
	if err := l.Do(context.Background(), func(context.Context) error { return opErr }); err != opErr {
		t.Errorf("got %v, want %v unchanged", err, opErr)
	}
}

func TestInfiniteRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, ratelimit.Config{Rate: rate.Inf})
		for i := range 10_000 {
			if took, ran, err := call(context.Background(), l); took != 0 || !ran || err != nil {
				t.Fatalf("call %d: got (%v, ran %v, %v), want at once", i, took, ran, err)
			}
		}
		if l.Retain() {
			t.Errorf("rate.Inf limiter: Retain() = true, want false")
		}
	})
}

// Many callers at once: the ones admitted start no faster than the rate
// allows, none waits past MaxWait, and the rest are rejected at once.
func TestConcurrentCallersRespectRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			callers = 50
			burst   = 5
			r       = 100 // per second, one token every 10ms
			maxWait = 100 * time.Millisecond
		)
		l := mustNew(t, ratelimit.Config{Rate: r, Burst: burst, MaxWait: maxWait})
		start := time.Now()
		var mu sync.Mutex
		var starts []time.Duration
		var rejected int
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				err := l.Do(context.Background(), func(context.Context) error {
					mu.Lock()
					starts = append(starts, time.Since(start))
					mu.Unlock()
					return nil
				})
				if err != nil {
					mu.Lock()
					rejected++
					mu.Unlock()
					if err != ratelimit.ErrLimited || time.Since(start) != 0 {
						t.Errorf("got %v after %v, want ErrLimited at once", err, time.Since(start))
					}
				}
			})
		}
		wg.Wait()

		// burst at once, then one per 10ms up to and including 100ms.
		const wantAdmitted = burst + int(maxWait/(time.Second/r))
		if len(starts) != wantAdmitted || rejected != callers-wantAdmitted {
			t.Errorf("admitted %d, rejected %d; want %d and %d", len(starts), rejected, wantAdmitted, callers-wantAdmitted)
		}
		slices.Sort(starts)
		for k, s := range starts {
			earliest := time.Duration(max(0, k-burst+1)) * (time.Second / r)
			if s < earliest || s > maxWait {
				t.Errorf("call %d started at %v, want within [%v, %v]", k, s, earliest, maxWait)
			}
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg   ratelimit.Config
		field string
		value string
	}{
		{ratelimit.Config{}, "Rate", "0"},
		{ratelimit.Config{Rate: -1}, "Rate", "-1"},
		{ratelimit.Config{Rate: rate.Limit(math.NaN())}, "Rate", "NaN"},
		{ratelimit.Config{Rate: 1, Burst: -2}, "Burst", "-2"},
		{ratelimit.Config{Rate: 1, MaxWait: -time.Millisecond}, "MaxWait", "-1ms"},
	}
	for _, tt := range tests {
		l, err := ratelimit.New(tt.cfg)
		if err == nil || l != nil {
			t.Errorf("New(%+v): got (%v, %v), want an error", tt.cfg, l, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "ratelimit: ") || !strings.Contains(msg, tt.field) || !strings.Contains(msg, tt.value) {
			t.Errorf("New(%+v): error %q does not name %s and %s", tt.cfg, msg, tt.field, tt.value)
		}
	}
}

func TestConfigAndDefaults(t *testing.T) {
	tests := []struct {
		cfg       ratelimit.Config
		name      string
		burst     int
		rate      rate.Limit
		maxWait   time.Duration
		wantTotal int // calls admitted at once from a full bucket
	}{
		{ratelimit.Config{Rate: 2.5}, "ratelimit", 3, 2.5, 0, 3},
		{ratelimit.Config{Rate: 0.1}, "ratelimit", 1, 0.1, 0, 1},
		{ratelimit.Config{Rate: 100}, "ratelimit", 100, 100, 0, 100},
		{ratelimit.Config{Name: "api", Rate: 100, Burst: 7, MaxWait: time.Second}, "api", 7, 100, time.Second, 7},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, tt.cfg)
			if l.Name() != tt.name || l.Burst() != tt.burst || l.Rate() != tt.rate || l.MaxWait() != tt.maxWait {
				t.Errorf("New(%+v): got name %q burst %d rate %v maxWait %v, want %q %d %v %v",
					tt.cfg, l.Name(), l.Burst(), l.Rate(), l.MaxWait(), tt.name, tt.burst, tt.rate, tt.maxWait)
			}
			if tt.cfg.MaxWait != 0 {
				return
			}
			admitted := 0
			for admitted <= tt.wantTotal && l.Do(context.Background(), func(context.Context) error { return nil }) == nil {
				admitted++
			}
			if admitted != tt.wantTotal {
				t.Errorf("New(%+v): %d calls admitted at once, want %d", tt.cfg, admitted, tt.wantTotal)
			}
		})
	}
}

func TestRetain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, ratelimit.Config{Rate: 10, Burst: 2})
		if l.Retain() {
			t.Errorf("full bucket: Retain() = true, want false")
		}
		_ = l.Do(context.Background(), func(context.Context) error { return nil })
		if !l.Retain() {
			t.Errorf("after a call: Retain() = false, want true (a new limiter would grant a fresh burst)")
		}
		if got := l.Tokens(); got != 1 {
			t.Errorf("Tokens() = %v, want 1", got)
		}
		time.Sleep(100 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		if l.Retain() {
			t.Errorf("refilled bucket: Retain() = true, want false")
		}
	})
}

// endsAt is a context that has ended from at on, but whose Done never
// closes: it stands for the instant at which a caller's context ends as its
// token comes, and select, with both ready, picks the token.
type endsAt struct {
	context.Context
	at time.Time
}

func (c endsAt) Err() error {
	if time.Now().Before(c.at) {
		return nil
	}
	return context.Canceled
}

// TestCancelledAsTokenArrivesDoesNotRun: a caller whose context has ended
// by the time its token comes gets the context's error, and op does not
// run.
func TestCancelledAsTokenArrivesDoesNotRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := ratelimit.New(ratelimit.Config{Rate: 10, Burst: 1, MaxWait: time.Second,
			Telemetry: telemetry.Settings{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		_ = l.Do(context.Background(), func(context.Context) error { return nil }) // empties the bucket
		ctx := endsAt{Context: context.Background(), at: time.Now().Add(100 * time.Millisecond)}
		ran := false
		err = l.Do(ctx, func(context.Context) error { ran = true; return nil })
		if ran || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, op ran %v; want context.Canceled and no call", err, ran)
		}
	})
}
