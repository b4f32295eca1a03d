// Package chaos injects faults into HTTP and gRPC traffic, so that a service
// can test its own resilience: errors with chosen status codes, Retry-After
// and pushback hints, added latency, hangs that last until the client gives
// up, and connection resets.
//
// An [Injector] decides, request by request, which [Fault] to inject. Its
// [Config] holds a schedule of [Phase]s over time (healthy → 503s → hanging →
// healthy) or, for the short form, one set of faults that holds forever; each
// fault applies to a chosen share of requests. The adapters put an Injector
// into traffic:
//
//   - [Handler]: server-side net/http middleware;
//   - [Transport]: client-side http.RoundTripper, which answers without
//     calling the server;
//   - [UnaryServerInterceptor] and [StreamServerInterceptor]: gRPC servers.
//
// One Injector may serve several adapters at once; they then share its
// schedule, its random sequence and its counters.
//
// # Determinism
//
// Given the same Seed and the same order of requests, an Injector makes the
// same choices: the n-th request it sees (counting from zero) draws the n-th
// numbers of a random sequence fixed by the seed, whatever goroutine it
// arrives on and whatever time it is. Which phase is current depends on time;
// so a run is reproducible exactly under testing/synctest and up to timing
// otherwise. Because request n draws one number u in [0, 1) and gets a fault
// of probability p when u < p, a run with a larger p faults a superset of the
// requests that a run with a smaller p faults.
//
// # Time
//
// An Injector reads time with time.Now and waits with timers, so tests can run
// schedules in fake time with testing/synctest. Durations are measured on the
// monotonic clock: changes of the wall clock do not move phases.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// A Phase is one stretch of a schedule: for Duration, the requests get Faults.
// A Phase with no faults is healthy. A Phase is a plain value and safe to copy.
type Phase struct {
	// Name identifies the phase in [Injector.Phase] and in reports. Empty
	// means "phase N", N counting from 1.
	Name string

	// Duration is how long the phase lasts. It must be positive, except in
	// the last phase of a schedule that does not loop, where zero means
	// "forever" (the last phase holds forever anyway).
	Duration time.Duration

	// Faults are the faults of this phase; they exclude each other (see
	// [Fault.Probability]).
	Faults []Fault
}

// String describes p in one line: "503s 10s: 503 Retry-After 1s; reset".
func (p Phase) String() string {
	var b strings.Builder
	b.WriteString(p.Name)
	if p.Duration > 0 {
		if p.Name != "" {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%v", p.Duration)
	}
	b.WriteString(":")
	if len(p.Faults) == 0 {
		b.WriteString(" healthy")
	}
	for i, f := range p.Faults {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" " + f.String())
	}
	return b.String()
}

// Config configures an [Injector]. The zero Config injects nothing: requests
// pass through and are only counted. A Config is a plain value; [New] copies
// what it needs, so changing a Config afterwards changes no Injector.
type Config struct {
	// Phases is the schedule, starting at Start. After the last phase the
	// schedule holds the last phase forever, or starts again from the first
	// when Loop is set.
	Phases []Phase

	// Loop repeats the schedule after its last phase instead of holding it.
	Loop bool

	// Faults is shorthand for a schedule of a single phase that holds
	// forever, Phases: []Phase{{Faults: Faults}}, named "phase 1". Set
	// Phases or Faults, not both; Loop does not apply to it.
	Faults []Fault

	// Seed fixes the random choices (see the package documentation). Zero
	// means a random seed, which [Injector.Seed] reports so that a run can
	// be replayed.
	Seed uint64

	// Start is when the schedule begins. Zero means when [New] is called.
	// Before Start no fault is injected and [Injector.Phase] is "".
	// [Injector.Restart] moves it.
	Start time.Time
}

// Stats is a snapshot of the counters of an [Injector], from [New] on.
// Faults are counted when they are chosen, even if the client gives up
// before one is applied; a fault that combines a delay with an answer or a
// reset counts under each. Subtract two snapshots for the counts of an
// interval. The zero Stats counts nothing; it is a plain value.
type Stats struct {
	Requests uint64 // requests seen
	Faults   uint64 // requests that got a fault
	Delays   uint64 // requests delayed by Latency or Jitter
	Errors   uint64 // requests answered with a Status or Code
	Hangs    uint64 // requests held until the client gave up
	Resets   uint64 // connections reset
}

