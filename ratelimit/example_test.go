package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/telemetry"
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

// A limiter's status, as the status page serves it. An unlimited limiter
// reports its limit and tokens as the largest float64: JSON has no
// infinity.
func ExampleLimiter_Status() {
	for _, cfg := range []ratelimit.Config{
		{Name: "search", Rate: 50, Burst: 10, Telemetry: telemetry.Settings{Key: "search.internal"}},
		{Name: "unlimited", Rate: rate.Inf},
	} {
		l, err := ratelimit.New(cfg)
		if err != nil {
			panic(err)
		}
		out, _ := json.Marshal(l.Status())
		fmt.Println(string(out))
	}
	// Output:
	// {"kind":"ratelimit","name":"search","key":"search.internal","ratelimit":{"limit":50,"burst":10,"tokens":10}}
	// {"kind":"ratelimit","name":"unlimited","ratelimit":{"limit":1.7976931348623157e+308,"burst":2147483647,"tokens":1.7976931348623157e+308}}
}
