package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/timeout"
)

var errBoom = errors.New("boom")

func fail(context.Context) error    { return errBoom }
func succeed(context.Context) error { return nil }

func mustNew(t *testing.T, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func wantState(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

func wantCounts(t *testing.T, b *breaker.Breaker, want breaker.Counts) {
	t.Helper()
	if got := b.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

// mustReject calls Do and fails the test if op runs or the error is not a
// rejection.
func mustReject(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	err := b.Do(context.Background(), func(context.Context) error {
		t.Fatalf("op ran, want a rejection")
		return nil
	})
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, resilience.ErrRejected) {
		t.Fatalf("got %v, want an error matching ErrOpen and ErrRejected", err)
	}
}

// tripOpen trips a breaker configured with ConsecutiveFailures 1.
func tripOpen(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	_ = b.Do(context.Background(), fail)
	wantState(t, b, breaker.StateOpen)
}

// pastOpen sleeps (in a synctest bubble) past the longest jittered open
// period for openFor.
func pastOpen(openFor time.Duration) { time.Sleep(openFor + openFor/10 + 1) } // sleep-ok: fake time inside a synctest bubble

// within fails the test if f does not return within d of real time. It is
// for deadlocks, which testing/synctest does not detect on a sync.Mutex.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("did not return within %v: deadlock", d)
	}
}

func TestStateAndModeStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{breaker.StateClosed.String(), "closed"},
		{breaker.StateHalfOpen.String(), "half-open"},
		{breaker.StateOpen.String(), "open"},
		{breaker.State(7).String(), "State(7)"},
		{breaker.ModeNormal.String(), "normal"},
		{breaker.ModeShadow.String(), "shadow"},
		{breaker.ModeForcedOpen.String(), "forced-open"},
		{breaker.ModeDisabled.String(), "disabled"},
		{breaker.Mode(-1).String(), "Mode(-1)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestConsecutiveFailuresTrip(t *testing.T) {
	b := mustNew(t, breaker.Config{Name: "inventory", ConsecutiveFailures: 3})
	ctx := context.Background()
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, succeed) // breaks the row
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, fail)
	wantState(t, b, breaker.StateClosed)
	wantCounts(t, b, breaker.Counts{Requests: 5, Successes: 1, Failures: 4, ConsecutiveFailures: 2})
	_ = b.Do(ctx, fail)
	wantState(t, b, breaker.StateOpen)
	wantCounts(t, b, breaker.Counts{})
	mustReject(t, b)

	err := b.Do(ctx, succeed)
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Name != "inventory" || oe.State != breaker.StateOpen {
		t.Fatalf("got %#v, want *OpenError{Name: inventory, State: open}", err)
	}
	if got, want := err.Error(), "breaker: inventory: open"; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
	if err2 := b.Do(ctx, succeed); err2 != err {
		t.Errorf("rejections return %p then %p, want the same preallocated error", err, err2)
	}
}

func TestNeutralDoesNotBreakTheRow(t *testing.T) {
	b := mustNew(t, breaker.Config{ConsecutiveFailures: 3})
	ctx := context.Background()
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, func(context.Context) error { return resilience.MarkNeutral(errBoom) })
	wantCounts(t, b, breaker.Counts{Requests: 3, Failures: 2, Neutral: 1, ConsecutiveFailures: 2})
	_ = b.Do(ctx, fail)
	wantState(t, b, breaker.StateOpen)
}

func TestFailureRatioTrip(t *testing.T) {
	const S, F, N = "s", "f", "n"
	for _, tc := range []struct {
		name  string
		cfg   breaker.Config
		calls []string
		want  breaker.State
	}{
		{"below MinCalls", breaker.Config{FailureRatio: 0.5, MinCalls: 4}, []string{F, F, F}, breaker.StateClosed},
		{"neutral calls do not count toward MinCalls", breaker.Config{FailureRatio: 0.5, MinCalls: 4}, []string{F, F, F, N, N}, breaker.StateClosed},
		{"at MinCalls and ratio", breaker.Config{FailureRatio: 0.5, MinCalls: 4}, []string{S, S, F, F}, breaker.StateOpen},
		{"below ratio", breaker.Config{FailureRatio: 0.5, MinCalls: 4}, []string{S, S, S, F, F}, breaker.StateClosed},
		{"checked on failure only", breaker.Config{FailureRatio: 0.5, MinCalls: 4}, []string{F, F, F, S}, breaker.StateClosed},
		{"ratio 1 needs all failures", breaker.Config{FailureRatio: 1, MinCalls: 2}, []string{S, F, F, F}, breaker.StateClosed},
		{"ratio 1 trips", breaker.Config{FailureRatio: 1, MinCalls: 2}, []string{F, F}, breaker.StateOpen},
		{"both rules, consecutive first", breaker.Config{FailureRatio: 0.9, MinCalls: 100, ConsecutiveFailures: 2}, []string{S, F, F}, breaker.StateOpen},
		{"consecutive only ignores ratio", breaker.Config{ConsecutiveFailures: 5}, []string{F, S, F, S, F, S, F, S, F, F, F, F}, breaker.StateClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, tc.cfg)
			for _, c := range tc.calls {
				_ = b.Do(context.Background(), func(context.Context) error {
					switch c {
					case F:
						return errBoom
					case N:
						return resilience.MarkNeutral(errBoom)
					}
					return nil
				})
			}
			if got := b.State(); got != tc.want {
				t.Errorf("after %v: state %v, want %v", tc.calls, got, tc.want)
			}
		})
	}
}

func TestWindowForgetsOldOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{FailureRatio: 0.5, MinCalls: 4, Window: 10 * time.Second})
		ctx := context.Background()
		for range 3 {
			_ = b.Do(ctx, fail)
		}
		time.Sleep(5 * time.Second) // sleep-ok: fake time inside a synctest bubble
		_ = b.Do(ctx, succeed)
		wantCounts(t, b, breaker.Counts{Requests: 4, Successes: 1, Failures: 3, ConsecutiveFailures: 0})
		// The three failures were in the first bucket, which is dropped
		// when the window has moved a full Window past it.
		time.Sleep(5 * time.Second) // sleep-ok: fake time inside a synctest bubble
		wantCounts(t, b, breaker.Counts{Requests: 1, Successes: 1})
		_ = b.Do(ctx, fail)
		_ = b.Do(ctx, succeed)
		_ = b.Do(ctx, fail)
		// 2 failures in 4 calls would trip; with the old failures it
		// would have tripped at the first of them.
		wantState(t, b, breaker.StateOpen)

		// A quiet period longer than the window clears everything.
		b2 := mustNew(t, breaker.Config{FailureRatio: 0.5, MinCalls: 4, Window: 10 * time.Second})
		for range 3 {
			_ = b2.Do(ctx, fail)
		}
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		wantCounts(t, b2, breaker.Counts{ConsecutiveFailures: 3})
		_ = b2.Do(ctx, fail)
		wantState(t, b2, breaker.StateClosed)
	})
}

func TestDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		b := mustNew(t, breaker.Config{OnStateChange: func(name string, from, to breaker.State) {
			changes = append(changes, fmt.Sprintf("%s: %v→%v", name, from, to))
		}})
		if b.Name() != "breaker" || b.Mode() != breaker.ModeNormal {
			t.Fatalf("name %q mode %v, want breaker normal", b.Name(), b.Mode())
		}
		ctx := context.Background()
		for range breaker.DefaultMinCalls - 1 {
			_ = b.Do(ctx, fail)
		}
		wantState(t, b, breaker.StateClosed) // below the default MinCalls
		_ = b.Do(ctx, fail)
		wantState(t, b, breaker.StateOpen) // ratio 1 ≥ 0.5 over 20 calls

		time.Sleep(breaker.DefaultOpenFor*9/10 - 1) // sleep-ok: fake time inside a synctest bubble
		wantState(t, b, breaker.StateOpen)
		time.Sleep(breaker.DefaultOpenFor*2/10 + 2) // sleep-ok: fake time inside a synctest bubble
		wantState(t, b, breaker.StateHalfOpen)

		// One probe by default.
		done, err := b.Allow(ctx)
		if err != nil {
			t.Fatalf("first probe rejected: %v", err)
		}
		if _, err := b.Allow(ctx); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("second probe: got %v, want ErrOpen", err)
		}
		done(nil)
		wantState(t, b, breaker.StateClosed)
		want := []string{"breaker: closed→open", "breaker: open→half-open", "breaker: half-open→closed"}
		if fmt.Sprint(changes) != fmt.Sprint(want) {
			t.Errorf("changes %q, want %q", changes, want)
		}

		// The default window is 30 s: failures older than that are gone.
		for range breaker.DefaultMinCalls - 1 {
			_ = b.Do(ctx, fail)
		}
		time.Sleep(breaker.DefaultWindow) // sleep-ok: fake time inside a synctest bubble
		_ = b.Do(ctx, fail)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestSlowCallCountsAsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 2, SlowCall: time.Second})
		ctx := context.Background()
		sleep := func(d time.Duration) func(context.Context) error {
			return func(context.Context) error {
				time.Sleep(d) // sleep-ok: fake time inside a synctest bubble
				return nil
			}
		}
		if err := b.Do(ctx, sleep(time.Second)); err != nil {
			t.Fatalf("got %v, want op's nil", err)
		}
		wantCounts(t, b, breaker.Counts{Requests: 1, Successes: 1}) // not longer than SlowCall
		if err := b.Do(ctx, sleep(time.Second+1)); err != nil {
			t.Fatalf("got %v, want op's nil even for a slow call", err)
		}
		wantCounts(t, b, breaker.Counts{Requests: 2, Successes: 1, Failures: 1, SlowCalls: 1, ConsecutiveFailures: 1})
		_ = b.Do(ctx, sleep(8*time.Second))
		wantState(t, b, breaker.StateOpen)

		// Two-step calls are not subject to the rule.
		s := mustNew(t, breaker.Config{ConsecutiveFailures: 1, SlowCall: time.Second})
		done, err := s.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // sleep-ok: fake time inside a synctest bubble
		done(nil)
		wantCounts(t, s, breaker.Counts{Requests: 1, Successes: 1})
	})
}