// An Injector decides which fault, if any, each request gets, following the
// schedule of its [Config], and counts what it did. Build one with [New].
//
// An Injector is safe for concurrent use and does not lock: a decision costs
// an atomic increment, a clock read (none for a one-phase schedule that has
// begun) and a few arithmetic operations, and allocates nothing. The zero
// Injector injects nothing and only counts requests, like New(Config{}). A
// nil *Injector injects nothing and counts nothing; the adapters given one
// pass requests through.
type Injector struct {
	phases []phase
	ends   []time.Duration // ends[k]: when phase k ends, from the start
	loop   bool
	seed   uint64

	base    time.Time    // when New ran, with a monotonic reading
	offset  atomic.Int64 // start of the schedule, in nanoseconds after base
	started atomic.Bool  // a one-phase schedule has begun

	requests, faults, delays, errors, hangs, resets atomic.Uint64
}

type phase struct {
	name   string
	faults []fault
}

// A fault is a normalized Fault with the top of its probability interval:
// the request that draws u gets the first fault whose upTo exceeds u.
type fault struct {
	Fault
	upTo float64
}

// New returns an Injector for cfg, or an error that names the bad field and
// value.
func New(cfg Config) (*Injector, error) {
	phases := cfg.Phases
	shorthand := len(cfg.Faults) > 0
	if shorthand {
		if len(cfg.Phases) > 0 {
			return nil, fmt.Errorf("chaos: set Phases or Faults, not both (Phases has %d, Faults %d)", len(cfg.Phases), len(cfg.Faults))
		}
		phases = []Phase{{Faults: cfg.Faults}}
	}
	inj := &Injector{loop: cfg.Loop && !shorthand, seed: cfg.Seed, base: time.Now()}
	for inj.seed == 0 { // a seed of zero could not be replayed
		inj.seed = rand.Uint64()
	}
	if !cfg.Start.IsZero() {
		inj.offset.Store(int64(cfg.Start.Sub(inj.base)))
	}
	var end time.Duration
	for k, p := range phases {
		// Errors name fields as the caller wrote them: "Phases[1].Faults[0]"
		// or, in the short form, "Faults[0]".
		pwhere, fprefix := fmt.Sprintf("Phases[%d]", k), fmt.Sprintf("Phases[%d].", k)
		if shorthand {
			fprefix = ""
		}
		last := k == len(phases)-1
		if p.Duration < 0 || (p.Duration == 0 && (!last || inj.loop)) {
			return nil, fmt.Errorf("chaos: %s.Duration %v must be positive", pwhere, p.Duration)
		}
		if end+p.Duration < end {
			return nil, fmt.Errorf("chaos: %s.Duration %v makes the schedule longer than %v", pwhere, p.Duration, time.Duration(1<<63-1))
		}
		end += p.Duration
		ph := phase{name: p.Name}
		if ph.name == "" {
			ph.name = fmt.Sprintf("phase %d", k+1)
		}
		var sum float64
		for i, f := range p.Faults {
			fwhere := fmt.Sprintf("%sFaults[%d]", fprefix, i)
			if err := f.check(fwhere); err != nil {
				return nil, err
			}
			if f.Probability == 0 {
				f.Probability = 1
			}
			sum += f.Probability
			ph.faults = append(ph.faults, fault{Fault: f.normalize(), upTo: sum})
		}
		// Allow for rounding: 0.1+0.2+0.7 is a little more than 1, and
		// 0.7+0.2+0.1 a little less; either means every request.
		if sum > 1+1e-9 {
			return nil, fmt.Errorf("chaos: %sFaults: probabilities add up to %g, more than 1 (zero counts as 1)", fprefix, sum)
		}
		if sum > 1-1e-9 {
			ph.faults[len(ph.faults)-1].upTo = 2
		}
		inj.phases = append(inj.phases, ph)
		inj.ends = append(inj.ends, end)
	}
	return inj, nil
}

// Seed returns the seed of the random choices: [Config.Seed], or the random
// one chosen when that was zero.
func (inj *Injector) Seed() uint64 {
	if inj == nil {
		return 0
	}
	return inj.seed
}

