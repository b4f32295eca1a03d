package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cascadeguard/resilience/breaker"
)

// stats describes a set of requests.
type stats struct {
	Requests int           // requests that ended, aborted ones left out
	OK       int           // of which served
	P50, P99 time.Duration // latency from arrival to end; shed requests left out
}

func (s stats) successPct() float64 {
	if s.Requests == 0 {
		return 0
	}
	return 100 * float64(s.OK) / float64(s.Requests)
}

func statsOf(rs []record) stats {
	var s stats
	lat := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		switch r.outcome {
		case outcomeAborted:
			continue
		case outcomeOK:
			s.OK++
		}
		s.Requests++
		if r.outcome != outcomeShed {
			lat = append(lat, r.latency())
		}
	}
	slices.Sort(lat)
	s.P50, s.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	return s
}

// quantile returns the q-quantile of sorted by the nearest-rank method,
// or zero for no data.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// summary is the outcome of a run: what the summary prints, the report shows
// and the test checks.
type summary struct {
	Config         config
	Schedule       schedule
	Modes          []modeSummary
	PeakGoroutines int           // of the whole process, both modes
	Elapsed        time.Duration // from the first arrival until every request had ended
	Interrupted    bool          // the run was cut short
	Forced         bool          // the servers had to be closed under calls that outlived their deadline
	Report         string        // the report's path, when written
}

// modeSummary is what one mode did. Requests belong to the phase in which
// they arrived.
type modeSummary struct {
	Kind  modeKind
	Label string

	Phase  [numPhases][numDeps]stats
	Outage [numDeps]stats // 503s and hanging together

	FailFast      stats               // B's requests that a policy rejected before any attempt, during the outage
	FailFastCall  time.Duration       // p99 of those calls' own duration, queueing left out
	Amplification float64             // requests B received per call the frontend made to B, during the outage
	BHits, BCalls int64               // the two terms of Amplification
	PhaseHits     [numPhases][2]int64 // B's hits and the calls to B, by phase
	WorstAmp      float64             // the highest Amplification of a second of the outage
	WorstAmpAt    time.Duration       // the start of that second
	Conns         [numDeps]int64

	Late int // requests that ended well after the user's deadline: a client that ignored its context

	Recovered   bool          // the frontend was healthy again before the end
	Recovery    time.Duration // from the heal until the frontend was healthy again for good
	ServedAfter float64       // % of requests served from then on

	Series      [numDeps][]stats // by second of arrival
	Transitions []transition     // of B's breaker
}

// lateSlack is how long after its deadline a request may end before it counts
// as late: scheduling delays on a loaded machine, not a client's fault.
const lateSlack = 500 * time.Millisecond

// recoveryWindow is the resolution of the recovery time.
const recoveryWindow = 250 * time.Millisecond

// Thresholds of a healthy window after the heal: almost every request
// served, with a p99 near the one before the outage.
const (
	healthyRatio    = 0.98
	healthyP99Times = 10
	healthyP99Floor = 50 * time.Millisecond
)

func analyze(cfg config, sc schedule, modes []*mode, peak int) summary {
	s := summary{Config: cfg, Schedule: sc, PeakGoroutines: peak}
	for _, m := range modes {
		s.Modes = append(s.Modes, analyzeMode(sc, m))
	}
	return s
}

func analyzeMode(sc schedule, m *mode) modeSummary {
	ms := modeSummary{Kind: m.kind, Label: m.label, Transitions: m.breaker.history()}
	recs := m.front.recordsFrom(0)

	var byPhase [numPhases][numDeps][]record
	var outage [numDeps][]record
	var failFast []record
	seconds := int((sc.duration() + time.Second - 1) / time.Second)
	bySecond := make([][numDeps][]record, seconds)
	callsBySecond := make([]int64, seconds)
	for _, r := range recs {
		if r.outcome != outcomeAborted && r.latency() > m.front.deadline+lateSlack {
			ms.Late++
		}
		p := sc.phaseAt(r.arrival)
		byPhase[p][r.dep] = append(byPhase[p][r.dep], r)
		if sc.outage(r.arrival) {
			outage[r.dep] = append(outage[r.dep], r)
			if r.dep == depB && r.outcome == outcomeFailFast {
				failFast = append(failFast, r)
			}
		}
		if sec := int(r.arrival / time.Second); sec >= 0 && sec < seconds {
			bySecond[sec][r.dep] = append(bySecond[sec][r.dep], r)
		}
		// Calls are counted by when they started, as hits are by when
		// they arrived.
		if r.dep == depB && r.called {
			ms.PhaseHits[sc.phaseAt(r.callAt)][1]++
			if sec := int(r.callAt / time.Second); sec >= 0 && sec < seconds {
				callsBySecond[sec]++
			}
		}
	}
	for p := range numPhases {
		for d := range numDeps {
			ms.Phase[p][d] = statsOf(byPhase[p][d])
		}
	}
	for d := range numDeps {
		ms.Outage[d] = statsOf(outage[d])
		ms.Conns[d] = m.deps[d].conns.Load()
		for sec := range seconds {
			ms.Series[d] = append(ms.Series[d], statsOf(bySecond[sec][d]))
		}
	}
	ms.FailFast = statsOf(failFast)
	var calls []time.Duration
	for _, r := range failFast {
		calls = append(calls, r.end-r.callAt)
	}
	slices.Sort(calls)
	ms.FailFastCall = quantile(calls, 0.99)
	for p := range numPhases {
		ms.PhaseHits[p][0] = m.deps[depB].hitsBetween(sc.from[p], sc.from[p+1])
	}
	ms.worstSecond(sc, m.deps[depB], callsBySecond)
	ms.BHits = ms.PhaseHits[phase503][0] + ms.PhaseHits[phaseHang][0]
	ms.BCalls = ms.PhaseHits[phase503][1] + ms.PhaseHits[phaseHang][1]
	if ms.BCalls > 0 {
		ms.Amplification = float64(ms.BHits) / float64(ms.BCalls)
	}
	ms.recovery(sc, recs)
	return ms
}

