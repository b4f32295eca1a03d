package bench_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/resilienthttp"
)

// BenchmarkHTTPAlternating measures what BenchmarkHTTP/serial measures with
// the drift between sub-benchmarks taken out: every contender sends through
// one shared transport (so one connection) to one server, and they take
// turns of 16 requests each, in an order shuffled per turn, so that a slow
// patch of the machine falls on all of them alike. Each reports its time ÷
// plain's as a metric (contender/plain); ns/op, B/op and allocs/op are
// those of one turn of every contender.
//
// Two more plain clients show what net/http itself charges for a request
// whose context can end, which every timeout needs:
//
//   - plain-ctx: every request has a context.WithTimeout of ours' overall
//     default (30 s);
//   - plain-cancel: every request has a context.WithCancel (no timer).
//
// There is no parallel form: turns running at once in several goroutines
// overlap, so a turn's time would not be its contender's alone.
func BenchmarkHTTPAlternating(b *testing.B) {
	srv, _ := httpServer(b)
	tr := httpTransport()
	defer tr.CloseIdleConnections()
	type variant struct {
		name   string
		client *http.Client
		ctx    func() (context.Context, context.CancelFunc) // nil: the request's own
	}
	var variants []variant
	for _, c := range httpContenders() {
		variants = append(variants, variant{name: c.name, client: c.build(b, tr)})
		if c.name == "plain" {
			variants = append(variants,
				variant{name: "plain-ctx", client: c.build(b, tr), ctx: func() (context.Context, context.CancelFunc) {
					return context.WithTimeout(context.Background(), resilienthttp.DefaultOverallTimeout)
				}},
				variant{name: "plain-cancel", client: c.build(b, tr), ctx: func() (context.Context, context.CancelFunc) {
					return context.WithCancel(context.Background())
				}})
		}
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	if err != nil {
		b.Fatal(err)
	}
	get := func(v variant) error {
		if v.ctx == nil {
			return httpGet(v.client, req)
		}
		ctx, cancel := v.ctx()
		defer cancel()
		return httpGet(v.client, req.WithContext(ctx))
	}
	// turn sends 16 requests with each contender, in an order drawn from
	// rng, and adds their times to total.
	turn := func(rng *rand.Rand, total []time.Duration) error {
		for _, i := range rng.Perm(len(variants)) {
			start := time.Now()
			for range 16 {
				if err := get(variants[i]); err != nil {
					return err
				}
			}
			total[i] += time.Since(start)
		}
		return nil
	}
	// Warm up: open the connection outside the clock.
	if err := turn(rand.New(rand.NewPCG(0, 0)), make([]time.Duration, len(variants))); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	total := make([]time.Duration, len(variants))
	b.ReportAllocs()
	for b.Loop() {
		if err := turn(rng, total); err != nil {
			b.Fatal(err)
		}
	}
	for i := 1; i < len(variants); i++ {
		b.ReportMetric(float64(total[i])/float64(total[0]), variants[i].name+"/plain")
	}
}