// Restart starts the schedule again from its first phase, now. The counters
// and the random sequence go on.
func (inj *Injector) Restart() {
	if inj == nil {
		return
	}
	inj.offset.Store(int64(time.Since(inj.base)))
}

// StartTime returns when the schedule started, or will start.
func (inj *Injector) StartTime() time.Time {
	if inj == nil {
		return time.Time{}
	}
	return inj.base.Add(time.Duration(inj.offset.Load()))
}

// Phase returns the name of the current phase: "" before the start or when
// the schedule is empty.
func (inj *Injector) Phase() string { return inj.PhaseAt(time.Now()) }

// PhaseAt returns the name of the phase that is, was or will be current at
// t under the present start time: "" before the start or when the schedule
// is empty. A report can label each request with it.
func (inj *Injector) PhaseAt(t time.Time) string {
	if inj == nil {
		return ""
	}
	k := inj.phaseAt(t.Sub(inj.base))
	if k < 0 {
		return ""
	}
	return inj.phases[k].name
}

// phaseAt returns the index of the phase current at sinceBase after base, or
// -1 before the start or when there are no phases.
func (inj *Injector) phaseAt(sinceBase time.Duration) int {
	if len(inj.phases) == 0 {
		return -1
	}
	e := sinceBase - time.Duration(inj.offset.Load())
	if e < 0 {
		return -1
	}
	last := len(inj.ends) - 1
	if inj.loop {
		e %= inj.ends[last]
	}
	for k, end := range inj.ends[:last] {
		if e < end {
			return k
		}
	}
	return last
}

// Next counts one request and returns the fault to inject into it, with ok
// false when it gets none. The adapters call it once per request; call it
// directly to inject faults into other kinds of calls.
//
// The returned Fault has both Status and Code set (one derived from the
// other when only one was configured), Probability set to the configured
// share (1 for zero), and Latency holding the whole delay for this request,
// jitter included, with Jitter zero.
func (inj *Injector) Next() (f Fault, ok bool) {
	if inj == nil {
		return Fault{}, false
	}
	n := inj.requests.Add(1) - 1
	if len(inj.phases) == 0 {
		return Fault{}, false
	}
	k := 0
	if len(inj.phases) > 1 || !inj.started.Load() {
		k = inj.phaseAt(time.Since(inj.base))
		if k == 0 && len(inj.phases) == 1 {
			// One phase that has begun holds forever (Restart only moves
			// the start to now): later requests need not read the clock.
			inj.started.Store(true)
		}
	}
	if k < 0 || len(inj.phases[k].faults) == 0 {
		return Fault{}, false
	}
	// Request n draws outputs 2n and 2n+1 of the seed's sequence: one to
	// choose the fault, one for jitter.
	u := float64(splitmix64(inj.seed, 2*n)>>11) * 0x1p-53
	for _, cand := range inj.phases[k].faults {
		if u < cand.upTo {
			f = cand.Fault
			ok = true
			break
		}
	}
	if !ok {
		return Fault{}, false
	}
	if f.Jitter > 0 {
		f.Latency += time.Duration(splitmix64(inj.seed, 2*n+1) % uint64(f.Jitter))
		f.Jitter = 0
	}
	inj.count(f)
	return f, true
}

func (inj *Injector) count(f Fault) {
	inj.faults.Add(1)
	if f.Latency > 0 {
		inj.delays.Add(1)
	}
	switch {
	case f.Hang:
		inj.hangs.Add(1)
	case f.Reset:
		inj.resets.Add(1)
	case f.answers():
		inj.errors.Add(1)
	}
}

// Stats returns the counters. Each is read atomically, the set is not: under
// load, counters read a moment apart may disagree by a few requests.
func (inj *Injector) Stats() Stats {
	if inj == nil {
		return Stats{}
	}
	return Stats{
		Requests: inj.requests.Load(),
		Faults:   inj.faults.Load(),
		Delays:   inj.delays.Load(),
		Errors:   inj.errors.Load(),
		Hangs:    inj.hangs.Load(),
		Resets:   inj.resets.Load(),
	}
}

// splitmix64 returns output i of the SplitMix64 sequence for seed (Steele,
// Lea and Flood, 2014). A counter-based generator lets each request draw its
// own numbers from its index, without a lock and without depending on which
// goroutine draws first.
func splitmix64(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
