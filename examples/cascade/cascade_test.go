package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/breaker"
)

// shortConfig is a run of a few seconds that still shows the cascade: B's
// hanging calls need rate/2 × Timeout = 200 workers, four times the pool.
func shortConfig(t *testing.T) config {
	cfg := defaultConfig()
	cfg.Duration = 6 * time.Second
	cfg.Rate = 200
	cfg.Concurrency = 50
	cfg.Out = filepath.Join(t.TempDir(), "cascade-report.html")
	cfg.Tick = 0
	return cfg
}

// TestRunShowsContainment runs the scenario in a short mode and checks
// the summary's numbers by orders of magnitude, so that it holds on a slow,
// loaded machine.
func TestRunShowsContainment(t *testing.T) {
	t.Parallel()
	cfg := shortConfig(t)
	cfg.Tick = time.Second // the live table must not break a run
	var out bytes.Buffer
	s, err := run(t.Context(), cfg, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("output:\n%s", out.String())
	if len(s.Modes) != 2 || s.Modes[0].Kind != modePlain || s.Modes[1].Kind != modeStandard {
		t.Fatalf("got modes %+v, want plain and standard", s.Modes)
	}
	plain, std := s.Modes[0], s.Modes[1]

	if s.Forced {
		t.Errorf("got Forced: calls outlived their deadline and the servers had to be closed under them")
	}
	for _, ms := range s.Modes {
		n := 0
		for p := range numPhases {
			n += ms.Phase[p][depA].Requests + ms.Phase[p][depB].Requests
		}
		if ms.Late*100 > n {
			t.Errorf("%s: got %d requests that outlived the user's deadline, want (almost) none", ms.Kind, ms.Late)
		}
		for d := range numDeps {
			h := ms.Phase[phaseHealthy][d]
			if h.Requests == 0 || h.successPct() < 90 {
				t.Errorf("%s: %s before the outage: got %d requests, %.1f%% served, want some, ≥ 90%%",
					ms.Kind, depNames[d], h.Requests, h.successPct())
			}
		}
		if ms.Phase[phaseHang][depA].Requests == 0 {
			t.Errorf("%s: got no request for A while B hangs", ms.Kind)
		}
	}

	// The cascade happened without protection ...
	plainA, stdA := plain.Phase[phaseHang][depA].P99, std.Phase[phaseHang][depA].P99
	if plainA < 100*time.Millisecond {
		t.Errorf("plain: A p99 while B hangs: got %v, want ≥ 100ms (the scenario must show a cascade)", plainA)
	}
	// ... and was contained with it.
	if stdA*4 > plainA {
		t.Errorf("A p99 while B hangs: got standard %v, plain %v; want standard 4× better or more", stdA, plainA)
	}
	if std.Amplification > plain.Amplification {
		t.Errorf("B hits per call during the outage: got standard %.2f, plain %.2f; want standard ≤ plain",
			std.Amplification, plain.Amplification)
	}
	if plain.BCalls == 0 || plain.Amplification < 0.9 || plain.Amplification > 1.1 {
		t.Errorf("plain: B hits per call: got %.2f (%d/%d), want about 1: the plain client does not retry",
			plain.Amplification, plain.BHits, plain.BCalls)
	}
	opened := false
	for _, tr := range std.Transitions {
		opened = opened || tr.To == breaker.StateOpen
	}
	if !opened {
		t.Errorf("standard: B's breaker never opened; transitions %v", std.Transitions)
	}
	if std.FailFast.Requests == 0 || std.FailFastCall > 100*time.Millisecond {
		t.Errorf("standard: fail-fast calls to B: got %d with p99 %v, want some, p99 ≤ 100ms",
			std.FailFast.Requests, std.FailFastCall)
	}
	for _, want := range []string{"summary", "A p99 during B's hanging", "B hits per B call", "recovery after the heal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkReport(t, s.Report, 4)
}

// checkReport checks that the report at path is well-formed XML (and so
// well-formed HTML) with the given number of SVG charts, and loads nothing
// from elsewhere.
func checkReport(t *testing.T, path string, charts int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	count := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			count[se.Name.Local]++
			for _, a := range se.Attr {
				if a.Name.Local == "src" || (a.Name.Local == "href" && se.Name.Local == "link") {
					t.Errorf("report loads %q from elsewhere", a.Value)
				}
			}
		}
	}
	if count["svg"] != charts || count["path"] == 0 || count["html"] != 1 || count["table"] != 1 {
		t.Errorf("report: got %d svg, %d path, %d html, %d table elements; want %d, some, 1, 1",
			count["svg"], count["path"], count["html"], count["table"], charts)
	}
	if count["script"] != 0 {
		t.Errorf("report: got %d script elements, want none", count["script"])
	}
}

