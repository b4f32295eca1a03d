package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/cascadeguard/resilience/chaos"
)

// The phases of dependency B, in order.
const (
	phaseHealthy = iota
	phase503
	phaseHang
	phaseHealed
	numPhases
)

var phaseNames = [numPhases]string{"healthy", "503s", "hanging", "healed"}

// Shares of the run taken by each phase. The last phase is the longest, so
// that recovery is visible; the healthy one is long enough for a baseline.
var phaseShares = [numPhases]float64{0.15, 0.20, 0.30, 0.35}

// Latency of a healthy dependency: 2 ms plus up to 3 ms of jitter.
const (
	depLatency = 2 * time.Millisecond
	depJitter  = 3 * time.Millisecond
)

// A schedule is the phases of B over the run, as offsets from its start.
type schedule struct {
	from [numPhases + 1]time.Duration // from[i] to from[i+1] is phase i
}

func newSchedule(d time.Duration) schedule {
	var s schedule
	var acc float64
	for i, share := range phaseShares {
		s.from[i] = time.Duration(acc * float64(d)).Round(time.Millisecond)
		acc += share
	}
	s.from[numPhases] = d
	return s
}

func (s schedule) duration() time.Duration { return s.from[numPhases] }

func (s schedule) length(p int) time.Duration { return s.from[p+1] - s.from[p] }

// phaseAt returns the phase at offset t, clamped to the first and last.
func (s schedule) phaseAt(t time.Duration) int {
	for p := numPhases - 1; p > 0; p-- {
		if t >= s.from[p] {
			return p
		}
	}
	return phaseHealthy
}

// outage reports whether offset t lies in the 503s or the hanging phase.
func (s schedule) outage(t time.Duration) bool {
	return t >= s.from[phase503] && t < s.from[phaseHealed]
}

// String describes the schedule in one line: "healthy 0s–6s · 503s 6s–14s …".
func (s schedule) String() string {
	var b strings.Builder
	for p := range numPhases {
		if p > 0 {
			b.WriteString(" · ")
		}
		fmt.Fprintf(&b, "%s %v–%v", phaseNames[p], s.from[p], s.from[p+1])
	}
	return b.String()
}

// healthyFaults is what a healthy dependency does: answer in 2–5 ms.
func healthyFaults() []chaos.Fault {
	return []chaos.Fault{{Latency: depLatency, Jitter: depJitter}}
}

// injectorA returns the injector of dependency A, healthy all along.
func injectorA(seed uint64) (*chaos.Injector, error) {
	return chaos.New(chaos.Config{Faults: healthyFaults(), Seed: seed})
}

// injectorB returns the injector of dependency B, which follows s from
// start.
func injectorB(s schedule, seed uint64, start time.Time) (*chaos.Injector, error) {
	faults := [numPhases][]chaos.Fault{
		phaseHealthy: healthyFaults(),
		// A failing service answers fast; half of its answers ask the
		// client to come back in a second.
		phase503: {
			{Probability: 0.5, Status: 503, Latency: time.Millisecond},
			{Probability: 0.5, Status: 503, Latency: time.Millisecond, RetryAfter: time.Second},
		},
		phaseHang:   {{Hang: true}},
		phaseHealed: healthyFaults(),
	}
	var phases []chaos.Phase
	for p := range numPhases {
		phases = append(phases, chaos.Phase{Name: phaseNames[p], Duration: s.length(p), Faults: faults[p]})
	}
	// The healed phase lasts forever: the drain after the last arrival
	// still sees a healthy B.
	phases[phaseHealed].Duration = 0
	return chaos.New(chaos.Config{Phases: phases, Seed: seed, Start: start})
}
