// Package bench measures the resilience policies side by side with the
// libraries a Go service would otherwise use: sony/gobreaker/v2,
// failsafe-go (and its failsafehttp), afex/hystrix-go,
// hashicorp/go-retryablehttp, golang.org/x/sync/semaphore and the standard
// library. The containment lab, which plays a cascading failure for each of
// them, is the program in the lab directory.
//
// It is a module of its own (github.com/cascadeguard/resilience/bench, with
// a replace directive to the repository root) so that users of the library
// never download the peers. The package holds no code of its own: the
// benchmarks and the checks that every contender is configured alike are in
// its test files. See README.md for the commands and for how each contender
// is configured, and cmd/ratios for the program that turns `go test -bench`
// output into ratio tables.
package bench
