// Command telemetry shows what an operator sees of the policies with
// OpenTelemetry installed and no extra wiring: metrics from every policy,
// breaker transitions in the log, and the status page.
//
// It installs an SDK meter provider as the global one (as an application does
// at the top of main), sends requests through a retry and a breaker to a
// dependency on 127.0.0.1 that fails and then recovers, and prints the
// collected metrics, then the status page's JSON. With -json the metrics are
// printed by the stdout exporter instead of as a table.
//
//	go run ./examples/telemetry
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

func main() {
	asJSON := flag.Bool("json", false, "print the metrics with the OpenTelemetry stdout exporter")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "telemetry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, asJSON bool) error {
	// 1. The application installs an SDK; the policies need nothing more.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	otel.SetMeterProvider(mp)
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))

	// 2. A dependency that fails its first 3 requests, then recovers.
	var hits atomic.Int64
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 3 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer dep.Close()

	// 3. Policies with names; the breaker logs its transitions.
	r, err := retry.New(retry.Config{Name: "inventory", MaxAttempts: 2, InitialDelay: retry.NoDelay})
	if err != nil {
		return err
	}
	b, err := breaker.New(breaker.Config{
		Name:                "inventory",
		ConsecutiveFailures: 3,
		OpenFor:             200 * time.Millisecond,
		Telemetry:           telemetry.Settings{Logger: logger, Key: "inventory.internal"},
	})
	if err != nil {
		return err
	}
	reg := &telemetry.Registry{}
	if err := reg.Register("inventory-breaker", b); err != nil {
		return err
	}
	if err := reg.Register("inventory-retry", r); err != nil {
		return err
	}
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: resilienthttp.NewTransport(transport, resilience.Chain(r, b))}

	// 4. Traffic: a burst while the dependency fails, a pause for the breaker
	// to probe again, then traffic after the recovery.
	ok, failed := 0, 0
	for phase := 0; phase < 2; phase++ {
		for i := 0; i < 6; i++ {
			if get(ctx, client, dep.URL+"/stock?item=42&token=secret") {
				ok++
			} else {
				failed++
			}
		}
		time.Sleep(250 * time.Millisecond) // past OpenFor (±10 % jitter)
	}
	fmt.Fprintf(out, "\nrequests: %d ok, %d failed; the dependency saw %d\n\n", ok, failed, hits.Load())

	// 5. What an operator sees: the metrics...
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	if asJSON {
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(out), stdoutmetric.WithPrettyPrint())
		if err != nil {
			return err
		}
		if err := exp.Export(ctx, &rm); err != nil {
			return err
		}
	} else {
		printTable(out, &rm)
	}

	// ...and the status page, served as JSON on a loopback port.
	status := httptest.NewServer(telemetry.StatusHandler(reg))
	defer status.Close()
	resp, err := http.Get(status.URL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(out, "\nGET %s (status page, %s):\n", "/", resp.Header.Get("Content-Type"))
	_, err = io.Copy(out, resp.Body)
	return err
}

// get sends one request and reports whether it got a 2xx answer.
func get(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// printTable prints the counters and histogram counts, one line per series.
func printTable(out io.Writer, rm *metricdata.ResourceMetrics) {
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%-36s %-60s %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%-36s %-60s %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%-36s %-60s count=%d", m.Name, attrs(p.Attributes), p.Count))
				}
			}
		}
	}
	sort.Strings(lines)
	fmt.Fprintln(out, strings.Join(lines, "\n"))
}

// attrs renders an attribute set compactly, without the common prefix.
func attrs(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, strings.TrimPrefix(string(kv.Key), "resilience.")+"="+kv.Value.String())
	}
	return strings.Join(parts, " ")
}
