// Command http shows an http.Client made resilient with the standard
// transport of resilienthttp: two dependencies on 127.0.0.1, an inventory
// service that is flaky and a pricing service that is down.
//
// The transport builds, per host, outermost first:
//
//	overall timeout → retry (with budget) → breaker → bulkhead → per-attempt timeout
//
// The program shows retries of failures and of a hanging attempt, a client
// error returned at once, a POST retried only with an Idempotency-Key, and
// the pricing breaker opening while the inventory keeps working. It finishes
// in about a second.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	inventory, inventoryHits := newInventory()
	defer inventory.Close()
	pricing, pricingHits := newPricing()
	defer pricing.Close()

	transport, err := newTransport()
	if err != nil {
		return err
	}
	client := &http.Client{Transport: transport}
	defer client.CloseIdleConnections()

	show := func(what string, resp *http.Response, err error, hits *atomic.Int64) {
		defer hits.Store(0)
		if err != nil {
			fmt.Printf("%-38s error, breaker open: %-5v  server saw %d\n", what, errors.Is(err, breaker.ErrOpen), hits.Load())
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%-38s %d %-22q server saw %d\n", what, resp.StatusCode, strings.TrimSpace(string(body)), hits.Load())
	}

	resp, err := client.Get(inventory.URL + "/items/42")
	show("GET /items/42 (fails twice)", resp, err, inventoryHits)

	resp, err = client.Get(inventory.URL + "/items/404")
	show("GET /items/404 (client error)", resp, err, inventoryHits)

	resp, err = client.Get(inventory.URL + "/slow")
	show("GET /slow (first attempt hangs)", resp, err, inventoryHits)

	resp, err = client.Post(inventory.URL+"/orders", "text/plain", strings.NewReader("1 x item 42"))
	show("POST /orders", resp, err, inventoryHits)

	req, err := http.NewRequest("POST", inventory.URL+"/orders", strings.NewReader("1 x item 42"))
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", "order-7f3a")
	resp, err = client.Do(req)
	show("POST /orders with Idempotency-Key", resp, err, inventoryHits)

	// The pricing breaker opens after 10 failures in a row (the default);
	// every request makes up to 3 attempts.
	for i := 1; i <= 8; i++ {
		resp, err = client.Get(pricing.URL + "/prices/42")
		show(fmt.Sprintf("GET pricing /prices/42 (#%d)", i), resp, err, pricingHits)
		if err != nil {
			break
		}
	}

	resp, err = client.Get(inventory.URL + "/items/7")
	show("GET /items/7 (inventory unaffected)", resp, err, inventoryHits)

	transport.Hosts().Range(func(host string, p resilience.Policy) bool {
		if h, ok := p.(*resilienthttp.HostPolicy); ok {
			name := "inventory"
			if "http://"+host == pricing.URL {
				name = "pricing"
			}
			fmt.Printf("breaker of %-9s %v\n", name, h.Breaker.State())
		}
		return true
	})
	return nil
}

// newTransport builds the resilient transport: the standard chain with its
// defaults, but shorter timeouts and backoff so that the demo is quick.
func newTransport() (*resilienthttp.Transport, error) {
	return resilienthttp.NewStandardTransport(http.DefaultTransport.(*http.Transport).Clone(),
		resilienthttp.WithOverallTimeout(5*time.Second),
		resilienthttp.WithAttemptTimeout(200*time.Millisecond),
		resilienthttp.WithRetry(retry.Config{InitialDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}),
		// A new budget has one retry to give, the next after about ten
		// requests or a second; this demo retries more than that at once.
		// Keep the budget in a service.
		resilienthttp.WithoutBudget(),
	)
}

// newInventory starts the flaky inventory service.
func newInventory() (*httptest.Server, *atomic.Int64) {
	hits := new(atomic.Int64)
	var items, slow, orders atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch {
		case r.URL.Path == "/items/404":
			http.NotFound(w, r)
		case strings.HasPrefix(r.URL.Path, "/items/"):
			if r.URL.Path == "/items/42" && items.Add(1) <= 2 {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "in stock")
		case r.URL.Path == "/slow":
			if slow.Add(1) == 1 {
				<-r.Context().Done() // hangs until the client gives up
				return
			}
			fmt.Fprintln(w, "slow but fine")
		case r.URL.Path == "/orders":
			io.Copy(io.Discard, r.Body)
			if orders.Add(1) <= 2 {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintln(w, "order placed")
		default:
			http.NotFound(w, r)
		}
	}))
	return srv, hits
}

// newPricing starts the pricing service, which is down.
func newPricing() (*httptest.Server, *atomic.Int64) {
	hits := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	return srv, hits
}
