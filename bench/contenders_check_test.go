package bench_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
)

// These tests run in CI's short mode. They check that every contender of the
// benchmarks works and is configured like the others, so that the overhead
// table compares like with like: a contender that silently rejected, skipped
// its op or retried a different number of times would look fast for the
// wrong reason.

// TestContendersRunOpOnce: on the happy path every contender runs op once,
// passes on a context, and returns nil.
func TestContendersRunOpOnce(t *testing.T) {
	for _, g := range happyGroups() {
		for _, c := range g.contenders {
			t.Run(g.name+"/"+c.name, func(t *testing.T) {
				p := c.build(t)
				for i := range 3 {
					ran := 0
					err := p.Do(context.Background(), func(ctx context.Context) error {
						if ctx == nil {
							t.Error("op got a nil context")
						}
						ran++
						return nil
					})
					if err != nil || ran != 1 {
						t.Fatalf("call %d: got err %v and %d runs, want nil and 1", i, err, ran)
					}
				}
			})
		}
	}
}

// TestContendersReturnOpError: a failing op's error comes back (possibly
// wrapped) from the policies that do not retry.
func TestContendersReturnOpError(t *testing.T) {
	for _, g := range []group{breakerGroup(), bulkheadGroup(), timeoutGroup()} {
		for _, c := range g.contenders {
			t.Run(g.name+"/"+c.name, func(t *testing.T) {
				p := c.build(t)
				ran := 0
				err := p.Do(context.Background(), func(context.Context) error { ran++; return errBoom })
				if !errors.Is(err, errBoom) || ran != 1 {
					t.Fatalf("got err %v and %d runs, want %v and 1", err, ran, errBoom)
				}
			})
		}
	}
}

// TestBreakersTripAlike: every breaker opens at the same call: the one that
// completes minCalls failures in the window. hystrix-go counts outcomes on a
// background goroutine and reads them at the start of a call, so it opens a
// few calls late; it must still open, after at least minCalls failures.
func TestBreakersTripAlike(t *testing.T) {
	for _, c := range openGroup().contenders {
		t.Run(c.name, func(t *testing.T) {
			// openGroup's builders trip the breaker; take the plain builder
			// back to count the failures.
			p := plainBreaker(t, c.name)
			n, err := tripOpen(p)
			if err != nil {
				t.Fatalf("after %d failures: %v", n, err)
			}
			if c.async {
				if n < minCalls {
					t.Errorf("opened after %d failures, want at least %d", n, minCalls)
				}
				return
			}
			if n != minCalls {
				t.Errorf("opened after %d failures, want %d", n, minCalls)
			}
		})
	}
}

// TestOpenBreakersReject: a tripped breaker rejects without running op, with
// its library's rejection error.
func TestOpenBreakersReject(t *testing.T) {
	g := openGroup()
	for _, c := range g.contenders {
		t.Run(c.name, func(t *testing.T) {
			p := c.build(t)
			for i := range 3 {
				ran := false
				err := p.Do(context.Background(), func(context.Context) error { ran = true; return nil })
				if ran || !errors.Is(err, c.rejection) {
					t.Fatalf("call %d: got err %v, ran %v; want %v, not run", i, err, ran, c.rejection)
				}
			}
		})
	}
}

// TestBulkheadsRejectWhenFull: with maxConcurrent calls in flight, the next
// call is rejected at once with the library's error (none of them queues),
// and a freed slot admits a call again.
func TestBulkheadsRejectWhenFull(t *testing.T) {
	for _, c := range bulkheadGroup().contenders {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { bulkheadRejectsWhenFull(t, c) })
		})
	}
}

// bulkheadRejectsWhenFull runs in a synctest bubble, so that "at once" is
// exact: the rejection must take no (fake) time at all.
func bulkheadRejectsWhenFull(t *testing.T, c contender) {
	p := c.build(t)
	ctx := context.Background()
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(maxConcurrent)
	done.Add(maxConcurrent)
	errs := make(chan error, maxConcurrent)
	for range maxConcurrent {
		go func() {
			defer done.Done()
			errs <- p.Do(ctx, func(context.Context) error {
				started.Done()
				<-release
				return nil
			})
		}()
	}
	started.Wait()

	start := time.Now()
	ran := false
	err := p.Do(ctx, func(context.Context) error { ran = true; return nil })
	if ran || !errors.Is(err, c.rejection) {
		t.Errorf("call %d: got err %v, ran %v; want %v, not run", maxConcurrent+1, err, ran, c.rejection)
	}
	if waited := time.Since(start); waited != 0 {
		t.Errorf("call %d was rejected after %v, want at once", maxConcurrent+1, waited)
	}

	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a call holding a slot: got %v, want nil", err)
		}
	}
	if err := p.Do(ctx, noop); err != nil {
		t.Errorf("after the slots were freed: got %v, want nil", err)
	}
}

// TestRetriesAlike: the retries and the chains make the same number of
// attempts, and a retry after one failure succeeds. Fake time (synctest)
// stands in for the backoff delays; hystrix-go has no retry.
func TestRetriesAlike(t *testing.T) {
	for _, g := range []group{retryGroup(), chainGroup()} {
		for _, c := range g.contenders {
			if c.async {
				continue
			}
			t.Run(g.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := c.build(t)
					ctx := context.Background()

					ran := 0
					err := p.Do(ctx, func(context.Context) error { ran++; return errBoom })
					if !errors.Is(err, errBoom) || ran != maxAttempts {
						t.Errorf("always failing: got err %v and %d attempts, want %v and %d", err, ran, errBoom, maxAttempts)
					}

					ran = 0
					err = p.Do(ctx, func(context.Context) error {
						ran++
						if ran == 1 {
							return errBoom
						}
						return nil
					})
					if err != nil || ran != 2 {
						t.Errorf("failing once: got err %v and %d attempts, want nil and 2", err, ran)
					}
				})
			})
		}
	}
}

// TestTimeoutsAlike: the timeouts and the chains end a call that waits for
// its context after callTimeout, not before and not later. hystrix-go's
// timeout does not cancel op's context, so it is left out.
func TestTimeoutsAlike(t *testing.T) {
	for _, g := range []group{timeoutGroup(), chainGroup()} {
		for _, c := range g.contenders {
			if c.async {
				continue
			}
			t.Run(g.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := c.build(t)
					start := time.Now()
					ran := 0
					err := p.Do(context.Background(), func(ctx context.Context) error {
						ran++
						<-ctx.Done()
						return ctx.Err()
					})
					if got := time.Since(start); got != callTimeout {
						t.Errorf("call ended after %v, want %v", got, callTimeout)
					}
					if err == nil || ran != 1 {
						t.Errorf("got err %v and %d attempts, want an error and 1", err, ran)
					}
				})
			})
		}
	}
}

// plainBreaker returns an untripped breaker of the named contender of the
// open group.
func plainBreaker(tb testing.TB, name string) resilience.Policy {
	tb.Helper()
	if name == "hystrix" {
		return hystrixPolicy(tb)
	}
	for _, c := range breakerGroup().contenders {
		if c.name == name {
			return c.build(tb)
		}
	}
	tb.Fatalf("no breaker contender %q", name)
	return nil
}
