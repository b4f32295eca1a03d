package chaos_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/chaos"
)

// ok is the cheapest possible handler: the baseline the middleware adds to.
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

// configs are injectors under which no request gets a fault, the overhead
// every request pays.
var configs = []struct {
	name string
	cfg  chaos.Config
}{
	// A schedule whose current phase is healthy: no draw is made.
	{"healthyPhase", chaos.Config{Seed: 1, Phases: []chaos.Phase{
		{Name: "healthy", Duration: time.Hour},
		{Name: "503s", Faults: []chaos.Fault{{Status: 503}}},
	}}},
	// A fault so rare that no request gets it: the draw is made.
	{"missedFault", chaos.Config{Seed: 1, Faults: []chaos.Fault{{Probability: 1e-12, Status: 503}}}},
}

// BenchmarkBaseline is the handler alone.
func BenchmarkBaseline(b *testing.B) {
	req := httptest.NewRequest("GET", "/", nil)
	w := &nopWriter{}
	b.ReportAllocs()
	for b.Loop() {
		ok.ServeHTTP(w, req)
	}
}

func BenchmarkBaselineParallel(b *testing.B) {
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{}
		for pb.Next() {
			ok.ServeHTTP(w, req)
		}
	})
}

// BenchmarkHandler is the handler behind chaos.Handler when no fault applies.
func BenchmarkHandler(b *testing.B) {
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			h := chaos.Handler(ok, mustNew(b, c.cfg))
			req := httptest.NewRequest("GET", "/", nil)
			w := &nopWriter{}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

func BenchmarkHandlerParallel(b *testing.B) {
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			h := chaos.Handler(ok, mustNew(b, c.cfg))
			req := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &nopWriter{}
				for pb.Next() {
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

// staticRT answers every request with the same response, allocating nothing.
type staticRT struct{ resp *http.Response }

func (s staticRT) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

var static = staticRT{&http.Response{StatusCode: 200, Body: http.NoBody}}

// BenchmarkTransportBaseline is the RoundTripper alone.
func BenchmarkTransportBaseline(b *testing.B) {
	req := httptest.NewRequest("GET", "http://x.internal/", nil)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = static.RoundTrip(req)
	}
}

// BenchmarkTransport is the RoundTripper behind chaos.Transport when no fault
// applies.
func BenchmarkTransport(b *testing.B) {
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			rt := chaos.Transport(static, mustNew(b, c.cfg))
			req := httptest.NewRequest("GET", "http://x.internal/", nil)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = rt.RoundTrip(req)
			}
		})
	}
}

// BenchmarkNextFault is a decision that injects a fault (the fault itself is
// not applied).
func BenchmarkNextFault(b *testing.B) {
	inj := mustNew(b, chaos.Config{Seed: 1, Faults: []chaos.Fault{
		{Probability: 0.5, Status: 503, RetryAfter: time.Second},
		{Probability: 0.5, Latency: time.Millisecond, Jitter: time.Millisecond},
	}})
	b.ReportAllocs()
	for b.Loop() {
		inj.Next()
	}
}

// BenchmarkLoopback puts the overhead in proportion: a whole GET over
// loopback, to a plain server and to one behind chaos.Handler in a healthy
// phase.
func BenchmarkLoopback(b *testing.B) {
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"plain", ok},
		{"chaos", chaos.Handler(ok, mustNew(b, configs[0].cfg))},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
