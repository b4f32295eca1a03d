package timeout_test

import (
	"context"
	"encoding/json"
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

// Status is what a status page shows for the policy; register it in a
// telemetry.Registry and serve it with telemetry.StatusHandler.
func ExampleTimeout_Status() {
	perAttempt, err := timeout.New(timeout.Config{Name: "per-attempt", Duration: 2500 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(perAttempt.Status())
	fmt.Println(string(out))
	// Output: {"kind":"timeout","name":"per-attempt","timeout":{"seconds":2.5}}
}
