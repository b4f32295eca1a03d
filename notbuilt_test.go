package resilience_test

import (
	"context"
	"errors"
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
