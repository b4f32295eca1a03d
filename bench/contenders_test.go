package bench_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fsbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/semaphore"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// One configuration, shared by every contender. Each library is set up from
// these numbers as closely as its API allows; where it cannot express one of
// them the builder says so. None of them matters on the happy path except
// through the work a library does to honour it (a rolling window, a timer).
const (
	// Circuit breaker: open when at least half of at least 20 calls in a
	// rolling 30 s window (10 buckets) failed; stay open 30 s (±10 % jitter
	// where supported); then let one probe through and close when it
	// succeeds. These are our breaker's defaults.
	failureRatio = 0.5
	minCalls     = 20
	window       = 30 * time.Second
	openFor      = 30 * time.Second

	// Bulkhead: 25 calls at once, no queue: a call that finds every slot
	// taken is rejected at once. 25 is our bulkhead's default.
	maxConcurrent = 25

	// Retry: 3 attempts in all, exponential backoff from 100 ms doubling up
	// to 5 s, full jitter (each delay drawn from [0, 2d]). Our retry's
	// defaults.
	maxAttempts  = 3
	initialDelay = 100 * time.Millisecond
	maxDelay     = 5 * time.Second
	multiplier   = 2.0

	// Timeout: 1 s for the whole call.
	callTimeout = time.Second
)

// A contender is one library's answer to one benchmark group, adapted to
// resilience.Policy so that every contender is driven by the same loop.
// The adapters are what a user of that library would write to run a
// func(context.Context) error under it.
type contender struct {
	name string

	// build returns a ready policy; it fails tb on a setup error.
	build func(tb testing.TB) resilience.Policy

	// rejection is the error (matched with errors.Is) with which the
	// contender refuses a call: open breaker, full bulkhead. Nil when the
	// group has no rejection.
	rejection error

	// async is true when the library runs op on a goroutine of its own
	// (hystrix-go). Such a contender cannot run in a synctest bubble, and
	// its timeout abandons op instead of cancelling it.
	async bool
}

// A group is one row family of the overhead table: one job, several
// libraries doing it.
type group struct {
	name       string
	contenders []contender
	// rejects is true for groups whose happy path is a rejection (the open
	// breaker): every call must fail without running op.
	rejects bool
}

func must[T any](tb testing.TB, v T, err error) T {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// mustNew calls a package's New and fails tb on an error.
func mustNew[C, T any](tb testing.TB, newFn func(C) (T, error), cfg C) T {
	tb.Helper()
	v, err := newFn(cfg)
	return must(tb, v, err)
}

// ---- circuit breakers ----

// oursBreaker: our defaults, spelled out.
func oursBreaker(tb testing.TB) *breaker.Breaker {
	return mustNew(tb, breaker.New, breaker.Config{
		Name:           "bench",
		FailureRatio:   failureRatio,
		MinCalls:       minCalls,
		Window:         window,
		OpenFor:        openFor,
		HalfOpenProbes: 1,
	})
}

// gobreakerPolicy: a raw sony/gobreaker/v2 CircuitBreaker with the same
// rolling window (Interval 30 s in 10 buckets of BucketPeriod 3 s), the
// same ratio rule in ReadyToTrip, one half-open request, and the caller's
// cancellation excluded from the counts as ours does. gobreaker cannot
// jitter its open period (Timeout).
func gobreakerPolicy(tb testing.TB) resilience.Policy {
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "bench",
		MaxRequests:  1,
		Interval:     window,
		BucketPeriod: window / 10,
		Timeout:      openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			n := c.TotalSuccesses + c.TotalFailures
			return n >= minCalls && float64(c.TotalFailures) >= failureRatio*float64(n)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, op(ctx) })
		return err
	})
}

// failsafeBreaker: failsafe-go's time-based failure-rate rule (50 % of at
// least 20 executions in 30 s), a 30 s delay with ±10 % jitter, and one
// success to close.
func failsafeBreaker() fsbreaker.CircuitBreaker[any] {
	return fsbreaker.NewBuilder[any]().
		WithFailureRateThreshold(failureRatio, minCalls, window).
		WithDelay(openFor).
		WithJitterFactor(0.1).
		WithSuccessThreshold(1).
		Build()
}

// failsafeRun adapts a failsafe-go executor the cheapest way: Run with a
// closure over the caller's context. It is used for single policies whose
// happy path never looks at a context (breaker, bulkhead without wait,
// retry whose first attempt succeeds), so failsafe-go is spared the copy
// that WithContext makes.
func failsafeRun(ex failsafe.Executor[any]) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return ex.Run(func() error { return op(ctx) })
	})
}

// failsafeWithContext adapts a failsafe-go executor whose policies must see
// the caller's context and give op their own (a timeout): WithContext(ctx)
// and RunWithExecution, op getting the execution's context. This is
// failsafe-go's documented way for a caller's cancellation to reach its
// policies and for its timeout to reach op.
func failsafeWithContext(ex failsafe.Executor[any]) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return ex.WithContext(ctx).RunWithExecution(func(e failsafe.Execution[any]) error {
			return op(e.Context())
		})
	})
}