// minCallsPerSecond is the fewest calls to B in a second for its
// amplification to count: a second with a few probes says little.
const minCallsPerSecond = 10

// worstSecond finds the second of the outage in which B received the most
// requests per call: the retry storm, if there is one.
func (ms *modeSummary) worstSecond(sc schedule, b *dependency, calls []int64) {
	for sec, n := range calls {
		from := time.Duration(sec) * time.Second
		if n < minCallsPerSecond || from < sc.from[phase503] || from+time.Second > sc.from[phaseHealed] {
			continue
		}
		if amp := float64(b.hitsBetween(from, from+time.Second)) / float64(n); amp > ms.WorstAmp {
			ms.WorstAmp, ms.WorstAmpAt = amp, from
		}
	}
}

// recovery finds the first window after the heal from which every window to
// the end is healthy: at least healthyRatio of its requests served, with a
// p99 within healthyP99Times of the worst p99 before the outage.
func (ms *modeSummary) recovery(sc schedule, recs []record) {
	heal := sc.from[phaseHealed]
	n := int((sc.duration() - heal + recoveryWindow - 1) / recoveryWindow)
	if n <= 0 {
		return
	}
	windows := make([][]record, n)
	seen := false
	for _, r := range recs {
		if r.arrival >= heal && r.arrival < sc.duration() && r.outcome != outcomeAborted {
			windows[(r.arrival-heal)/recoveryWindow] = append(windows[(r.arrival-heal)/recoveryWindow], r)
			seen = true
		}
	}
	if !seen { // the run ended before the heal
		return
	}
	limit := max(healthyP99Floor, healthyP99Times*max(ms.Phase[phaseHealthy][depA].P99, ms.Phase[phaseHealthy][depB].P99))
	first := n // the first window of the healthy run that ends the schedule
	for w := n - 1; w >= 0; w-- {
		st := statsOf(windows[w])
		if st.Requests > 0 && (float64(st.OK) < healthyRatio*float64(st.Requests) || st.P99 > limit) {
			break
		}
		first = w
	}
	if first == n {
		return
	}
	ms.Recovered = true
	ms.Recovery = time.Duration(first) * recoveryWindow
	var after []record
	for _, win := range windows[first:] {
		after = append(after, win...)
	}
	ms.ServedAfter = statsOf(after).successPct()
}

// times formats a/b as "975×", or "" when b is zero.
func times(a, b time.Duration) string {
	if b <= 0 || a <= 0 {
		return ""
	}
	r := float64(a) / float64(b)
	if r < 10 {
		return fmt.Sprintf("(%.1f×)", r)
	}
	return fmt.Sprintf("(%.0f×)", r)
}

// A summaryRow is one line of the summary table: a label and one value per
// mode, or a single value for the whole process.
type summaryRow struct {
	Label  string
	Values []string
}