// TestRunInterrupted checks what Ctrl-C does: the run stops at once, hanging
// calls included, and still reports what ran.
func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	cfg := shortConfig(t)
	cfg.Rate = 100
	sc := newSchedule(cfg.Duration)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Interrupt in the middle of the hanging phase.
	at := (sc.from[phaseHang] + sc.from[phaseHealed]) / 2
	timer := time.AfterFunc(at, cancel)
	defer timer.Stop()

	begin := time.Now()
	s, err := run(ctx, cfg, io.Discard)
	stopped := time.Since(begin) - at
	if !errors.Is(err, errInterrupted) || !errors.Is(err, context.Canceled) {
		t.Errorf("run: got error %v, want one matching errInterrupted and context.Canceled", err)
	}
	if !s.Interrupted {
		t.Errorf("got Interrupted false, want true")
	}
	if stopped > 2*time.Second {
		t.Errorf("run returned %v after the interruption, want within 2s", stopped)
	}
	if s.Modes[0].Phase[phaseHealthy][depA].Requests == 0 {
		t.Errorf("got no requests before the interruption, want the summary to cover what ran")
	}
	for _, ms := range s.Modes {
		if n := ms.Phase[phaseHealed][depA].Requests + ms.Phase[phaseHealed][depB].Requests; n != 0 {
			t.Errorf("%s: got %d requests in the healed phase, which never came", ms.Kind, n)
		}
	}
	checkReport(t, s.Report, 4)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*config)
		want   string // in the error; empty for none
	}{
		{"defaults", func(*config) {}, ""},
		{"short duration", func(c *config) { c.Duration = time.Second }, "-duration 1s"},
		{"long duration", func(c *config) { c.Duration = time.Hour }, "-duration 1h0m0s"},
		{"no workers", func(c *config) { c.Concurrency = 0 }, "-concurrency 0"},
		{"too many workers", func(c *config) { c.Concurrency = 1e6 }, "-concurrency 1000000"},
		{"zero rate", func(c *config) { c.Rate = 0 }, "-rate 0"},
		{"huge rate", func(c *config) { c.Rate = 1e9 }, "-rate 1e+09"},
		{"zero timeout", func(c *config) { c.Timeout = 0 }, "-timeout 0s"},
		{"deadline below timeout", func(c *config) { c.Deadline = time.Second }, "-deadline 1s"},
		{"negative tick", func(c *config) { c.Tick = -1 }, "tick -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			tt.change(&cfg)
			err := cfg.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one naming %q", err, tt.want)
			}
			if err != nil {
				if _, runErr := run(t.Context(), cfg, io.Discard); runErr == nil {
					t.Errorf("run accepted the config")
				}
			}
		})
	}
}

func TestScheduleScalesWithDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want [numPhases + 1]time.Duration
	}{
		{40 * time.Second, [numPhases + 1]time.Duration{0, 6 * time.Second, 14 * time.Second, 26 * time.Second, 40 * time.Second}},
		{6 * time.Second, [numPhases + 1]time.Duration{0, 900 * time.Millisecond, 2100 * time.Millisecond, 3900 * time.Millisecond, 6 * time.Second}},
	}
	for _, tt := range tests {
		sc := newSchedule(tt.d)
		if sc.from != tt.want {
			t.Errorf("newSchedule(%v): got %v, want %v", tt.d, sc.from, tt.want)
		}
		for p := range numPhases {
			if got := sc.phaseAt(sc.from[p]); got != p {
				t.Errorf("newSchedule(%v).phaseAt(%v): got %d, want %d", tt.d, sc.from[p], got, p)
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, v := range n {
			d = append(d, time.Duration(v)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.99, 0},
		{ms(7), 0.5, 7 * time.Millisecond},
		{ms(1, 2), 0.5, 1 * time.Millisecond},
		{ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 0.50, 50 * time.Millisecond},
		{ms(hundred...), 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := quantile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("quantile(%d values, %v): got %v, want %v", len(tt.sorted), tt.q, got, tt.want)
		}
	}
}

// TestRecovery checks the recovery time on made-up requests: the frontend
// is healthy again from the first window after which every window is.
func TestRecovery(t *testing.T) {
	t.Parallel()
	sc := newSchedule(40 * time.Second) // healed from 26s to 40s
	heal := sc.from[phaseHealed]
	fast := 5 * time.Millisecond
	base := func() []record {
		var rs []record
		for at := time.Duration(0); at < sc.from[phase503]; at += 10 * time.Millisecond {
			rs = append(rs, record{outcome: outcomeOK, arrival: at, end: at + fast})
		}
		return rs
	}
	tests := []struct {
		name      string
		bad       func(at time.Duration) bool // which requests after the heal fail
		slow      func(at time.Duration) bool // which take 2s
		recovered bool
		want      time.Duration
	}{
		{"at once", func(time.Duration) bool { return false }, func(time.Duration) bool { return false }, true, 0},
		{"failures for 1.1s", func(at time.Duration) bool { return at < heal+1100*time.Millisecond }, func(time.Duration) bool { return false }, true, 1250 * time.Millisecond},
		{"slow for 2s", func(time.Duration) bool { return false }, func(at time.Duration) bool { return at < heal+2*time.Second }, true, 2 * time.Second},
		{"one late failure in 100", func(at time.Duration) bool { return at == heal+5*time.Second }, func(time.Duration) bool { return false }, true, 0},
		{"failing at the end", func(at time.Duration) bool { return at >= sc.duration()-100*time.Millisecond }, func(time.Duration) bool { return false }, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := base()
			// 400 requests/s after the heal: 100 per window.
			for at := heal; at < sc.duration(); at += 2500 * time.Microsecond {
				r := record{outcome: outcomeOK, arrival: at, end: at + fast}
				if tt.bad(at) {
					r.outcome = outcomeStatus
				}
				if tt.slow(at) {
					r.end = at + 2*time.Second
				}
				rs = append(rs, r)
			}
			var ms modeSummary
			ms.Phase[phaseHealthy][depA] = statsOf(rs[:len(base())])
			ms.recovery(sc, rs)
			if ms.Recovered != tt.recovered || ms.Recovery != tt.want {
				t.Errorf("got recovered %v after %v, want %v after %v", ms.Recovered, ms.Recovery, tt.recovered, tt.want)
			}
			if tt.recovered && ms.ServedAfter < 98 {
				t.Errorf("got %.1f%% served after recovery, want ≥ 98%%", ms.ServedAfter)
			}
		})
	}
}