// ---- bulkheads ----

func oursBulkhead(tb testing.TB) *bulkhead.Bulkhead {
	return mustNew(tb, bulkhead.New, bulkhead.Config{Name: "bench", MaxConcurrent: maxConcurrent})
}

// errSemaphoreFull is what the semaphore adapter returns when TryAcquire
// fails: x/sync/semaphore has no error of its own.
var errSemaphoreFull = errors.New("bench: semaphore full")

// semaphorePolicy: golang.org/x/sync/semaphore with TryAcquire(1) and
// Release(1). TryAcquire, not Acquire, because our bulkhead is configured
// without a queue: a call that finds every slot taken is rejected at once,
// which is TryAcquire's behaviour (Acquire would wait until ctx ends, an
// unbounded queue). Both take the same mutex on the happy path.
func semaphorePolicy(tb testing.TB) resilience.Policy {
	sem := semaphore.NewWeighted(maxConcurrent)
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if !sem.TryAcquire(1) {
			return errSemaphoreFull
		}
		defer sem.Release(1)
		return op(ctx)
	})
}

// failsafeBulkhead: 25 permits and no max wait time, so a full bulkhead
// rejects at once with bulkhead.ErrFull.
func failsafeBulkhead() fsbulkhead.Bulkhead[any] {
	return fsbulkhead.New[any](maxConcurrent)
}

// ---- retries ----

func oursRetry(tb testing.TB) *retry.Retry {
	return mustNew(tb, retry.New, retry.Config{
		Name:         "bench",
		MaxAttempts:  maxAttempts,
		InitialDelay: initialDelay,
		MaxDelay:     maxDelay,
		Multiplier:   multiplier,
		Jitter:       1,
	})
}

// failsafeRetry: 3 attempts, backoff 100 ms ×2 up to 5 s, jitter factor 1
// (delays drawn from [0, 2d], full jitter as ours). Like ours, it does not
// retry rejections by the breaker or the bulkhead inside it
// (AbortOnErrors): retrying an open breaker only burns attempts.
func failsafeRetry() fsretry.RetryPolicy[any] {
	return fsretry.NewBuilder[any]().
		WithMaxAttempts(maxAttempts).
		WithBackoffFactor(initialDelay, maxDelay, multiplier).
		WithJitterFactor(1).
		AbortOnErrors(fsbreaker.ErrOpen, fsbulkhead.ErrFull).
		Build()
}

// ---- timeouts ----

func oursTimeout(tb testing.TB) *timeout.Timeout {
	return mustNew(tb, timeout.New, timeout.Config{Name: "bench", Duration: callTimeout})
}

// contextTimeout is the bare standard library: context.WithTimeout and its
// cancel around op.
func contextTimeout(testing.TB) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return op(ctx)
	})
}

// ---- hystrix-go ----

var hystrixSeq atomic.Int64

// hystrixMaxConcurrent is hystrix-go's concurrency limit: large enough that
// its lagging ticket returns (see hystrixPolicy) never reject a call in a
// benchmark of a few seconds. Its tickets are pointers to a zero-size value,
// so they cost 8 bytes each.
const hystrixMaxConcurrent = 100_000

// hystrixPolicy configures a fresh hystrix-go command (commands are global,
// by name, so each build gets its own) and adapts hystrix.DoC.
//
// hystrix-go has one command type that bundles a timeout, a concurrency
// limit and a circuit breaker, and no retry. Its breaker is set like the
// others: open at 50 % errors once 20 requests were seen in its (fixed)
// 10 s rolling window, try again after 30 s. Its timeout is 1 s. Its
// concurrency limit is hystrixMaxConcurrent, not 25: hystrix-go returns a
// call's ticket on its own goroutine after DoC has already returned, and
// that goroutine first hands a metrics update to a single background
// goroutine over an unbuffered channel. In a tight loop the returns fall
// behind the calls (by more than 1000 tickets within 200 ms on the reference
// machine), so any limit near ours would reject calls that ours admits.
//
// DoC runs op on a new goroutine (and a second one waits for the timeout),
// and its timeout does not cancel op's context: it returns ErrTimeout and
// leaves op running.
func hystrixPolicy(tb testing.TB) resilience.Policy {
	name := fmt.Sprintf("bench-%d", hystrixSeq.Add(1))
	hystrix.ConfigureCommand(name, hystrix.CommandConfig{
		Timeout:                int(callTimeout / time.Millisecond),
		MaxConcurrentRequests:  hystrixMaxConcurrent,
		RequestVolumeThreshold: minCalls,
		SleepWindow:            int(openFor / time.Millisecond),
		ErrorPercentThreshold:  int(failureRatio * 100),
	})
	// Create the circuit now rather than on the first call, so that its two
	// lasting goroutines exist before a benchmark counts goroutines.
	if _, _, err := hystrix.GetCircuit(name); err != nil {
		tb.Fatal(err)
	}
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return hystrix.DoC(ctx, name, func(ctx context.Context) error { return op(ctx) }, nil)
	})
}

