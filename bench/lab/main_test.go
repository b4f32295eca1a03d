package main

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// hystrix-go starts two goroutines for every command name it sees (the
// metric exchange and the executor pool's metrics, each ranging over a
// channel that is never closed) and offers no way to stop them. They are the
// only goroutines ignored here.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*metricExchange).Monitor"),
		goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*poolMetrics).Monitor"),
	)
}

// shortConfig is a tiny lab: phases of 300 ms, a small pool, short
// timeouts. It runs in a few seconds per contender.
func shortConfig() config {
	return config{
		Seed: 1, Rate: 400, Workers: 16, Queue: 400,
		Deadline: 500 * time.Millisecond, AttemptTimeout: 200 * time.Millisecond, Service: 2 * time.Millisecond,
		Baseline: 300 * time.Millisecond, Errors: 300 * time.Millisecond, Hang: 300 * time.Millisecond, Heal: 300 * time.Millisecond,
		Drain: 2 * time.Second,
	}
}

// TestLabShort runs the tiny lab for no protection and ours and checks
// orders of magnitude only (the machine may be loaded): the table is
// printed; while B hangs, A's p99 under ours is well below A's p99 without
// protection; ours' open breaker answers most of B's requests before an
// attempt could time out and keeps B's server from most requests.
func TestLabShort(t *testing.T) {
	cfg := shortConfig()
	cs, err := pick("none,ours")
	if err != nil {
		t.Fatal(err)
	}
	var rs []result
	for _, c := range cs {
		r := runOne(cfg, c)
		if r.err != nil {
			t.Fatalf("%s: %v", c.name, r.err)
		}
		rs = append(rs, r)
	}
	var out bytes.Buffer
	report(&out, cfg, cs, rs, time.Second)
	t.Log("\n" + out.String())
	for _, name := range []string{"| none |", "| ours |"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("table has no row %q", name)
		}
	}
	none, ours := rs[0], rs[1]
	if none.aBaseP99 <= 0 || ours.aBaseP99 <= 0 {
		t.Fatalf("got baseline p99 %v (none) and %v (ours), want positive", none.aBaseP99, ours.aBaseP99)
	}
	if got, lim := ours.aP99[1], none.aP99[1]/3; got >= lim {
		t.Errorf("A's p99 while B hangs: ours %v, none %v: want ours below a third of none's", got, none.aP99[1])
	}
	// The median, not the p99: the tiny hang phase has few B requests, and
	// a half-open probe (one every 0.75 s) that waits out its attempt is
	// more than 1 % of them.
	if got, lim := ours.bOpenP50, cfg.AttemptTimeout/4; got >= lim {
		t.Errorf("ours: B's median once open %v, want < %v (answered by the open breaker)", got, lim)
	}
	if got, lim := none.bOpenP50, cfg.AttemptTimeout; got < lim {
		t.Errorf("none: B's median during the hang %v, want ≥ %v (each request waits out its timeout)", got, lim)
	}
	if got := ours.hitsPerReq; got >= 0.5 {
		t.Errorf("ours: B hits per B request in the outage %.2f, want < 0.5 (breaker open)", got)
	}
	if got := none.hitsPerReq; got < 0.5 {
		t.Errorf("none: B hits per B request in the outage %.2f, want ≥ 0.5 (every request sent)", got)
	}
}

// TestMeasureRecovery checks the recovery rule on made-up records: the
// first 100 ms window from which every window serves ≥ 98 % of B.
func TestMeasureRecovery(t *testing.T) {
	cfg := config{Baseline: time.Second, Errors: time.Second, Hang: time.Second, Heal: time.Second}
	heal := 3 * time.Second
	tests := []struct {
		name    string
		failTil time.Duration // B fails for arrivals before heal+failTil
		failEnd bool          // and in the last window
		want    time.Duration
	}{
		{name: "at once", failTil: 0, want: 0},
		{name: "after 350ms", failTil: 350 * time.Millisecond, want: 400 * time.Millisecond},
		{name: "never", failTil: 0, failEnd: true, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []record
			for at := heal; at < 4*time.Second; at += 10 * time.Millisecond {
				ok := at >= heal+tt.failTil && !(tt.failEnd && at >= 4*time.Second-50*time.Millisecond)
				rs = append(rs, record{dep: 1, arrival: at, end: at + time.Millisecond, ok: ok})
			}
			var res result
			measure(cfg, &res, rs, nil, nil)
			if res.recovery != tt.want {
				t.Errorf("got recovery %v, want %v", res.recovery, tt.want)
			}
		})
	}
}