type neutralErr struct{ neutral bool }

func (e neutralErr) Error() string { return fmt.Sprintf("neutral=%v", e.neutral) }
func (e neutralErr) Neutral() bool { return e.neutral }

func TestNeutralOutcomes(t *testing.T) {
	{
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel2()
		otherBreaker := mustNew(t, breaker.Config{ConsecutiveFailures: 1})
		tripOpen(t, otherBreaker)

		for _, tc := range []struct {
			name    string
			ctx     context.Context
			err     error
			neutral bool
		}{
			{"caller cancelled", cancelled, context.Canceled, true},
			{"caller's deadline", expired, context.DeadlineExceeded, true},
			{"caller cancelled, op's own error", cancelled, errBoom, true},
			{"root rejection marker", context.Background(), resilience.ErrRejected, true},
			{"another breaker's rejection", context.Background(), otherBreaker.Do(context.Background(), succeed), true},
			{"wrapped rejection", context.Background(), fmt.Errorf("bulkhead: %w", resilience.NewRejection("bulkhead: full")), true},
			{"marked by an adapter", context.Background(), resilience.MarkNeutral(errBoom), true},
			{"Neutral() true", context.Background(), fmt.Errorf("wrapped: %w", neutralErr{true}), true},
			{"Neutral() false", context.Background(), neutralErr{false}, false},
			{"plain error", context.Background(), errBoom, false},
			{"deadline error while the caller's context is alive", context.Background(), context.DeadlineExceeded, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := mustNew(t, breaker.Config{ConsecutiveFailures: 1})
				if err := b.Do(tc.ctx, func(context.Context) error { return tc.err }); err != tc.err {
					t.Fatalf("Do returned %v, want op's %v unchanged", err, tc.err)
				}
				if tc.neutral {
					wantState(t, b, breaker.StateClosed)
					wantCounts(t, b, breaker.Counts{Requests: 1, Neutral: 1})
				} else {
					wantState(t, b, breaker.StateOpen)
				}

				// The same through the two-step path.
				b2 := mustNew(t, breaker.Config{ConsecutiveFailures: 1})
				done, err := b2.Allow(tc.ctx)
				if err != nil {
					t.Fatal(err)
				}
				done(tc.err)
				if got, want := b2.State() == breaker.StateClosed, tc.neutral; got != want {
					t.Fatalf("two-step: closed=%v, want %v", got, want)
				}
			})
		}
	}
}

func TestInnerTimeoutIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1})
		perAttempt, err := timeout.New(timeout.Config{Duration: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		p := resilience.Chain(b, perAttempt)
		err = p.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, timeout.ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		wantState(t, b, breaker.StateOpen)

		// The caller's own deadline, through the same chain, is neutral.
		b2 := mustNew(t, breaker.Config{ConsecutiveFailures: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_ = resilience.Chain(b2, perAttempt).Do(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		wantState(t, b2, breaker.StateClosed)
		wantCounts(t, b2, breaker.Counts{Requests: 1, Neutral: 1})
	})
}

func TestIsFailureOverride(t *testing.T) {
	errNotFound := errors.New("not found")
	isFailure := func(err error) bool { return !errors.Is(err, errNotFound) }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want breaker.Counts
	}{
		{"false means neutral", context.Background(), errNotFound, breaker.Counts{Requests: 1, Neutral: 1}},
		{"true overrides the adapter's marker", context.Background(), resilience.MarkNeutral(errBoom),
			breaker.Counts{Requests: 1, Failures: 1, ConsecutiveFailures: 1}},
		{"caller's cancellation stays neutral", cancelled, errBoom, breaker.Counts{Requests: 1, Neutral: 1}},
		{"rejections stay neutral", context.Background(), breaker.ErrOpen, breaker.Counts{Requests: 1, Neutral: 1}},
		{"nil is still a success", context.Background(), nil, breaker.Counts{Requests: 1, Successes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, breaker.Config{ConsecutiveFailures: 2, IsFailure: isFailure})
			_ = b.Do(tc.ctx, func(context.Context) error { return tc.err })
			wantCounts(t, b, tc.want)
		})
	}
}

