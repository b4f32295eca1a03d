package telemetry

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
)

// Settings configures the telemetry of one policy. Every policy's Config
// embeds it as the field Telemetry:
//
//	b, err := breaker.New(breaker.Config{
//		Name:      "inventory",
//		Telemetry: telemetry.Settings{Logger: slog.Default()},
//	})
//
// The zero value is the default: metrics from the global meter provider
// (otel.GetMeterProvider()), span events on the caller's span, no logs.
// Settings is a plain value, safe to copy; a policy reads it once, in New.
type Settings struct {
	// MeterProvider supplies the policy's instruments. Nil means the global
	// provider as it is when the policy is built: until the application
	// installs an SDK with otel.SetMeterProvider, that provider discards
	// everything at almost no cost, and once an SDK is installed the
	// policy's measurements reach it without rebuilding the policy. See the
	// package documentation for when measurements start after a late
	// install.
	MeterProvider metric.MeterProvider

	// Logger receives one record per state transition: a breaker that
	// opens, half-opens or closes, a retry budget that runs out or recovers.
	// Nothing is ever logged per call. Nil means no logs.
	Logger *slog.Logger

	// Key tells apart the instances of one named policy, such as the
	// per-host breakers that package keyed builds from one Config: it
	// becomes the resilience.key attribute. Empty means the policy is not
	// keyed. Keys are sanitized (a URL is reduced to its host, never its
	// query or user information) and capped in number; see INSTRUMENTS.md.
	Key string

	// Disabled turns all telemetry of the policy off: no instruments, no
	// span events, no logs. To keep logs but drop metrics, set
	// MeterProvider to go.opentelemetry.io/otel/metric/noop's provider
	// instead.
	Disabled bool
}
