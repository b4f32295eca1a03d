package resilienthttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
	"github.com/cascadeguard/resilience/timeout"
)

func passThrough(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

// benchClients returns the clients compared by the benchmarks, all over one
// keep-alive transport to a loopback server:
//
//   - plain: http.Client with the transport alone, the baseline;
//   - core: the Transport with an empty chain (no policy);
//   - chain4: the Transport with a chain of 4 pass-through PolicyFuncs;
//   - timeouts: the Transport with an overall and a per-attempt timeout, so
//     that it makes a context of its own for each attempt;
//   - standard: NewStandardTransport with its defaults.
func benchClients(b *testing.B) (url string, clients []struct {
	name   string
	client *http.Client
}) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	httpTr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(httpTr.CloseIdleConnections)
	pf := resilience.PolicyFunc(passThrough)
	overall, _ := timeout.New(timeout.Config{Duration: time.Minute})
	attempt, _ := timeout.New(timeout.Config{Duration: 30 * time.Second})
	std, err := resilienthttp.NewStandardTransport(httpTr)
	if err != nil {
		b.Fatal(err)
	}
	clients = []struct {
		name   string
		client *http.Client
	}{
		{"plain", &http.Client{Transport: httpTr}},
		{"core", &http.Client{Transport: resilienthttp.NewTransport(httpTr, resilience.Chain())}},
		{"chain4", &http.Client{Transport: resilienthttp.NewTransport(httpTr, resilience.Chain(pf, pf, pf, pf))}},
		{"timeouts", &http.Client{Transport: resilienthttp.NewTransport(httpTr, resilience.Chain(overall, attempt))}},
		{"standard", &http.Client{Transport: std}},
	}
	return srv.URL, clients
}

func get(b *testing.B, client *http.Client, req *http.Request) {
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// BenchmarkRoundTrip measures a GET on loopback with keep-alive, body
// drained, for each client of benchClients. Compare the sub-benchmarks'
// time and allocations per request with plain's, in the same run.
func BenchmarkRoundTrip(b *testing.B) {
	url, clients := benchClients(b)
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", url, nil)
			b.ReportAllocs()
			for b.Loop() {
				get(b, c.client, req)
			}
		})
	}
}

func BenchmarkRoundTripParallel(b *testing.B) {
	url, clients := benchClients(b)
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", url, nil)
				for pb.Next() {
					get(b, c.client, req)
				}
			})
		})
	}
}

// BenchmarkStandardTransport compares the standard transport with its
// defaults (overall and per-attempt timeouts, retry with budget, per-host
// breaker and bulkhead) with a plain http.Client over the same keep-alive
// transport, in one run: a GET on loopback, body drained. The acceptance
// bound is 1.03× plain's time per request and at most 6 allocations more.
//
// The sub-benchmarks plain and standard (serial, and -parallel with
// RunParallel) give each one's allocations per request. On a machine whose
// load changes, their times compare different moments: alternating and
// alternating-parallel send one request with each client in turn and report
// standard's time relative to plain's as the metric standard/plain.
func BenchmarkStandardTransport(b *testing.B) {
	url, all := benchClients(b)
	var plain, std *http.Client
	for _, c := range all {
		switch c.name {
		case "plain":
			plain = c.client
		case "standard":
			std = c.client
		}
	}
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"plain", plain}, {"standard", std}} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", url, nil)
			b.ReportAllocs()
			for b.Loop() {
				get(b, c.client, req)
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", url, nil)
				for pb.Next() {
					get(b, c.client, req)
				}
			})
		})
	}
	pair := []*http.Client{plain, std}
	b.Run("alternating", func(b *testing.B) {
		req, _ := http.NewRequest("GET", url, nil)
		var total [2]time.Duration
		i := 0
		for b.Loop() {
			// Swap the order every other round, so that neither client
			// always follows the other.
			first := i & 1
			i++
			for k := range 2 {
				j := first ^ k
				start := time.Now()
				get(b, pair[j], req)
				total[j] += time.Since(start)
			}
		}
		b.ReportMetric(float64(total[1])/float64(total[0]), "standard/plain")
	})
	b.Run("alternating-parallel", func(b *testing.B) {
		var mu sync.Mutex
		var total [2]time.Duration
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequest("GET", url, nil)
			var mine [2]time.Duration
			i := 0
			for pb.Next() {
				first := i & 1
				i++
				for k := range 2 {
					j := first ^ k
					start := time.Now()
					get(b, pair[j], req)
					mine[j] += time.Since(start)
				}
			}
			mu.Lock()
			total[0] += mine[0]
			total[1] += mine[1]
			mu.Unlock()
		})
		b.ReportMetric(float64(total[1])/float64(total[0]), "standard/plain")
	})
}

