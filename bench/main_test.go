package bench_test

import (
	"testing"

	"go.uber.org/goleak"
)

// hystrix-go starts two goroutines for every command name it sees (the
// metric exchange and the executor pool's metrics, both ranging over a
// channel that is never closed) and offers no way to stop them: hystrix.Flush
// forgets the circuits but leaves the goroutines running. They are the only
// goroutines ignored here; any other survivor fails the package.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*metricExchange).Monitor"),
		goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*poolMetrics).Monitor"),
	)
}
