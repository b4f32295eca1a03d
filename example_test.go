package resilience_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cascadeguard/resilience"
)

func ExampleChain() {
	logged := func(name string) resilience.Policy {
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			fmt.Println("enter", name)
			defer fmt.Println("leave", name)
			return op(ctx)
		})
	}
	p := resilience.Chain(logged("overall timeout"), logged("retry"), nil, logged("breaker"), logged("bulkhead"))
	_ = p.Do(context.Background(), func(context.Context) error {
		fmt.Println("call")
		return nil
	})
	// Output:
	// enter overall timeout
	// enter retry
	// enter breaker
	// enter bulkhead
	// call
	// leave bulkhead
	// leave breaker
	// leave retry
	// leave overall timeout
}

func ExampleDo() {
	retryOnce := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil || errors.Is(err, resilience.ErrRejected) {
			return err
		}
		return op(ctx)
	})
	attempts := 0
	greeting, err := resilience.Do(context.Background(), retryOnce, func(context.Context) (string, error) {
		attempts++
		if attempts == 1 {
			return "", errors.New("temporary failure")
		}
		return "hello", nil
	})
	fmt.Println(greeting, err, attempts)
	// Output: hello <nil> 2
}

func ExampleNewRejection() {
	errFull := resilience.NewRejection("pool: full")
	err := fmt.Errorf("calling inventory: %w", errFull)
	fmt.Println(errors.Is(err, errFull), errors.Is(err, resilience.ErrRejected), resilience.IsNeutral(err))
	// Output: true true true
}