func TestHalfOpenBurstAdmitsExactlyProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const probes, callers = 3, 20
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, HalfOpenProbes: probes, OpenFor: time.Second})
		tripOpen(t, b)
		pastOpen(time.Second)

		release := make(chan struct{})
		var running, rejected atomic.Int32
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				err := b.Do(context.Background(), func(context.Context) error {
					running.Add(1)
					<-release
					return nil
				})
				if errors.Is(err, breaker.ErrOpen) {
					rejected.Add(1)
				}
			})
		}
		synctest.Wait() // every caller is either running op or has returned
		if got := running.Load(); got != probes {
			t.Errorf("%d callers running op in half-open, want exactly %d", got, probes)
		}
		if got := rejected.Load(); got != callers-probes {
			t.Errorf("%d callers rejected, want %d", got, callers-probes)
		}
		var oe *breaker.OpenError
		if err := b.Do(context.Background(), succeed); !errors.As(err, &oe) || oe.State != breaker.StateHalfOpen {
			t.Errorf("got %v, want an OpenError in state half-open", err)
		} else if got, want := err.Error(), "breaker: breaker: half-open, all probe slots taken"; got != want {
			t.Errorf("error text %q, want %q", got, want)
		}
		close(release)
		wg.Wait()
		wantState(t, b, breaker.StateClosed)
	})
}

func TestHalfOpenProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		newHalfOpen := func() *breaker.Breaker {
			b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, HalfOpenProbes: 2, OpenFor: time.Second})
			tripOpen(t, b)
			pastOpen(time.Second)
			wantState(t, b, breaker.StateHalfOpen)
			return b
		}

		// Closes when all probes succeeded; a success does not free a slot.
		b := newHalfOpen()
		_ = b.Do(ctx, succeed)
		wantState(t, b, breaker.StateHalfOpen)
		wantCounts(t, b, breaker.Counts{Requests: 1, Successes: 1})
		done, err := b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, b) // both slots taken: one succeeded, one in flight
		done(nil)
		wantState(t, b, breaker.StateClosed)
		wantCounts(t, b, breaker.Counts{})

		// Opens again at the first failure, for a new jittered period.
		b = newHalfOpen()
		_ = b.Do(ctx, succeed)
		_ = b.Do(ctx, fail)
		wantState(t, b, breaker.StateOpen)
		time.Sleep(900*time.Millisecond - 1) // sleep-ok: fake time inside a synctest bubble
		wantState(t, b, breaker.StateOpen)
		pastOpen(time.Second)
		wantState(t, b, breaker.StateHalfOpen)

		// A neutral probe frees its slot.
		b = newHalfOpen()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		for range 5 {
			_ = b.Do(cancelled, func(ctx context.Context) error { return ctx.Err() })
			_ = b.Do(ctx, func(context.Context) error { return resilience.MarkNeutral(errBoom) })
		}
		wantCounts(t, b, breaker.Counts{Requests: 10, Neutral: 10})
		_ = b.Do(ctx, succeed)
		_ = b.Do(ctx, succeed)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestPanicCountsAsFailureAndRepanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second})
		doPanic := func() (recovered any) {
			defer func() { recovered = recover() }()
			_ = b.Do(context.Background(), func(context.Context) error { panic("kaboom") })
			return nil
		}
		if got := doPanic(); got != "kaboom" {
			t.Fatalf("recovered %v, want the op's own panic value", got)
		}
		wantState(t, b, breaker.StateOpen)

		// A probe that panics does not leave the breaker half-open.
		pastOpen(time.Second)
		wantState(t, b, breaker.StateHalfOpen)
		if got := doPanic(); got != "kaboom" {
			t.Fatalf("recovered %v, want kaboom", got)
		}
		wantState(t, b, breaker.StateOpen)
		pastOpen(time.Second)
		_ = b.Do(context.Background(), succeed)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestAbandonedProbeSlotExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second, ProbeTimeout: 5 * time.Second})
		tripOpen(t, b)
		pastOpen(time.Second)

		abandoned, err := b.Allow(ctx) // a stream that is never closed
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, b)
		time.Sleep(5*time.Second - 1) // sleep-ok: fake time inside a synctest bubble
		mustReject(t, b)
		time.Sleep(time.Nanosecond) // sleep-ok: fake time inside a synctest bubble
		done, err := b.Allow(ctx)
		if err != nil {
			t.Fatalf("after ProbeTimeout: got %v, want the slot freed", err)
		}
		abandoned(nil) // too late: ignored
		wantState(t, b, breaker.StateHalfOpen)
		wantCounts(t, b, breaker.Counts{})
		done(nil)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestHungProbeSlotExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// ProbeTimeout defaults to OpenFor.
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: 2 * time.Second})
		tripOpen(t, b)
		pastOpen(2 * time.Second)

		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = b.Do(ctx, func(context.Context) error { <-release; return nil })
		})
		synctest.Wait()
		mustReject(t, b)
		time.Sleep(2 * time.Second) // sleep-ok: fake time inside a synctest bubble
		if err := b.Do(ctx, fail); !errors.Is(err, errBoom) {
			t.Fatalf("got %v, want the second probe to run", err)
		}
		wantState(t, b, breaker.StateOpen)
		close(release)
		wg.Wait() // the hung probe's late success is ignored
		wantState(t, b, breaker.StateOpen)
	})
}

