package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/ratelimit"
)

func Example() {
	// At most one call a minute after a burst of two; never wait.
	l, err := ratelimit.New(ratelimit.Config{Name: "billing", Rate: rate.Every(time.Minute), Burst: 2})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		err := l.Do(ctx, func(context.Context) error { return nil })
		fmt.Println(i, err, errors.Is(err, resilience.ErrRejected))
	}
	// Output:
	// 1 <nil> false
	// 2 <nil> false
	// 3 ratelimit: limited true
}

// With MaxWait, a call over the limit waits for its token when it comes soon
// enough, and is rejected at once when it does not.
func Example_maxWait() {
	l, err := ratelimit.New(ratelimit.Config{
		Rate:    rate.Every(200 * time.Millisecond),
		Burst:   1,
		MaxWait: 300 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	op := func(context.Context) error { return nil }

	start := time.Now()
	_ = l.Do(ctx, op)   // takes the only token
	err = l.Do(ctx, op) // waits for the next one
	fmt.Println(err, time.Since(start) >= 200*time.Millisecond)

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	err = l.Do(short, op) // its token would come after its deadline
	fmt.Println(err)
	// Output:
	// <nil> true
	// ratelimit: limited
}

func ExampleNew_badConfig() {
	_, err := ratelimit.New(ratelimit.Config{Rate: 0})
	fmt.Println(err)
	// Output: ratelimit: Rate 0 must be positive (rate.Inf means no limit)
}
