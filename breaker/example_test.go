package breaker_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
)

func Example() {
	b, err := breaker.New(breaker.Config{Name: "inventory", ConsecutiveFailures: 3})
	if err != nil {
		panic(err)
	}
	calls := 0
	callInventory := func(ctx context.Context) error {
		calls++
		return errors.New("503 service unavailable") // a dependency that is down
	}
	for i := range 5 {
		err = b.Do(context.Background(), callInventory)
		fmt.Printf("call %d: %v\n", i+1, err)
	}
	fmt.Printf("inventory was called %d times; the breaker is %v\n", calls, b.State())
	fmt.Println(errors.Is(err, breaker.ErrOpen), errors.Is(err, resilience.ErrRejected))
	// Output:
	// call 1: 503 service unavailable
	// call 2: 503 service unavailable
	// call 3: 503 service unavailable
	// call 4: breaker: inventory: open
	// call 5: breaker: inventory: open
	// inventory was called 3 times; the breaker is open
	// true true
}

// The state-change hook runs outside the breaker's lock, so it may call
// the breaker back: here it reads the state and the counts.
func Example_stateChange() {
	var b *breaker.Breaker
	b, err := breaker.New(breaker.Config{
		Name:                "payments",
		ConsecutiveFailures: 2,
		OnStateChange: func(name string, from, to breaker.State) {
			fmt.Printf("%s: %v → %v (State() is %v, %d requests counted)\n",
				name, from, to, b.State(), b.Counts().Requests)
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	fail := func(context.Context) error { return errors.New("connection refused") }
	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, fail)
	// Rather than wait OpenFor, an operator forces the breaker open and
	// releases it, which moves it to half-open at once.
	_ = b.SetMode(breaker.ModeForcedOpen)
	_ = b.SetMode(breaker.ModeNormal)
	_ = b.Do(ctx, func(context.Context) error { return nil }) // the probe
	// Output:
	// payments: closed → open (State() is open, 0 requests counted)
	// payments: open → half-open (State() is half-open, 0 requests counted)
	// payments: half-open → closed (State() is closed, 0 requests counted)
}

// Shadow mode rolls out a new threshold safely: the breaker computes its
// state and reports the calls it would reject, but lets them all through.
func Example_shadow() {
	b, err := breaker.New(breaker.Config{
		Name:                "search",
		ConsecutiveFailures: 2,
		Mode:                breaker.ModeShadow,
		OnShadowReject: func(name string, s breaker.State) {
			fmt.Printf("%s: would reject (%v)\n", name, s)
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	flaky := func(context.Context) error { return errors.New("timeout from search") }
	for range 4 {
		err := b.Do(ctx, flaky)
		fmt.Println("op ran:", err)
	}
	fmt.Println("computed state:", b.State())

	// Happy with what it would do: enforce it.
	_ = b.SetMode(breaker.ModeNormal)
	fmt.Println("enforced:", b.Do(ctx, flaky))
	// Output:
	// op ran: timeout from search
	// op ran: timeout from search
	// search: would reject (open)
	// op ran: timeout from search
	// search: would reject (open)
	// op ran: timeout from search
	// computed state: open
	// enforced: breaker: search: open
}

// Allow is for calls that cannot be wrapped in a function, such as a gRPC
// stream: admit when it opens, report when it ends.
func ExampleBreaker_Allow() {
	b, err := breaker.New(breaker.Config{Name: "feed", ConsecutiveFailures: 1})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, err := b.Allow(ctx)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	// ... the stream runs; then the caller abandons it ...
	cancel()
	done(ctx.Err()) // the caller's own cancellation: neutral
	done(errors.New("reported twice: ignored"))
	fmt.Printf("%v, %+v\n", b.State(), b.Counts())
	// Output:
	// closed, {Requests:1 Successes:0 Failures:0 SlowCalls:0 Neutral:1 ConsecutiveFailures:0}
}

func ExampleBreaker_SetMode() {
	b, err := breaker.New(breaker.Config{Name: "ledger"})
	if err != nil {
		panic(err)
	}
	// An operator takes the dependency out of service ...
	_ = b.SetMode(breaker.ModeForcedOpen)
	fmt.Println(b.State(), b.Do(context.Background(), func(context.Context) error { return nil }))
	// ... and puts it back: it is probed before it gets full traffic.
	_ = b.SetMode(breaker.ModeNormal)
	fmt.Println(b.State())
	// Output:
	// open breaker: ledger: open
	// half-open
}

func ExampleNew_badConfig() {
	_, err := breaker.New(breaker.Config{FailureRatio: 1.5})
	fmt.Println(err)
	// Output: breaker: FailureRatio 1.5 is outside [0, 1]
}