// ---- forcing breakers open ----

var errBoom = errors.New("bench: dependency failed")

// tripped builds a contender and trips it open by failing calls until one
// is rejected without running op, the same way for every library (none is
// forced open through a back door). hystrix-go counts outcomes on a
// background goroutine, so the loop yields between calls and may need more
// than minCalls failures; it is bounded by count and time.
func tripped(build func(testing.TB) resilience.Policy) func(testing.TB) resilience.Policy {
	return func(tb testing.TB) resilience.Policy {
		tb.Helper()
		p := build(tb)
		n, err := tripOpen(p)
		if err != nil {
			tb.Fatalf("after %d failures: %v", n, err)
		}
		return p
	}
}

// tripOpen fails calls through p until one is rejected, and returns how many
// failing calls ran before that.
func tripOpen(p resilience.Policy) (failures int, err error) {
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 100_000; i++ {
		ran := false
		err := p.Do(ctx, func(context.Context) error { ran = true; return errBoom })
		if !ran {
			if err == nil {
				return failures, errors.New("op did not run and no error was returned")
			}
			return failures, nil
		}
		failures++
		if time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	return failures, errors.New("the breaker did not open")
}

// ---- the groups ----

func breakerGroup() group {
	return group{name: "Breaker", contenders: []contender{
		{name: "ours", build: func(tb testing.TB) resilience.Policy { return oursBreaker(tb) }, rejection: breaker.ErrOpen},
		{name: "gobreaker", build: gobreakerPolicy, rejection: gobreaker.ErrOpenState},
		{name: "failsafe", build: func(testing.TB) resilience.Policy {
			return failsafeRun(failsafe.With[any](failsafeBreaker()))
		}, rejection: fsbreaker.ErrOpen},
	}}
}

func bulkheadGroup() group {
	return group{name: "Bulkhead", contenders: []contender{
		{name: "ours", build: func(tb testing.TB) resilience.Policy { return oursBulkhead(tb) }, rejection: bulkhead.ErrFull},
		{name: "semaphore", build: semaphorePolicy, rejection: errSemaphoreFull},
		{name: "failsafe", build: func(testing.TB) resilience.Policy {
			return failsafeRun(failsafe.With[any](failsafeBulkhead()))
		}, rejection: fsbulkhead.ErrFull},
	}}
}

func retryGroup() group {
	return group{name: "Retry", contenders: []contender{
		{name: "ours", build: func(tb testing.TB) resilience.Policy { return oursRetry(tb) }},
		{name: "failsafe", build: func(testing.TB) resilience.Policy {
			return failsafeRun(failsafe.With[any](failsafeRetry()))
		}},
	}}
}

func timeoutGroup() group {
	return group{name: "Timeout", contenders: []contender{
		{name: "ours", build: func(tb testing.TB) resilience.Policy { return oursTimeout(tb) }},
		{name: "context", build: contextTimeout},
		{name: "failsafe", build: func(testing.TB) resilience.Policy {
			return failsafeWithContext(failsafe.With[any](fstimeout.New[any](callTimeout)))
		}},
	}}
}

// chainGroup is the 4-policy chain, outermost first: timeout → retry →
// breaker → bulkhead → op. failsafe.With composes its first policy
// outermost too. hystrix-go has no retry and no way to order its parts: its
// one command is what a hystrix-go user would use in place of the chain.
func chainGroup() group {
	return group{name: "Chain", contenders: []contender{
		{name: "ours", build: func(tb testing.TB) resilience.Policy {
			return resilience.Chain(oursTimeout(tb), oursRetry(tb), oursBreaker(tb), oursBulkhead(tb))
		}},
		{name: "failsafe", build: func(testing.TB) resilience.Policy {
			return failsafeWithContext(failsafe.With[any](
				fstimeout.New[any](callTimeout), failsafeRetry(), failsafeBreaker(), failsafeBulkhead()))
		}},
		{name: "hystrix", build: hystrixPolicy, async: true},
	}}
}

// openGroup is the rejection path: each breaker tripped open by failures,
// then called.
func openGroup() group {
	g := group{name: "OpenBreaker", rejects: true}
	for _, c := range breakerGroup().contenders {
		c.build = tripped(c.build)
		g.contenders = append(g.contenders, c)
	}
	g.contenders = append(g.contenders, contender{
		name: "hystrix", build: tripped(hystrixPolicy), rejection: hystrix.ErrCircuitOpen, async: true,
	})
	return g
}

// happyGroups are the groups whose calls succeed.
func happyGroups() []group {
	return []group{breakerGroup(), bulkheadGroup(), retryGroup(), timeoutGroup(), chainGroup()}
}
