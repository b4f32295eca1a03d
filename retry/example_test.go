package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

func Example() {
	r, err := retry.New(retry.Config{
		Name:         "inventory",
		MaxAttempts:  3,
		InitialDelay: time.Millisecond, // short for the example; the default is 100ms
	})
	if err != nil {
		panic(err)
	}
	attempt := 0
	err = r.Do(context.Background(), func(ctx context.Context) error {
		attempt++
		if attempt < 3 {
			fmt.Println("attempt", attempt, "failed")
			return errors.New("connection reset")
		}
		fmt.Println("attempt", attempt, "succeeded")
		return nil
	})
	fmt.Println(err)
	// Output:
	// attempt 1 failed
	// attempt 2 failed
	// attempt 3 succeeded
	// <nil>
}

func ExampleError() {
	r, _ := retry.New(retry.Config{Name: "pricing", MaxAttempts: 2, InitialDelay: retry.NoDelay})
	errUnavailable := errors.New("unavailable")
	err := r.Do(context.Background(), func(context.Context) error { return errUnavailable })

	var re *retry.Error
	if errors.As(err, &re) {
		fmt.Println(re.Attempts, re.Reason, errors.Is(err, errUnavailable))
	}
	fmt.Println(err)
	// Output:
	// 2 exhausted true
	// retry: pricing: attempts exhausted after 2 attempts: unavailable
}

func ExamplePermanent() {
	r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay})
	errBadRequest := errors.New("bad request")
	attempts := 0
	err := r.Do(context.Background(), func(context.Context) error {
		attempts++
		return retry.Permanent(errBadRequest) // failing again would not help
	})
	fmt.Println(attempts, errors.Is(err, errBadRequest))
	// Output: 1 true
}

// A rejection by a policy inside the retry, such as an open circuit breaker,
// stops the retries at once: the order of the chain matters.
func Example_rejectionStopsRetries() {
	errOpen := resilience.NewRejection("breaker: open")
	failures := 0
	breaker := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if failures >= 1 {
			fmt.Println("breaker: open, call refused")
			return errOpen
		}
		err := op(ctx)
		if err != nil {
			failures++
		}
		return err
	})
	r, _ := retry.New(retry.Config{MaxAttempts: 5, InitialDelay: retry.NoDelay})
	err := resilience.Chain(r, breaker).Do(context.Background(), func(context.Context) error {
		fmt.Println("call")
		return errors.New("unavailable")
	})
	fmt.Println(errors.Is(err, resilience.ErrRejected))
	// Output:
	// call
	// breaker: open, call refused
	// true
}

// A server's requested delay (HTTP Retry-After, gRPC pushback) above
// MaxRetryAfter ends the retries instead of being shortened.
func Example_retryAfter() {
	r, _ := retry.New(retry.Config{MaxRetryAfter: 10 * time.Second})
	attempts := 0
	err := r.Do(context.Background(), func(context.Context) error {
		attempts++
		return overloaded{retryAfter: time.Minute}
	})
	var re *retry.Error
	errors.As(err, &re)
	fmt.Println(attempts, re.Reason)
	// Output: 1 retry_after
}

type overloaded struct{ retryAfter time.Duration }

func (overloaded) Error() string                       { return "503 service unavailable" }
func (o overloaded) RetryAfter() (time.Duration, bool) { return o.retryAfter, true }

func ExampleBudget() {
	// One budget for the one dependency these calls go to: retries may add
	// 10 % to its load, plus a floor of one retry every 100 s (it starts
	// with one second's worth: a hundredth of a retry).
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 0.01})
	if err != nil {
		panic(err)
	}
	r, _ := retry.New(retry.Config{InitialDelay: retry.NoDelay, Budget: budget})

	attempts := 0
	for range 20 { // a total outage
		_ = r.Do(context.Background(), func(context.Context) error {
			attempts++
			return errors.New("unavailable")
		})
	}
	err = r.Do(context.Background(), func(context.Context) error { return errors.New("unavailable") })
	fmt.Println("attempts for 20 calls:", attempts)
	fmt.Println(errors.Is(err, retry.ErrBudgetExhausted))
	fmt.Println("retries allowed:", budget.State().Allowed)
	// Output:
	// attempts for 20 calls: 22
	// true
	// retries allowed: 2
}

func ExampleNew_badConfig() {
	_, err := retry.New(retry.Config{Jitter: 2})
	fmt.Println(err)
	// Output: retry: Jitter 2 is outside [0, 1] (use NoJitter for none)
}

// A retry policy's status includes its budget: how many retries it would
// allow now, and whether it has run out. Passing a Logger makes the budget
// running out, and recovering, one log record each.
func ExampleRetry_Status() {
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 1e-9})
	if err != nil {
		panic(err)
	}
	r, err := retry.New(retry.Config{
		Name:      "inventory",
		Budget:    budget,
		Telemetry: telemetry.Settings{Key: "inventory.internal"}, // and Logger: slog.Default()
	})
	if err != nil {
		panic(err)
	}
	show := func() {
		st := r.Status()
		b := st.Retry.Budget
		fmt.Printf("%s %s: %d attempts, %.1f retries available, exhausted %v\n",
			st.Name, st.Key, st.Retry.MaxAttempts, b.Available, b.Exhausted)
	}
	show()
	for range 10 { // each call earns a tenth of a retry
		_ = r.Do(context.Background(), func(context.Context) error { return nil })
	}
	show()
	// Output:
	// inventory inventory.internal: 3 attempts, 0.0 retries available, exhausted true
	// inventory inventory.internal: 3 attempts, 1.0 retries available, exhausted false
}
