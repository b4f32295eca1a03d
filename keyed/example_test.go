package keyed_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/keyed"
)

// announce is a factory whose instances print the key they serve: in real
// use it builds a breaker and a bulkhead (resilience.Chain(br, bh)).
func announce(key string) (resilience.Policy, error) {
	fmt.Printf("new instance for %q\n", key)
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		fmt.Printf("  call under %q\n", key)
		return op(ctx)
	}), nil
}

func Example() {
	perHost, err := keyed.New(keyed.Config{Name: "per-host"}, announce)
	if err != nil {
		panic(err)
	}
	for _, host := range []string{"inventory:443", "billing:443", "inventory:443"} {
		ctx := keyed.WithKey(context.Background(), host)
		_ = perHost.Do(ctx, func(context.Context) error { return nil })
	}
	// A context without a key is served by the instance for "".
	_ = perHost.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(perHost.Len(), "instances")
	// Output:
	// new instance for "inventory:443"
	//   call under "inventory:443"
	// new instance for "billing:443"
	//   call under "billing:443"
	//   call under "inventory:443"
	// new instance for ""
	//   call under ""
	// 3 instances
}

// An adapter that knows the key at the call site (the HTTP transport knows
// the request's host) asks for the key's policy directly.
func ExampleKeyed_Policy() {
	perMethod, err := keyed.New(keyed.Config{Name: "per-method"}, announce)
	if err != nil {
		panic(err)
	}
	p, err := perMethod.Policy("/inventory.v1.Stock/Get")
	if err != nil {
		panic(err)
	}
	err = p.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	// Output:
	// new instance for "/inventory.v1.Stock/Get"
	//   call under "/inventory.v1.Stock/Get"
	// <nil>
}

// Keys beyond MaxKeyLen, and new keys when the table is full of instances
// that cannot be evicted, share one overflow instance.
func ExampleOverflowKey() {
	k, err := keyed.New(keyed.Config{MaxKeyLen: 16}, announce)
	if err != nil {
		panic(err)
	}
	long := strings.Repeat("a", 100) + ".example"
	_ = k.Do(keyed.WithKey(context.Background(), long), func(context.Context) error { return nil })
	fmt.Println(k.Stats().Overflowed, "overflowed")
	// Output:
	// new instance for "_other"
	//   call under "_other"
	// 1 overflowed
}

// A status page lists the instances; it can read each one's state (a
// breaker's, say) by asserting the policy's type.
func ExampleKeyed_Range() {
	k, err := keyed.New(keyed.Config{}, func(key string) (resilience.Policy, error) {
		return resilience.Chain(), nil
	})
	if err != nil {
		panic(err)
	}
	for _, host := range []string{"search:443", "auth:443", "cart:443"} {
		if _, err := k.Policy(host); err != nil {
			panic(err)
		}
	}
	var hosts []string
	k.Range(func(key string, p resilience.Policy) bool {
		hosts = append(hosts, key)
		return true
	})
	slices.Sort(hosts) // Range visits in no particular order
	fmt.Println(hosts)
	// Output: [auth:443 cart:443 search:443]
}

func ExampleNew_badConfig() {
	_, err := keyed.New(keyed.Config{MaxKeys: -5}, announce)
	fmt.Println(err)
	// Output: keyed: MaxKeys -5 must not be negative (0 means 1024)
}

func ExampleKeyFrom() {
	ctx := keyed.WithKey(context.Background(), "inventory:443")
	key, ok := keyed.KeyFrom(ctx)
	fmt.Println(key, ok)
	// Output: inventory:443 true
}

// The factory passes each instance its key for telemetry (the
// resilience.key attribute, sanitized and capped), and Status lists the
// instances for a status page.
func Example_telemetry() {
	cfg := breaker.Config{Name: "upstream", ConsecutiveFailures: 1}
	perHost, err := keyed.New(keyed.Config{Name: "per-host"}, func(host string) (resilience.Policy, error) {
		c := cfg // Configs are plain values
		c.Telemetry.Key = host
		return breaker.New(c)
	})
	if err != nil {
		panic(err)
	}
	call := func(host string, err error) {
		_ = perHost.Do(keyed.WithKey(context.Background(), host), func(context.Context) error { return err })
	}
	call("inventory.example:443", nil)
	call("billing.example:443", errors.New("503"))
	for _, in := range perHost.Status().Instances {
		fmt.Println(in.Kind, in.Name, in.Key, in.Breaker.State)
	}
	// Output:
	// breaker upstream billing.example:443 open
	// breaker upstream inventory.example:443 closed
}
