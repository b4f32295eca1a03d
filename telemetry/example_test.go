package telemetry_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/cascadeguard/resilience/telemetry"
)

// inventoryBreaker stands in for a *breaker.Breaker, which implements
// telemetry.StatusReporter.
type inventoryBreaker struct{}

func (inventoryBreaker) Status() telemetry.Status {
	return telemetry.Status{Kind: "breaker", Name: "inventory", Breaker: &telemetry.BreakerStatus{
		State: telemetry.StateOpen, Requests: 20, Failures: 12, ConsecutiveFailures: 6,
	}}
}

// The application registers the policies it wants to show and mounts the
// handler; a dashboard or an operator's curl reads the JSON.
func ExampleStatusHandler() {
	var reg telemetry.Registry
	if err := reg.Register("inventory", inventoryBreaker{}); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /debug/resilience", telemetry.StatusHandler(&reg))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/debug/resilience", nil))
	body, _ := io.ReadAll(w.Result().Body)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Print(string(body))
	// Output:
	// 200 application/json
	// {
	//   "policies": [
	//     {
	//       "name": "inventory",
	//       "status": {
	//         "kind": "breaker",
	//         "name": "inventory",
	//         "breaker": {
	//           "state": "open",
	//           "requests": 20,
	//           "successes": 0,
	//           "failures": 12,
	//           "slow_calls": 0,
	//           "neutral": 0,
	//           "consecutive_failures": 6
	//         }
	//       }
	//     }
	//   ]
	// }
}

func ExampleRegistry_Register() {
	var reg telemetry.Registry
	fmt.Println(reg.Register("inventory", inventoryBreaker{}))
	fmt.Println(reg.Register("inventory", inventoryBreaker{}))
	fmt.Println(reg.Unregister("inventory"), reg.Len())
	// Output:
	// <nil>
	// telemetry: Register name "inventory" is already registered
	// true 0
}