func (s summary) rows() []summaryRow {
	var rows []summaryRow
	add := func(label string, f func(ms modeSummary) string) {
		row := summaryRow{Label: label}
		for _, ms := range s.Modes {
			row.Values = append(row.Values, f(ms))
		}
		rows = append(rows, row)
	}
	add("A p99 before the outage", func(ms modeSummary) string {
		return fmtDur(ms.Phase[phaseHealthy][depA].P99)
	})
	for _, p := range []int{phase503, phaseHang} {
		add("A p99 during B's "+phaseNames[p], func(ms modeSummary) string {
			a := ms.Phase[p][depA].P99
			return strings.TrimSpace(fmtDur(a) + " " + times(a, ms.Phase[phaseHealthy][depA].P99))
		})
	}
	add("A served during the outage", func(ms modeSummary) string {
		return fmt.Sprintf("%.1f%%", ms.Outage[depA].successPct())
	})
	for _, p := range []int{phase503, phaseHang} {
		add("B p99 during its "+phaseNames[p], func(ms modeSummary) string { return fmtDur(ms.Phase[p][depB].P99) })
	}
	add("B fail-fast: p99 of a rejected call", func(ms modeSummary) string {
		if ms.FailFast.Requests == 0 {
			return "-"
		}
		return fmt.Sprintf("%s (%d calls)", fmtDur(ms.FailFastCall), ms.FailFast.Requests)
	})
	for _, p := range []int{phase503, phaseHang} {
		add("B hits per B call during its "+phaseNames[p], func(ms modeSummary) string {
			h := ms.PhaseHits[p]
			return fmt.Sprintf("%s (%d/%d)", ratio(h[0], h[1]), h[0], h[1])
		})
	}
	add("B hits per B call, worst second", func(ms modeSummary) string {
		if ms.WorstAmp == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f (at %v)", ms.WorstAmp, ms.WorstAmpAt)
	})
	add("connections opened to B", func(ms modeSummary) string { return fmt.Sprint(ms.Conns[depB]) })
	healed := func(ms modeSummary) bool {
		return ms.Phase[phaseHealed][depA].Requests+ms.Phase[phaseHealed][depB].Requests > 0
	}
	add("recovery after the heal", func(ms modeSummary) string {
		switch {
		case !healed(ms):
			return "-"
		case !ms.Recovered:
			return "not recovered"
		}
		return fmt.Sprintf("%.2fs", ms.Recovery.Seconds())
	})
	add("served from recovery to the end", func(ms modeSummary) string {
		if !healed(ms) || !ms.Recovered {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", ms.ServedAfter)
	})
	add("requests that outlived the user's deadline", func(ms modeSummary) string { return fmt.Sprint(ms.Late) })
	add("B's breaker", func(ms modeSummary) string { return describeBreaker(ms.Transitions, s.Schedule) })
	rows = append(rows,
		summaryRow{Label: "goroutines, peak (whole process)", Values: []string{fmt.Sprint(s.PeakGoroutines)}},
		summaryRow{Label: "run time", Values: []string{fmt.Sprintf("%.1fs", s.Elapsed.Seconds())}})
	return rows
}

// describeBreaker describes the transitions of B's breaker in a few words.
func describeBreaker(ts []transition, sc schedule) string {
	if len(ts) == 0 {
		return "-"
	}
	var opened, closed time.Duration = -1, -1
	opens := 0
	for _, t := range ts {
		if t.To == breaker.StateOpen {
			opens++
			if opened < 0 {
				opened = t.At
			}
		}
		if t.To == breaker.StateClosed {
			closed = t.At
		}
	}
	var parts []string
	if opened >= 0 {
		parts = append(parts, fmt.Sprintf("opened %s into the 503s", fmtDur(opened-sc.from[phase503])))
	}
	if last := ts[len(ts)-1]; last.To == breaker.StateClosed && closed >= sc.from[phaseHealed] {
		parts = append(parts, fmt.Sprintf("closed %s after the heal", fmtDur(closed-sc.from[phaseHealed])))
	} else {
		parts = append(parts, "ended "+last.To.String())
	}
	return fmt.Sprintf("%s (opened %d×)", strings.Join(parts, ", "), opens)
}

func printHeader(w io.Writer, cfg config, sc schedule, modes []*mode) {
	fmt.Fprintf(w, "cascade: %.0f requests/s arrive at each of %d frontends (%d workers each); half need A, half need B\n",
		cfg.Rate, len(modes), cfg.Concurrency)
	fmt.Fprintf(w, "B's phases: %s\n", sc)
	for _, m := range modes {
		fmt.Fprintf(w, "  %-9s %s\n", m.kind.String()+":", m.label)
	}
	fmt.Fprintf(w, "Both modes run side by side, each with its own A and B servers (same seeds), so they share\n"+
		"no queue, server or connection, only the CPU. Latency counts from arrival (queueing included);\n"+
		"a user gives up after %v. Goroutines are those of the whole process. Each row of the live\n"+
		"table covers the requests that ended in the last second.\n\n", cfg.Deadline)
}

func printSummary(w io.Writer, s summary) {
	fmt.Fprintln(w)
	if s.Interrupted {
		fmt.Fprintln(w, "INTERRUPTED: the summary covers what ran.")
	}
	if s.Forced {
		fmt.Fprintln(w, "WARNING: calls outlived their deadline; the servers were closed under them to end the run.")
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "summary\t")
	for _, ms := range s.Modes {
		fmt.Fprintf(tw, "%s\t", ms.Kind)
	}
	fmt.Fprintln(tw)
	for _, r := range s.rows() {
		fmt.Fprintf(tw, "%s\t%s\t\n", r.Label, strings.Join(r.Values, "\t"))
	}
	_ = tw.Flush()
	for line := range strings.Lines(buf.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}