func TestDoneTwiceIsHarmless(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 2, HalfOpenProbes: 2, OpenFor: time.Second})
		done, err := b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done(errBoom)
		done(errBoom)
		wantState(t, b, breaker.StateClosed)
		wantCounts(t, b, breaker.Counts{Requests: 1, Failures: 1, ConsecutiveFailures: 1})

		_ = b.Do(ctx, fail)
		wantState(t, b, breaker.StateOpen)
		pastOpen(time.Second)
		done, err = b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { done(nil) })
		}
		wg.Wait()
		wantState(t, b, breaker.StateHalfOpen) // one success of two
		wantCounts(t, b, breaker.Counts{Requests: 1, Successes: 1})
	})
}

func TestStateChangeHookMayCallBack(t *testing.T) {
	var b *breaker.Breaker
	type change struct {
		from, to, seen breaker.State
		counts         breaker.Counts
	}
	var changes []change
	depth := 0
	b = mustNew(t, breaker.Config{
		Name:                "dep",
		ConsecutiveFailures: 1,
		OnStateChange: func(name string, from, to breaker.State) {
			depth++
			defer func() { depth-- }()
			if depth > 1 {
				t.Errorf("hook for %v→%v nested in another hook", from, to)
			}
			changes = append(changes, change{from, to, b.State(), b.Counts()})
			_ = b.Mode()
			_ = b.Retain()
			if to == breaker.StateHalfOpen {
				// A probe from inside the hook closes the breaker: that
				// change is delivered after this one, not inside it.
				if err := b.Do(context.Background(), succeed); err != nil {
					t.Errorf("probe from the hook: %v", err)
				}
			}
		},
	})
	within(t, 5*time.Second, func() {
		_ = b.Do(context.Background(), fail)
		if err := b.SetMode(breaker.ModeForcedOpen); err != nil {
			t.Error(err)
		}
		if err := b.SetMode(breaker.ModeNormal); err != nil { // to half-open
			t.Error(err)
		}
	})
	want := []change{
		{breaker.StateClosed, breaker.StateOpen, breaker.StateOpen, breaker.Counts{}},
		{breaker.StateOpen, breaker.StateHalfOpen, breaker.StateHalfOpen, breaker.Counts{}},
		{breaker.StateHalfOpen, breaker.StateClosed, breaker.StateClosed, breaker.Counts{}},
	}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("changes\n%v\nwant\n%v", changes, want)
	}
	wantState(t, b, breaker.StateClosed)
}

func TestHookPanicDoesNotStopDelivery(t *testing.T) {
	var changes []string
	panicked := false
	b := mustNew(t, breaker.Config{
		ConsecutiveFailures: 1,
		OnStateChange: func(_ string, from, to breaker.State) {
			if !panicked {
				panicked = true
				panic("hook bug")
			}
			changes = append(changes, fmt.Sprintf("%v→%v", from, to))
		},
	})
	func() {
		defer func() {
			if r := recover(); r != "hook bug" {
				t.Fatalf("recovered %v, want the hook's panic", r)
			}
		}()
		_ = b.Do(context.Background(), fail)
	}()
	wantState(t, b, breaker.StateOpen) // the state change happened
	within(t, 5*time.Second, func() {
		_ = b.SetMode(breaker.ModeDisabled)
	})
	if want := "[open→closed]"; fmt.Sprint(changes) != want {
		t.Errorf("changes %v, want %v", changes, want)
	}
}

func TestResultsFromAnEarlierStateDoNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()

		// A call admitted while closed reports after the breaker went
		// open, half-open and closed again.
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second})
		old, err := b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tripOpen(t, b)
		pastOpen(time.Second)
		_ = b.Do(ctx, succeed)
		wantState(t, b, breaker.StateClosed)
		old(errBoom)
		wantState(t, b, breaker.StateClosed)
		wantCounts(t, b, breaker.Counts{})

		// A probe reports after another probe reopened the breaker and it
		// became half-open again.
		b = mustNew(t, breaker.Config{ConsecutiveFailures: 1, HalfOpenProbes: 2, OpenFor: time.Second})
		tripOpen(t, b)
		pastOpen(time.Second)
		p1, err := b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Do(ctx, fail)
		wantState(t, b, breaker.StateOpen)
		pastOpen(time.Second)
		wantState(t, b, breaker.StateHalfOpen)
		p1(nil)
		wantCounts(t, b, breaker.Counts{})
		_ = b.Do(ctx, succeed)
		wantState(t, b, breaker.StateHalfOpen) // p1's success did not count
	})
}

func TestOpenForIsJittered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const openFor = time.Second
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: openFor})
		seen := map[time.Duration]bool{}
		for range 40 {
			tripOpen(t, b)
			start := time.Now()
			time.Sleep(openFor*9/10 - time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			wantState(t, b, breaker.StateOpen)
			for b.State() == breaker.StateOpen {
				time.Sleep(time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			}
			d := time.Since(start)
			if d < openFor*9/10 || d > openFor*11/10+time.Millisecond {
				t.Fatalf("open for %v, want within ±10%% of %v", d, openFor)
			}
			seen[d] = true
			_ = b.Do(context.Background(), succeed) // close it
			wantState(t, b, breaker.StateClosed)
		}
		// 40 draws from 200 one-millisecond steps: fewer than 10 distinct
		// values would mean there is no real jitter.
		if len(seen) < 10 {
			t.Errorf("only %d distinct open periods in 40: %v", len(seen), seen)
		}
	})
}

func TestForcedOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		b := mustNew(t, breaker.Config{OpenFor: time.Second, OnStateChange: func(_ string, from, to breaker.State) {
			changes = append(changes, fmt.Sprintf("%v→%v", from, to))
		}})
		if err := b.SetMode(breaker.ModeForcedOpen); err != nil {
			t.Fatal(err)
		}
		if b.Mode() != breaker.ModeForcedOpen || !b.Retain() {
			t.Fatalf("mode %v retain %v, want forced-open and true", b.Mode(), b.Retain())
		}
		wantState(t, b, breaker.StateOpen)
		mustReject(t, b)
		time.Sleep(time.Hour) // OpenFor does not apply // sleep-ok: fake time inside a synctest bubble
		wantState(t, b, breaker.StateOpen)
		mustReject(t, b)
		if _, err := b.Allow(context.Background()); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("Allow: got %v, want ErrOpen", err)
		}
		if err := b.SetMode(breaker.ModeNormal); err != nil {
			t.Fatal(err)
		}
		wantState(t, b, breaker.StateHalfOpen) // probe before full traffic
		_ = b.Do(context.Background(), succeed)
		wantState(t, b, breaker.StateClosed)
		if want := "[closed→open open→half-open half-open→closed]"; fmt.Sprint(changes) != want {
			t.Errorf("changes %v, want %v", changes, want)
		}

		// Starting forced open.
		f := mustNew(t, breaker.Config{Mode: breaker.ModeForcedOpen})
		wantState(t, f, breaker.StateOpen)
		mustReject(t, f)
	})
}

func TestDisabled(t *testing.T) {
	b := mustNew(t, breaker.Config{ConsecutiveFailures: 1})
	tripOpen(t, b)
	if err := b.SetMode(breaker.ModeDisabled); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, breaker.StateClosed)
	if b.Retain() {
		t.Errorf("a disabled breaker asks to be retained")
	}
	ran := 0
	for range 10 {
		_ = b.Do(context.Background(), func(context.Context) error { ran++; return errBoom })
		done, err := b.Allow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done(errBoom)
	}
	if ran != 10 {
		t.Errorf("op ran %d times, want 10", ran)
	}
	wantState(t, b, breaker.StateClosed)
	wantCounts(t, b, breaker.Counts{})
	if err := b.SetMode(breaker.ModeNormal); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, breaker.StateClosed)
	tripOpen(t, b) // the rules apply again
}

func TestShadowMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log []string
		b := mustNew(t, breaker.Config{
			ConsecutiveFailures: 2,
			OpenFor:             time.Second,
			Mode:                breaker.ModeShadow,
			OnStateChange: func(_ string, from, to breaker.State) {
				log = append(log, fmt.Sprintf("%v→%v", from, to))
			},
			OnShadowReject: func(name string, s breaker.State) {
				log = append(log, "would reject in "+s.String())
			},
		})
		ctx := context.Background()
		ran := 0
		count := func(err error) func(context.Context) error {
			return func(context.Context) error { ran++; return err }
		}
		_ = b.Do(ctx, count(errBoom))
		_ = b.Do(ctx, count(errBoom))
		wantState(t, b, breaker.StateOpen) // computed
		if !b.Retain() {
			t.Errorf("shadow breaker whose computed state is open is not retained")
		}
		if err := b.Do(ctx, count(errBoom)); err != errBoom {
			t.Fatalf("got %v, want op's error: shadow mode lets calls through", err)
		}
		if err := b.Do(ctx, count(nil)); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		if ran != 4 {
			t.Fatalf("op ran %d times, want 4", ran)
		}
		wantCounts(t, b, breaker.Counts{}) // would-be rejected calls do not count

		pastOpen(time.Second)
		done, err := b.Allow(ctx) // the one probe
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Do(ctx, count(errBoom)) // would be rejected: probe slot taken
		wantState(t, b, breaker.StateHalfOpen)
		done(nil)
		wantState(t, b, breaker.StateClosed)

		want := []string{
			"closed→open",
			"would reject in open", "would reject in open",
			"open→half-open",
			"would reject in half-open",
			"half-open→closed",
		}
		if fmt.Sprint(log) != fmt.Sprint(want) {
			t.Errorf("log\n%q\nwant\n%q", log, want)
		}

		// Switching to normal keeps the computed state and enforces it.
		_ = b.Do(ctx, fail)
		_ = b.Do(ctx, fail)
		if err := b.SetMode(breaker.ModeNormal); err != nil {
			t.Fatal(err)
		}
		wantState(t, b, breaker.StateOpen)
		mustReject(t, b)
	})
}

func TestSetModeUnknown(t *testing.T) {
	b := mustNew(t, breaker.Config{})
	err := b.SetMode(breaker.Mode(9))
	if err == nil || err.Error() != "breaker: Mode 9 is unknown" {
		t.Errorf("got %v, want an error naming Mode 9", err)
	}
	if b.Mode() != breaker.ModeNormal {
		t.Errorf("mode %v after a bad SetMode, want normal", b.Mode())
	}
}

func TestRetain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{ConsecutiveFailures: 1, OpenFor: time.Second})
		var r resilience.Retainer = b
		check := func(want bool) {
			t.Helper()
			if got := r.Retain(); got != want {
				t.Errorf("Retain() in %v = %v, want %v", b.State(), got, want)
			}
		}
		check(false)
		tripOpen(t, b)
		check(true) // open: its open period runs
		pastOpen(time.Second)
		// Half-open (or open until someone looks) with no probe: its key
		// has not been called since; a new breaker would do.
		check(false)
		wantState(t, b, breaker.StateHalfOpen)
		check(false)
		// A probe in flight is awaited: retained until it reports.
		release := make(chan struct{})
		probed := make(chan struct{})
		go func() {
			_ = b.Do(context.Background(), func(context.Context) error { close(probed); <-release; return nil })
		}()
		<-probed
		check(true)
		close(release)
		synctest.Wait()
		check(false) // closed by the probe
		// Forced open: the operator's choice is kept, whatever the time.
		b.SetMode(breaker.ModeForcedOpen)
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		check(true)
		b.SetMode(breaker.ModeNormal)
		_ = b.Do(context.Background(), succeed)
		check(false)
		// A chain that holds the breaker is retained with it.
		tripOpen(t, b)
		if c, ok := resilience.Chain(b, mustNew(t, breaker.Config{})).(resilience.Retainer); !ok || !c.Retain() {
			t.Errorf("a chain holding an open breaker is not retained")
		}
	})
}

