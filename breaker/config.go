package breaker

import (
	"fmt"
	"math"
	"time"

	"github.com/cascadeguard/resilience/telemetry"
)

// Defaults used by [New] for the zero values of [Config] fields.
const (
	// DefaultFailureRatio is the failure-ratio rule used when neither
	// ConsecutiveFailures nor FailureRatio is set.
	DefaultFailureRatio = 0.5
	// DefaultMinCalls is the number of calls the window must hold before
	// the failure-ratio rule can trip.
	DefaultMinCalls = 20
	// DefaultWindow is the length of the rolling window.
	DefaultWindow = 30 * time.Second
	// DefaultOpenFor is how long the breaker stays open, before jitter.
	DefaultOpenFor = 30 * time.Second
)

// NoProbeFailAfter, as [Config.ProbeFailAfter], turns the probe rule off.
// Zero does too when a Config goes to [New] as it is; NoProbeFailAfter also
// stays off where a zero would be replaced by a default first, as the
// standard presets of packages resilienthttp and resilientgrpc replace it.
// It is the longest Duration, which is never shorter than ProbeTimeout.
const NoProbeFailAfter time.Duration = math.MaxInt64

// maxOverdue is the most overdue probes (see Config.ProbeFailAfter) whose
// late success a breaker remembers; beyond it the oldest is forgotten. It
// bounds the breaker's memory whatever the configuration.
const maxOverdue = 64

// openJitter is the spread of an open period: it lasts a duration drawn
// uniformly from [OpenFor×(1-openJitter), OpenFor×(1+openJitter)].
const openJitter = 0.1

// Config configures a [Breaker]. The zero value is a breaker named "breaker"
// that opens when at least half of at least 20 calls in the last 30 s
// failed, stays open about 30 s, then lets one probe through. Configs are
// plain values: copy one to build a breaker per key.
type Config struct {
	// Name identifies the breaker in errors, hooks and telemetry. Empty
	// means "breaker". Keep it bounded (a host, a method), never user input.
	Name string

	// ConsecutiveFailures trips the breaker after that many failures in a
	// row (neutral outcomes do not break the row; any success does). Zero
	// turns the rule off.
	ConsecutiveFailures uint32

	// FailureRatio trips the breaker when failures make up at least this
	// fraction of the successes and failures in the rolling Window, once
	// the window holds at least MinCalls of them. It must be in [0, 1];
	// zero turns the rule off, unless ConsecutiveFailures is zero too, in
	// which case it is DefaultFailureRatio.
	FailureRatio float64

	// MinCalls is the number of successes and failures the window must
	// hold before the failure-ratio rule applies. Zero means
	// DefaultMinCalls. Setting it while the ratio rule is off is an error.
	MinCalls uint32

	// Window is the length of the rolling window over which outcomes are
	// counted, in 10 buckets: every Window/10 the oldest bucket is dropped.
	// An outcome is counted when its call completes. Zero means
	// DefaultWindow.
	Window time.Duration

	// SlowCall makes a call that succeeds but takes longer than this count
	// as a failure: a dependency that answers in 8 s instead of 80 ms is
	// failing. So does a call that the caller's deadline ended after it had
	// run longer than SlowCall (a hang is slow, whichever deadline ends it);
	// a call the caller cancelled stays neutral. Zero turns the rule off. It
	// does not apply to calls admitted with [Breaker.Allow] (a stream's
	// length says nothing about health).
	SlowCall time.Duration

	// OpenFor is how long the breaker stays open before it lets probes
	// through. Each open period is jittered by up to ±10 % (uniformly), so
	// that a fleet of callers whose breakers opened together does not probe
	// the dependency in lockstep. Zero means DefaultOpenFor.
	OpenFor time.Duration

	// HalfOpenProbes is the number of probe calls the half-open state
	// admits; others are rejected with ErrOpen. The breaker closes when all
	// of them have succeeded and opens again at the first failure; a probe
	// with a neutral outcome frees its slot for another. Zero means 1.
	HalfOpenProbes uint32

	// ProbeTimeout is how long a probe may go without reporting its
	// outcome: after that its slot is freed for another probe and its
	// outcome, if it ever comes, is ignored. It keeps a probe that is never
	// reported (an abandoned stream, a hung call) from leaving the breaker
	// stuck in half-open. Zero means OpenFor.
	ProbeTimeout time.Duration

	// ProbeFailAfter makes a probe that has run this long without
	// reporting count as a failure at once: the breaker opens again, and
	// probes again after OpenFor, instead of waiting for the probe. A
	// dependency that hangs holds each probe until the call's own timeout;
	// without this rule the breaker would stay half-open that long, and
	// after the dependency heals it could take as long before a new probe
	// found out. The call is not cancelled: if it succeeds later, while the
	// breaker is open or half-open, that counts as a probe that succeeded
	// (with HalfOpenProbes 1, the breaker closes): a slow but healthy
	// dependency is not shut out by a short ProbeFailAfter. An overdue probe
	// that has not reported after ProbeTimeout (from its start) is
	// forgotten, and so are all overdue probes when SetMode forces the
	// breaker open or disabled, or ends that. A dependency that hangs
	// therefore holds up to about HalfOpenProbes × T / (OpenFor +
	// ProbeFailAfter) probe calls at a time, where T is the calls' own
	// timeout. After it heals, the breaker lets a call through within an
	// open period plus ProbeFailAfter of the heal, and closes once
	// HalfOpenProbes calls have succeeded. The rule is checked when a call
	// reaches the half-open breaker (the open period it starts counts from
	// when the probe went overdue), and time a probe waits inside the
	// breaker (in a bulkhead's queue) counts. It takes effect only when
	// shorter than ProbeTimeout. Zero turns it off, and so does
	// NoProbeFailAfter, also where a zero would take a default.
	ProbeFailAfter time.Duration

	// IsFailure classifies a non-nil error: true counts it as a failure,
	// false as neutral (neither failure nor success). It is not consulted
	// for the caller's own cancellation or for rejections by other policies
	// (resilience.ErrRejected), which are always neutral, nor for panics,
	// which are always failures. Nil means !resilience.IsNeutral(err), so
	// errors the adapters mark as client errors are neutral.
	IsFailure func(err error) bool

	// OnStateChange, if set, is called after every state change, in order,
	// outside any lock of the breaker: it may call any method of the
	// breaker. It runs on the goroutine of a caller of the breaker (the one
	// whose call caused the change, or one that was delivering changes
	// already; State and Status, which a status page calls, move an open
	// breaker whose time is up to half-open, while the metrics collection of
	// the state gauge never does), so it must be quick.
	OnStateChange func(name string, from, to State)

	// OnShadowReject, if set, is called in ModeShadow each time the breaker
	// lets through a call that it would have rejected in the given state
	// (StateOpen, or StateHalfOpen with all probe slots taken). It runs on
	// the caller's goroutine, outside any lock, before the call.
	OnShadowReject func(name string, state State)

	// Mode is the initial mode. The zero value is ModeNormal.
	Mode Mode

	// Telemetry configures the policy's metrics, span events and logs. The
	// zero value reports to the global OpenTelemetry providers; see package
	// telemetry and its INSTRUMENTS.md.
	Telemetry telemetry.Settings
}