func TestConfigAndPickErrors(t *testing.T) {
	if _, err := pick("none,nobody"); err == nil || !strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("pick: got %v, want an error naming \"nobody\"", err)
	}
	bad := fullConfig()
	bad.Rate = -1
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("validate: got %v, want an error naming -1", err)
	}
	if err := fullConfig().validate(); err != nil {
		t.Errorf("validate(fullConfig()): got %v, want nil", err)
	}
}

// TestShutOff checks the shut-off rule on made-up traffic: B's server sees
// every request until 300 ms, then none.
func TestShutOff(t *testing.T) {
	var rs []record
	var hits []time.Duration
	for at := time.Duration(0); at < time.Second; at += 5 * time.Millisecond {
		rs = append(rs, record{dep: 1, arrival: at})
		if at < 300*time.Millisecond {
			hits = append(hits, at)
		}
	}
	if got, want := shutOff(rs, hits, 0, time.Second, 100*time.Millisecond), 300*time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := shutOff(rs, rs2hits(rs), 0, time.Second, 100*time.Millisecond); got != -1 {
		t.Errorf("every request reaching B: got %v, want -1 (never)", got)
	}
}

func rs2hits(rs []record) []time.Duration {
	hits := make([]time.Duration, len(rs))
	for i, r := range rs {
		hits[i] = r.arrival
	}
	return hits
}

// TestResampledP99 checks the counting p99 against sorting the same
// resample (two generators with one seed draw the same indices).
func TestResampledP99(t *testing.T) {
	for _, n := range []int{1, 2, 99, 100, 101, 1000, 4321} {
		src := rand.New(rand.NewPCG(uint64(n), 7))
		sorted := make([]time.Duration, n)
		for i := range sorted {
			sorted[i] = time.Duration(src.IntN(5000)) * time.Microsecond
		}
		slices.Sort(sorted)
		a, b := rand.New(rand.NewPCG(3, uint64(n))), rand.New(rand.NewPCG(3, uint64(n)))
		counts := make([]int32, n)
		for round := range 20 {
			got := resampledP99(sorted, counts, a)
			resample := make([]time.Duration, n)
			for i := range resample {
				resample[i] = sorted[b.IntN(n)]
			}
			if want := p99(resample); got != want {
				t.Fatalf("n=%d, round %d: got %v, want %v", n, round, got, want)
			}
		}
	}
}

// TestRatioInterval: the interval of a phase against itself holds 1, one
// of a phase twice as slow holds 2, and empty phases give none.
func TestRatioInterval(t *testing.T) {
	src := rand.New(rand.NewPCG(1, 1))
	base := make([]time.Duration, 2000)
	for i := range base {
		base[i] = time.Duration(1000+src.IntN(3000)) * time.Microsecond
	}
	slower := make([]time.Duration, len(base))
	for i, d := range base {
		slower[i] = 2 * d
	}
	slices.Sort(base)
	slices.Sort(slower)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, tc := range []struct {
		name string
		num  []time.Duration
		want float64
	}{{"same", base, 1}, {"twice", slower, 2}} {
		ci := ratioInterval(tc.num, base, rng)
		if ci[0] > tc.want || ci[1] < tc.want || ci[1]-ci[0] > 0.2*tc.want {
			t.Errorf("%s: got interval %.3f–%.3f, want a narrow one around %v", tc.name, ci[0], ci[1], tc.want)
		}
	}
	if got := ratioInterval(nil, base, rng); got != [2]float64{} {
		t.Errorf("empty numerator: got %v, want zeros", got)
	}
}
