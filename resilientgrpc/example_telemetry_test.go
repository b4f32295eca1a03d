package resilientgrpc_test

import (
	"fmt"

	"github.com/cascadeguard/resilience/resilientgrpc"
	"github.com/cascadeguard/resilience/telemetry"
)

// The status of a standard preset, for a status page: its retry with the
// budget, its timeouts and its per-method policies (none yet: no call was
// made). Register it and serve telemetry.StatusHandler.
func ExampleStandard_Status() {
	std, err := resilientgrpc.NewStandard(
		// Metrics and span events go to the global OpenTelemetry providers
		// unless told otherwise; this example needs none.
		resilientgrpc.WithTelemetry(telemetry.Settings{Disabled: true}))
	if err != nil {
		panic(err)
	}
	var reg telemetry.Registry
	_ = reg.Register("inventory", std) // serve it with telemetry.StatusHandler(&reg)

	for _, part := range std.Status().Instances {
		fmt.Println(part.Kind, part.Name, len(part.Instances))
	}
	// Output:
	// timeout overall 0
	// timeout attempt 0
	// keyed resilientgrpc 0
	// keyed resilientgrpc-stream 0
}
