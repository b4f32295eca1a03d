package bulkhead_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/telemetry"
)

func Example() {
	b, err := bulkhead.New(bulkhead.Config{Name: "inventory", MaxConcurrent: 2})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	// Two slow calls take both slots.
	release := make(chan struct{})
	var started, done sync.WaitGroup
	for range 2 {
		started.Add(1)
		done.Go(func() {
			_ = b.Do(ctx, func(context.Context) error {
				started.Done()
				<-release // a dependency that hangs
				return nil
			})
		})
	}
	started.Wait()

	// A third call is shed at once instead of piling up behind them.
	err = b.Do(ctx, func(context.Context) error { return nil })
	fmt.Println(b.InFlight(), err, errors.Is(err, resilience.ErrRejected))

	close(release)
	done.Wait()
	fmt.Println(b.InFlight())
	// Output:
	// 2 bulkhead: full true
	// 0
}

// A caller may wait in a bounded queue for a slot, for at most MaxWait.
func Example_queue() {
	b, err := bulkhead.New(bulkhead.Config{
		Name:          "inventory",
		MaxConcurrent: 1,
		MaxQueue:      1,
		MaxWait:       20 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Do(ctx, func(context.Context) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started

	err = b.Do(ctx, func(context.Context) error { return nil })
	fmt.Println(err)
	fmt.Println(errors.Is(err, bulkhead.ErrFull), b.Queued())

	close(release)
	<-done
	// Output:
	// bulkhead: full: inventory: no slot within MaxWait 20ms
	// true 0
}

func ExampleNew_badConfig() {
	_, err := bulkhead.New(bulkhead.Config{MaxConcurrent: -4})
	fmt.Println(err)
	// Output: bulkhead: MaxConcurrent -4 must not be negative (0 means 25)
}

// A status page or readiness probe reads a bulkhead's occupancy: register
// it in a telemetry.Registry served by telemetry.StatusHandler.
func ExampleBulkhead_Status() {
	b, err := bulkhead.New(bulkhead.Config{
		Name:          "inventory",
		MaxConcurrent: 10,
		MaxQueue:      5,
		Telemetry:     telemetry.Settings{Key: "inventory.internal:8443"},
	})
	if err != nil {
		panic(err)
	}
	var reg telemetry.Registry
	if err := reg.Register("inventory-bulkhead", b); err != nil {
		panic(err)
	}
	_ = telemetry.StatusHandler(&reg) // mux.Handle("/debug/resilience", …)

	out, _ := json.Marshal(b.Status())
	fmt.Println(string(out))
	// Output:
	// {"kind":"bulkhead","name":"inventory","key":"inventory.internal:8443","bulkhead":{"in_flight":0,"queued":0,"max_concurrent":10,"max_queue":5}}
}