// BenchmarkParseRetryAfter: the parser runs for every failure response
// that has the header.
func BenchmarkParseRetryAfter(b *testing.B) {
	now := time.Now()
	for _, v := range []string{"120", "Sun, 06 Nov 1994 08:49:37 GMT"} {
		h := http.Header{"Retry-After": {v}}
		b.Run(v[:3], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resilienthttp.ParseRetryAfter(h, now)
			}
		})
	}
}

// BenchmarkOverhead alternates the clients of benchClients request by
// request and reports each one's time per request relative to plain's, as
// the metrics <name>/plain: on a machine whose load changes, sub-benchmarks
// that run one after another compare different moments; alternating
// compares the same ones. ns/op is the time of one request of each client.
func BenchmarkOverhead(b *testing.B) {
	url, clients := benchClients(b)
	req, _ := http.NewRequest("GET", url, nil)
	total := make([]time.Duration, len(clients))
	b.ReportAllocs()
	for b.Loop() {
		for i, c := range clients {
			start := time.Now()
			get(b, c.client, req)
			total[i] += time.Since(start)
		}
	}
	for i, c := range clients[1:] {
		b.ReportMetric(float64(total[i+1])/float64(total[0]), c.name+"/plain")
	}
}

func BenchmarkOverheadParallel(b *testing.B) {
	url, clients := benchClients(b)
	var mu sync.Mutex
	total := make([]time.Duration, len(clients))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url, nil)
		mine := make([]time.Duration, len(clients))
		for pb.Next() {
			for i, c := range clients {
				start := time.Now()
				get(b, c.client, req)
				mine[i] += time.Since(start)
			}
		}
		mu.Lock()
		for i := range mine {
			total[i] += mine[i]
		}
		mu.Unlock()
	})
	for i, c := range clients[1:] {
		b.ReportMetric(float64(total[i+1])/float64(total[0]), c.name+"/plain")
	}
}

// memoryTransport answers every request at once from memory, so that
// BenchmarkTransportCost measures the Transport's own work, without the
// network's noise.
type memoryTransport struct{}

func (memoryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
}

// BenchmarkTransportCost: the time and allocations that the Transport adds to
// a request, over a next transport that costs almost nothing ("bare" is that
// transport alone).
func BenchmarkTransportCost(b *testing.B) {
	pf := resilience.PolicyFunc(passThrough)
	overall, _ := timeout.New(timeout.Config{Duration: time.Minute})
	attempt, _ := timeout.New(timeout.Config{Duration: 30 * time.Second})
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", memoryTransport{}},
		{"core", resilienthttp.NewTransport(memoryTransport{}, resilience.Chain())},
		{"chain4", resilienthttp.NewTransport(memoryTransport{}, resilience.Chain(pf, pf, pf, pf))},
		{"timeouts", resilienthttp.NewTransport(memoryTransport{}, resilience.Chain(overall, attempt))},
		{"standard", mustStandard(b, memoryTransport{})},
		// What the timeouts cost without the Transport's own context: a
		// naive adapter that sends with the attempt context (and so breaks
		// the body once the timeouts return).
		{"timeouts-naive", naiveTransport{resilience.Chain(overall, attempt)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, _ := c.rt.RoundTrip(req)
				resp.Body.Close()
			}
		})
	}
}

type naiveTransport struct{ p resilience.Policy }

func (n naiveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	err := n.p.Do(req.Context(), func(ctx context.Context) error {
		var err error
		resp, err = memoryTransport{}.RoundTrip(req.WithContext(ctx))
		return err
	})
	return resp, err
}

