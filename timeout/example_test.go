package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cascadeguard/resilience/timeout"
)

func Example() {
	perAttempt, err := timeout.New(timeout.Config{Name: "inventory", Duration: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	err = perAttempt.Do(context.Background(), func(ctx context.Context) error {
		select {
		case <-time.After(time.Second): // a dependency that hangs
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Println(errors.Is(err, timeout.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

func ExampleNew_badConfig() {
	_, err := timeout.New(timeout.Config{Duration: -time.Second})
	fmt.Println(err)
	// Output: timeout: Duration -1s must be positive
}
