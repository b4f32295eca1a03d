package resilienthttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilienthttp"
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
//     that it makes a context of its own for each attempt.
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
	clients = []struct {
		name   string
		client *http.Client
	}{
		{"plain", &http.Client{Transport: httpTr}},
		{"core", &http.Client{Transport: resilienthttp.NewTransport(httpTr, resilience.Chain())}},
		{"chain4", &http.Client{Transport: resilienthttp.NewTransport(httpTr, resilience.Chain(pf, pf, pf, pf))}},
		{"timeouts", &http.Client{Transport: resilienthttp.NewTransport(httpTr, resilience.Chain(overall, attempt))}},
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