func mustStandard(b *testing.B, next http.RoundTripper, opts ...resilienthttp.StandardOption) *resilienthttp.Transport {
	t, err := resilienthttp.NewStandardTransport(next, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkStandardParts breaks the standard transport's cost down: for
// each variant, it alternates requests with a plain client and reports the
// variant's time relative to plain's (metric x/plain). "copy" is a
// RoundTripper that only copies the request, the least an adapter that
// changes the request's context must do; "timeouts" the standard transport
// with its timeouts alone; the others one policy each, or all of them.
func BenchmarkStandardParts(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	httpTr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(httpTr.CloseIdleConnections)
	plain := &http.Client{Transport: httpTr}
	noTimeouts := []resilienthttp.StandardOption{resilienthttp.WithoutOverallTimeout(), resilienthttp.WithoutAttemptTimeout()}
	only := func(opts ...resilienthttp.StandardOption) []resilienthttp.StandardOption {
		return append([]resilienthttp.StandardOption{resilienthttp.WithoutRetry(), resilienthttp.WithoutBreaker(), resilienthttp.WithoutBulkhead()}, opts...)
	}
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"copy", copyTransport{httpTr}},
		{"none", mustStandard(b, httpTr, only(noTimeouts...)...)},
		{"timeouts", mustStandard(b, httpTr, only()...)},
		{"retry-budget", mustStandard(b, httpTr, only(append(noTimeouts, resilienthttp.WithRetry(retry.Config{}))...)...)},
		{"breaker", mustStandard(b, httpTr, only(append(noTimeouts, resilienthttp.WithBreaker(breaker.Config{}))...)...)},
		{"bulkhead", mustStandard(b, httpTr, only(append(noTimeouts, resilienthttp.WithBulkhead(bulkhead.Config{}))...)...)},
		{"policies", mustStandard(b, httpTr, noTimeouts...)},
		{"all", mustStandard(b, httpTr)},
	} {
		client := &http.Client{Transport: c.rt}
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			pair := []*http.Client{plain, client}
			var total [2]time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				first := i & 1
				i++
				for k := range 2 {
					j := first ^ k
					start := time.Now()
					get(b, pair[j], req)
					total[j] += time.Since(start)
				}
			}
			b.ReportMetric(float64(total[1])/float64(total[0]), "x/plain")
		})
	}
}

// copyTransport sends a shallow copy of each request.
type copyTransport struct{ next http.RoundTripper }

func (c copyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := new(http.Request)
	*r2 = *r
	return c.next.RoundTrip(r2)
}

// BenchmarkStandardTelemetry: the standard transport over a next transport
// that answers from memory, with its telemetry disabled, with the default
// (the global providers; no SDK is installed in this binary) and with an
// SDK meter provider given by WithTelemetry (the SDK's cost). The issue's
// bound: global within 1.10× of disabled, with no extra allocation.
func BenchmarkStandardTelemetry(b *testing.B) {
	var pair [2]http.RoundTripper // disabled, global
	for i, c := range telemetryVariants(b) {
		tr := mustStandard(b, memoryTransport{}, resilienthttp.WithTelemetry(c.tel))
		if i < 2 {
			pair[i] = tr
		}
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, _ := tr.RoundTrip(req)
				resp.Body.Close()
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
				for pb.Next() {
					resp, _ := tr.RoundTrip(req)
					resp.Body.Close()
				}
			})
		})
	}
	// On a machine whose load changes, sub-benchmarks that run one after
	// another compare different moments: alternating sends requests with
	// each in turn and reports global's time relative to disabled's.
	b.Run("alternating", func(b *testing.B) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
		var total [2]time.Duration
		i := 0
		for b.Loop() {
			first := i & 1
			i++
			for k := range 2 {
				j := first ^ k
				start := time.Now()
				for range 16 {
					resp, _ := pair[j].RoundTrip(req)
					resp.Body.Close()
				}
				total[j] += time.Since(start)
			}
		}
		b.ReportMetric(float64(total[1])/float64(total[0]), "global/disabled")
	})
}

func telemetryVariants(b *testing.B) []struct {
	name string
	tel  telemetry.Settings
} {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return []struct {
		name string
		tel  telemetry.Settings
	}{
		{"disabled", telemetry.Settings{Disabled: true}},
		{"global", telemetry.Settings{}},
		{"sdk", telemetry.Settings{MeterProvider: mp}},
	}
}

// coldBuf is written between the requests of BenchmarkTransportCostCold.
var coldBuf = make([]byte, 2<<20)

// BenchmarkTransportCostCold is BenchmarkTransportCost with the caches
// cold, as they are between the requests of a real client (on loopback,
// net/http and the kernel run some 30 µs of code between two requests):
// before each request it writes 2 MiB, and it times the round trip alone
// (metric ns/rt, which includes two clock reads). Against the warm numbers
// it shows how much of the transport's cost is memory traffic: about twice
// as much time cold.
func BenchmarkTransportCostCold(b *testing.B) {
	noTimeouts := []resilienthttp.StandardOption{resilienthttp.WithoutOverallTimeout(), resilienthttp.WithoutAttemptTimeout()}
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", memoryTransport{}},
		{"none", mustStandard(b, memoryTransport{}, append(noTimeouts,
			resilienthttp.WithoutRetry(), resilienthttp.WithoutBreaker(), resilienthttp.WithoutBulkhead())...)},
		{"policies", mustStandard(b, memoryTransport{}, noTimeouts...)},
		{"standard", mustStandard(b, memoryTransport{})},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			var total time.Duration
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < len(coldBuf); i += 64 {
					coldBuf[i]++
				}
				start := time.Now()
				resp, _ := c.rt.RoundTrip(req)
				resp.Body.Close()
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/rt")
		})
	}
}
