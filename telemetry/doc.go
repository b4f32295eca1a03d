// Package telemetry is the user-facing side of the OpenTelemetry metrics,
// span events and logs that every policy in this module emits, and a
// read-only status page for the policies an application names.
//
// # On by default
//
// Every policy's Config has a field Telemetry of type [Settings]. Its zero
// value needs no wiring: the policy takes its instruments from the global
// meter provider (otel.GetMeterProvider()) and adds span events to the span
// in each call's context, so an application that installs an SDK
//
//	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)))
//
// sees calls by outcome, durations, breaker states and transitions, retries,
// budget rejections and bulkhead occupancy, named by policy and key, without
// touching the policies. [Settings.MeterProvider] gives one policy an
// explicit provider instead; [Settings.Logger] adds a log record per state
// transition; [Settings.Disabled] turns a policy's telemetry off.
//
// No tracer provider is needed: policies never start spans, they add events
// (resilience.retry.scheduled, resilience.breaker.rejected,
// resilience.bulkhead.rejected, resilience.ratelimit.rejected,
// resilience.timeout, resilience.retry.budget_exhausted) to the caller's
// current span when it is recording.
//
// INSTRUMENTS.md in this directory lists every instrument, its unit and its
// attributes, and every event.
//
// # Cost
//
// With no SDK installed, telemetry costs a policy's success path one atomic
// load and no allocation; a policy with Disabled set pays one nil check.
// With an SDK, each measurement costs what the SDK charges (a few hundred
// nanoseconds per call and policy on a typical server, most of it the SDK's
// attribute handling), still without allocating. A View that drops an
// instrument (sdkmetric.AggregationDrop) removes its cost: policies ask an
// instrument whether it is enabled before measuring, and read the clock only
// when a duration histogram is enabled.
//
// A policy built before the application installs its SDK records failures,
// timeouts, neutral outcomes, retries, waits, transitions and gauges from
// the moment of the install, and its successful and rejected calls from the
// SDK's first collection (or from the first of those other events,
// whichever comes first): checking for a late SDK on every call would cost
// more than the policies' fastest paths. Installing the SDK at the start of
// main, before building clients, avoids even that gap.
//
// # Bounded and safe attributes
//
// Attribute values come from fixed sets (kind, outcome, state, reason) or
// from policy names and keys, which are sanitized (a URL becomes its host:
// never its query, user information or path) and capped per process: the
// first 200 policy names, the first 100 keys per name and 2000 keys in all
// get their own series, later ones are reported as "_other". Error text and
// header values never become attributes or log fields.
//
// # Status
//
// [StatusHandler] serves, as JSON or a small HTML page, the current state of
// the policies the application put in a [Registry]: breaker states and
// counts, bulkhead occupancy, retry budgets, rate limiter tokens. Every
// policy implements [StatusReporter].
package telemetry
