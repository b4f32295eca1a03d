// Command quickstart shows the core of the library in a few lines: a chain of
// policies around a call to a dependency that hangs. The per-attempt
// deadline, the earlier of the two, ends the call on time, and the error
// says which policy ended it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/timeout"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	overall, err := timeout.New(timeout.Config{Name: "overall", Duration: 300 * time.Millisecond})
	if err != nil {
		return err
	}
	perAttempt, err := timeout.New(timeout.Config{Name: "attempt", Duration: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	p := resilience.Chain(overall, perAttempt)

	start := time.Now()
	err = p.Do(context.Background(), func(ctx context.Context) error {
		select { // a dependency that never answers
		case <-time.After(time.Hour):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Fprintf(out, "call ended after %v: %v\n", time.Since(start).Round(10*time.Millisecond), err)
	fmt.Fprintln(out, "errors.Is(err, timeout.ErrTimeout):", errors.Is(err, timeout.ErrTimeout))
	return nil
}
