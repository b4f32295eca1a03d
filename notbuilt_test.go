package resilience_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// TestNotBuiltIsNeitherRetriedNorCounted: the error of a policy never built
// with New is a programming error: a retry around it does not retry it and
// a breaker around it does not count it.
func TestNotBuiltIsNeitherRetriedNorCounted(t *testing.T) {
	for name, p := range map[string]resilience.Policy{
		"breaker":   (*breaker.Breaker)(nil),
		"bulkhead":  (*bulkhead.Bulkhead)(nil),
		"timeout":   (*timeout.Timeout)(nil),
		"ratelimit": (*ratelimit.Limiter)(nil),
		"keyed":     (*keyed.Keyed)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := retry.New(retry.Config{MaxAttempts: 3, InitialDelay: retry.NoDelay})
			if err != nil {
				t.Fatal(err)
			}
			br, err := breaker.New(breaker.Config{ConsecutiveFailures: 1})
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			counted := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				calls++
				return p.Do(ctx, op)
			})
			err = resilience.Chain(r, br, counted).Do(context.Background(), func(context.Context) error { return nil })
			if err == nil || errors.Is(err, resilience.ErrRejected) {
				t.Fatalf("got %v, want the not-built error", err)
			}
			if calls != 1 || br.State() != breaker.StateClosed || br.Counts().Failures != 0 {
				t.Errorf("%d calls, breaker %v with counts %+v; want 1 call and nothing counted", calls, br.State(), br.Counts())
			}
		})
	}
}

// TestDoKeepsTheWinnersValue: under a hedging policy that runs op twice at
// once and returns nil when one succeeded, Do returns the successful run's
// value even when the loser ends last.
func TestDoKeepsTheWinnersValue(t *testing.T) {
	hedge := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				if errs[i] = op(ctx); errs[i] == nil {
					cancel()
				}
			})
		}
		wg.Wait()
		if errs[0] == nil || errs[1] == nil {
			return nil
		}
		return errors.Join(errs...)
	})
	var n atomic.Int32
	v, err := resilience.Do(context.Background(), hedge, func(ctx context.Context) (string, error) {
		if n.Add(1) == 1 {
			return "payload", nil
		}
		<-ctx.Done() // the loser ends after the winner
		return "", ctx.Err()
	})
	if err != nil || v != "payload" {
		t.Errorf("Do = (%q, %v), want (\"payload\", nil)", v, err)
	}
}
