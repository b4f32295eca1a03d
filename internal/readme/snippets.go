// Package readme compiles the Go snippets of the repository's README.md:
// each function below holds one snippet as its body, byte for byte but for
// one tab of indentation, and TestSnippetsMatchReadme checks that every
// ```go block of the README is among them. A snippet that stops compiling,
// or a README block edited without its copy here, fails the build or the
// test. Nothing here is meant to run.
package readme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/timeout"
)

// What the snippets take from their surroundings.
var (
	errInventoryDown = errors.New("inventory is down")
	_                = bulkhead.Config{} // used in the HTTP snippet's comment only
	_                = time.Second
)

// Item is what fetchItem returns.
type Item struct{ Name string }

func callInventory(context.Context) error          { return nil }
func fetchItem(context.Context, int) (Item, error) { return Item{}, nil }

func quickStartHTTP() error {
	// The recommended chain, per host: overall timeout → retry (with budget)
	// → breaker → bulkhead → per-attempt timeout.
	transport, err := resilienthttp.NewStandardTransport(nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: transport}

	resp, err := client.Get("https://inventory.internal/items/42")
	switch {
	case errors.Is(err, breaker.ErrOpen):
		return errInventoryDown // inventory is failing: answer without it, at once
	case err != nil:
		return err // timeout, network error, full bulkhead…
	}
	defer resp.Body.Close()
	// Tune any part: resilienthttp.NewStandardTransport(nil,
	//	resilienthttp.WithAttemptTimeout(2*time.Second),
	//	resilienthttp.WithBulkhead(bulkhead.Config{MaxConcurrent: 500}))
	return nil
}

func quickStartGRPC(target string) error {
	std, err := resilientgrpc.NewStandard() // same chain, per full method
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(target, append(std.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		return err
	}
	defer conn.Close()
	return nil
}

func policiesOnTheirOwn(ctx context.Context, id int) error {
	overall, err1 := timeout.New(timeout.Config{Duration: 30 * time.Second})
	r, err2 := retry.New(retry.Config{Name: "inventory"}) // 3 attempts, full jitter
	b, err3 := breaker.New(breaker.Config{Name: "inventory"})
	bh, err4 := bulkhead.New(bulkhead.Config{Name: "inventory", MaxConcurrent: 50})
	attempt, err5 := timeout.New(timeout.Config{Duration: 2 * time.Second})
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err // each names the bad field and value
	}
	p := resilience.Chain(overall, r, b, bh, attempt)

	if err := p.Do(ctx, func(ctx context.Context) error { return callInventory(ctx) }); err != nil {
		return err
	}
	item, err := resilience.Do(ctx, p, func(ctx context.Context) (Item, error) {
		return fetchItem(ctx, id)
	})
	if err != nil {
		return err
	}
	fmt.Println(item)
	return nil
}

// The snippets' functions, so that they count as used.
var _ = []any{quickStartHTTP, quickStartGRPC, policiesOnTheirOwn}