func TestRejectionByAnotherBreakerIsNeutral(t *testing.T) {
	outer := mustNew(t, breaker.Config{Name: "outer", ConsecutiveFailures: 1})
	inner := mustNew(t, breaker.Config{Name: "inner", Mode: breaker.ModeForcedOpen})
	err := resilience.Chain(outer, inner).Do(context.Background(), succeed)
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Name != "inner" {
		t.Fatalf("got %v, want inner's OpenError", err)
	}
	wantState(t, outer, breaker.StateClosed)
	wantCounts(t, outer, breaker.Counts{Requests: 1, Neutral: 1})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  breaker.Config
		want string
	}{
		{breaker.Config{FailureRatio: 1.5}, "breaker: FailureRatio 1.5 is outside [0, 1]"},
		{breaker.Config{FailureRatio: -0.1}, "breaker: FailureRatio -0.1 is outside [0, 1]"},
		{breaker.Config{FailureRatio: nan()}, "breaker: FailureRatio NaN is outside [0, 1]"},
		{breaker.Config{Window: -time.Second}, "breaker: Window -1s is negative"},
		{breaker.Config{SlowCall: -time.Millisecond}, "breaker: SlowCall -1ms is negative"},
		{breaker.Config{OpenFor: -time.Minute}, "breaker: OpenFor -1m0s is negative"},
		{breaker.Config{ProbeTimeout: -1}, "breaker: ProbeTimeout -1ns is negative"},
		{breaker.Config{ProbeFailAfter: -time.Second}, "breaker: ProbeFailAfter -1s is negative"},
		{breaker.Config{ConsecutiveFailures: 5, MinCalls: 10},
			"breaker: MinCalls 10 is set but the failure-ratio rule is off (FailureRatio 0 with ConsecutiveFailures 5)"},
		{breaker.Config{Mode: 4}, "breaker: Mode 4 is unknown"},
	} {
		b, err := breaker.New(tc.cfg)
		if err == nil || b != nil {
			t.Errorf("New(%+v): got (%v, %v), want an error", tc.cfg, b, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("New(%+v): error %q, want %q", tc.cfg, err, tc.want)
		}
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestExtremeConfigDoesNotPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, cfg := range []breaker.Config{
			{ConsecutiveFailures: 1, OpenFor: 1 << 62, Window: 1<<63 - 1, ProbeTimeout: 1<<63 - 1},
			{ConsecutiveFailures: 1, OpenFor: 1, Window: 1, ProbeTimeout: 1, SlowCall: 1},
			{FailureRatio: 1e-9, MinCalls: 1, HalfOpenProbes: 1<<32 - 1},
		} {
			b := mustNew(t, cfg)
			for range 5 {
				_ = b.Do(context.Background(), fail)
				time.Sleep(time.Millisecond) // sleep-ok: fake time inside a synctest bubble
				_ = b.Do(context.Background(), succeed)
				_ = b.Counts()
			}
		}
	})
}

// TestConcurrentUse runs every method from several goroutines; it is for
// the race detector, with a bounded amount of work.
func TestConcurrentUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Config{
			ConsecutiveFailures: 3, HalfOpenProbes: 2, OpenFor: 10 * time.Millisecond,
			OnStateChange: func(string, breaker.State, breaker.State) {},
		})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 300 {
					switch (g + i) % 7 {
					case 0:
						_ = b.Do(context.Background(), fail)
					case 1:
						if done, err := b.Allow(context.Background()); err == nil {
							done(nil)
						}
					case 2:
						_ = b.State()
						_ = b.Counts()
					case 3:
						time.Sleep(time.Millisecond) // sleep-ok: fake time inside a synctest bubble
					case 4:
						if i%50 == 0 {
							_ = b.SetMode(breaker.Mode((g + i) % 4))
						}
					default:
						_ = b.Do(context.Background(), succeed)
					}
				}
			})
		}
		wg.Wait()
	})
}

// pastDeadline is a context whose deadline has passed but whose timer has
// not fired yet: Err is still nil.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// Regression: a call failed by the caller's own deadline is neutral even in
// the instant before the caller's context timer fires (gRPC reports the
// deadline from the server first).
func TestCallerDeadlinePassedBeforeTimerIsNeutral(t *testing.T) {
	b, err := breaker.New(breaker.Config{ConsecutiveFailures: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Do(pastDeadline{context.Background()}, func(context.Context) error {
		return context.DeadlineExceeded
	})
	if got := b.State(); got != breaker.StateClosed {
		t.Errorf("state after a caller-deadline failure: got %v, want closed", got)
	}
	if c := b.Counts(); c.Failures != 0 || c.Neutral != 1 {
		t.Errorf("counts: got %+v, want 0 failures and 1 neutral", c)
	}
}

// A hang ended by the caller's deadline after SlowCall counts as slow; one
// ended before SlowCall, or a cancellation, stays neutral.
func TestCallerDeadlineAfterSlowCallCountsAsSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := breaker.New(breaker.Config{ConsecutiveFailures: 100, SlowCall: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		run := func(ctx context.Context) {
			_ = b.Do(ctx, hang)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		run(ctx) // deadline after 2 s > SlowCall: slow
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
		run(ctx) // deadline after 0.5 s < SlowCall: neutral
		cancel()
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(2*time.Second, cancel)
		run(ctx) // cancelled after 2 s: neutral
		cancel()
		c := b.Counts()
		if c.SlowCalls != 1 || c.Failures != 1 || c.Neutral != 2 {
			t.Errorf("counts: got %+v, want 1 slow call (a failure) and 2 neutral", c)
		}
	})
}
