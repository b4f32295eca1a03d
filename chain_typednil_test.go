package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// typedNil returns the typed nil that New returns with its error, as a
// Policy, and fails the test if New did not refuse cfg.
func typedNil[T any, C any](t *testing.T, newFn func(C) (*T, error), cfg C) resilience.Policy {
	t.Helper()
	p, err := newFn(cfg)
	if err == nil || p != nil {
		t.Fatalf("New(%+v): got (%v, %v), want (nil, an error)", cfg, p, err)
	}
	return any(p).(resilience.Policy)
}

// callSafely runs p.Do and reports a panic as an error of its own.
func callSafely(p resilience.Policy, op func(context.Context) error) (panicked any, err error) {
	defer func() { panicked = recover() }()
	return nil, p.Do(context.Background(), op)
}

// TestChainTypedNilPolicy: a typed nil policy (New's result with its error)
// is not skipped by Chain, and a call through the chain does not panic. For
// breaker, bulkhead, timeout and ratelimit it fails with an error saying the
// policy was not built with New and op does not run, whether the policy is
// alone, outermost or innermost; a nil *retry.Retry runs op once. Retain
// does not panic on them either.
func TestChainTypedNilPolicy(t *testing.T) {
	noop := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	errOp := errors.New("op failed")
	for _, tc := range []struct {
		name    string
		p       resilience.Policy
		wantRun int    // times op runs
		wantErr string // in the error; empty: op's own error
	}{
		{"breaker", typedNil(t, breaker.New, breaker.Config{FailureRatio: 2}), 0, "breaker: Breaker not built with New"},
		{"bulkhead", typedNil(t, bulkhead.New, bulkhead.Config{MaxConcurrent: -1}), 0, "bulkhead: Bulkhead not built with New"},
		{"timeout", typedNil(t, timeout.New, timeout.Config{}), 0, "timeout: Timeout not built with New"},
		{"ratelimit", typedNil(t, ratelimit.New, ratelimit.Config{}), 0, "ratelimit: Limiter not built with New"},
		{"retry", typedNil(t, retry.New, retry.Config{MaxAttempts: -1}), 1, ""},
	} {
		for _, shape := range []struct {
			name  string
			chain resilience.Policy
		}{
			{"alone", resilience.Chain(tc.p)},
			{"outermost", resilience.Chain(tc.p, noop)},
			{"innermost", resilience.Chain(noop, noop, tc.p)},
		} {
			t.Run(tc.name+"/"+shape.name, func(t *testing.T) {
				runs := 0
				panicked, err := callSafely(shape.chain, func(context.Context) error { runs++; return errOp })
				if panicked != nil {
					t.Fatalf("Do panicked: %v", panicked)
				}
				if runs != tc.wantRun {
					t.Errorf("op ran %d times, want %d", runs, tc.wantRun)
				}
				switch {
				case tc.wantErr == "" && err != errOp:
					t.Errorf("got %v, want op's error %v", err, errOp)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				r, ok := shape.chain.(resilience.Retainer)
				if !ok {
					t.Fatalf("%T does not implement Retainer", shape.chain)
				}
				if retain, panicked := retainSafely(r); panicked != nil || retain {
					t.Errorf("Retain: got (%v, panic %v), want (false, no panic)", retain, panicked)
				}
			})
		}
	}
}

func retainSafely(r resilience.Retainer) (retain bool, panicked any) {
	defer func() { panicked = recover() }()
	return r.Retain(), nil
}

// ExampleChain_typedNil shows what a chain does with a policy whose New
// failed: the call fails, and says why.
func ExampleChain_typedNil() {
	br, err := breaker.New(breaker.Config{FailureRatio: 2}) // err is not checked: a mistake
	_ = err
	p := resilience.Chain(br)
	err = p.Do(context.Background(), func(context.Context) error {
		fmt.Println("op ran")
		return nil
	})
	fmt.Println(err)
	// Output:
	// breaker: Breaker not built with New
}
