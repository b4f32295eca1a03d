package resilienthttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
	"github.com/cascadeguard/resilience/telemetry"
)

// A status page for a standard transport: register the transport (or just
// its hosts) and serve telemetry.StatusHandler. Here the host's breaker
// opened after one failure.
func ExampleTransport_Status() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	tr, err := resilienthttp.NewStandardTransport(&http.Transport{},
		resilienthttp.WithoutRetry(),
		resilienthttp.WithBreaker(breaker.Config{ConsecutiveFailures: 1}),
		// Metrics and span events go to the global OpenTelemetry providers
		// unless told otherwise; this example needs none.
		resilienthttp.WithTelemetry(telemetry.Settings{Disabled: true}))
	if err != nil {
		panic(err)
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/items?token=secret")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	var reg telemetry.Registry
	_ = reg.Register("inventory", tr) // serve it with telemetry.StatusHandler(&reg)

	host := strings.TrimPrefix(srv.URL, "http://")
	for _, part := range tr.Status().Instances {
		fmt.Println(part.Kind, part.Name)
		for _, h := range part.Instances {
			for _, p := range h.Instances {
				if p.Breaker != nil {
					fmt.Println("  host", h.Key == host, "breaker", p.Breaker.State)
				}
			}
		}
	}
	// Output:
	// timeout overall
	// timeout attempt
	// keyed resilienthttp
	//   host true breaker open
}