// settings is a validated Config with defaults applied.
type settings struct {
	name           string
	consecutive    uint32
	ratio          float64
	minCalls       uint32
	bucket         int64 // nanoseconds per window bucket
	slowCall       time.Duration
	openFor        time.Duration
	probes         uint32
	probeTimeout   int64 // nanoseconds
	probeFailAfter int64 // nanoseconds; 0: off
	isFailure      func(error) bool
	onStateChange  func(name string, from, to State)
	onShadowReject func(name string, state State)
	mode           Mode
}

func (c *Config) settings() (settings, error) {
	switch {
	case math.IsNaN(c.FailureRatio) || c.FailureRatio < 0 || c.FailureRatio > 1:
		return settings{}, fmt.Errorf("breaker: FailureRatio %v is outside [0, 1]", c.FailureRatio)
	case c.Window < 0:
		return settings{}, fmt.Errorf("breaker: Window %v is negative", c.Window)
	case c.SlowCall < 0:
		return settings{}, fmt.Errorf("breaker: SlowCall %v is negative", c.SlowCall)
	case c.OpenFor < 0:
		return settings{}, fmt.Errorf("breaker: OpenFor %v is negative", c.OpenFor)
	case c.ProbeTimeout < 0:
		return settings{}, fmt.Errorf("breaker: ProbeTimeout %v is negative", c.ProbeTimeout)
	case c.ProbeFailAfter < 0:
		return settings{}, fmt.Errorf("breaker: ProbeFailAfter %v is negative", c.ProbeFailAfter)
	case c.MinCalls != 0 && c.FailureRatio == 0 && c.ConsecutiveFailures != 0:
		return settings{}, fmt.Errorf("breaker: MinCalls %d is set but the failure-ratio rule is off (FailureRatio 0 with ConsecutiveFailures %d)",
			c.MinCalls, c.ConsecutiveFailures)
	case !c.Mode.valid():
		return settings{}, fmt.Errorf("breaker: Mode %d is unknown", int(c.Mode))
	}
	s := settings{
		name:           c.Name,
		consecutive:    c.ConsecutiveFailures,
		ratio:          c.FailureRatio,
		minCalls:       c.MinCalls,
		slowCall:       c.SlowCall,
		openFor:        c.OpenFor,
		probes:         c.HalfOpenProbes,
		probeTimeout:   int64(c.ProbeTimeout),
		probeFailAfter: int64(c.ProbeFailAfter),
		isFailure:      c.IsFailure,
		onStateChange:  c.OnStateChange,
		onShadowReject: c.OnShadowReject,
		mode:           c.Mode,
	}
	if s.name == "" {
		s.name = "breaker"
	}
	if s.consecutive == 0 && s.ratio == 0 {
		s.ratio = DefaultFailureRatio
	}
	if s.minCalls == 0 {
		s.minCalls = DefaultMinCalls
	}
	window := c.Window
	if window == 0 {
		window = DefaultWindow
	}
	// Round the bucket up so the window is never shorter than asked.
	s.bucket = int64(window) / windowBuckets
	if int64(window)%windowBuckets != 0 {
		s.bucket++
	}
	if s.openFor == 0 {
		s.openFor = DefaultOpenFor
	}
	if s.probes == 0 {
		s.probes = 1
	}
	if s.probeTimeout == 0 {
		s.probeTimeout = int64(s.openFor)
	}
	if s.probeFailAfter >= s.probeTimeout {
		s.probeFailAfter = 0 // the slot expires first: the rule never fires
	}
	return s, nil
}
