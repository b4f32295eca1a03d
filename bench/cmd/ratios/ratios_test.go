package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitName(t *testing.T) {
	tests := []struct {
		name string
		want key
	}{
		{"BenchmarkChain/parallel/ours-2", key{"Chain", "parallel", "ours"}},
		{"BenchmarkChain/serial/failsafe", key{"Chain", "serial", "failsafe"}},
		{"BenchmarkHTTP/get/1KiB/plain-8", key{"HTTP", "get/1KiB", "plain"}},
		{"BenchmarkBreaker/gobreaker-2", key{"Breaker", "", "gobreaker"}},
		{"BenchmarkPlain-2", key{"Plain", "", "Plain"}},
		{"BenchmarkFan-out/ours-x", key{"Fan-out", "", "ours-x"}},
	}
	for _, tt := range tests {
		if got := splitName(tt.name); got != tt.want {
			t.Errorf("splitName(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		vs           []float64
		want, spread float64
	}{
		{[]float64{3, 1, 2}, 2, 0.5},
		{[]float64{4, 1, 3, 2}, 2.5, 0.6},
		{[]float64{7}, 7, 0},
		{[]float64{0, 0}, 0, 0},
	}
	for _, tt := range tests {
		m, s := median(tt.vs)
		if m != tt.want || math.Abs(s-tt.spread) > 1e-9 {
			t.Errorf("median(%v) = %v, %v; want %v, %v", tt.vs, m, s, tt.want, tt.spread)
		}
	}
}

// sample is go test -bench output with two runs of two families, noise
// lines and a contender (hystrix) that is missing from one mode.
const sample = `goos: linux
goarch: amd64
pkg: github.com/cascadeguard/resilience/bench
cpu: AMD EPYC
BenchmarkBreaker/serial/ours-2      	 1000	       10.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreaker/serial/gobreaker-2 	 1000	       20.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreaker/parallel/ours-2    	 1000	        5.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreaker/parallel/gobreaker-2	 1000	       40.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkChain/serial/ours-2        	 1000	      100 ns/op	     272 B/op	       4 allocs/op
BenchmarkChain/serial/hystrix-2     	 1000	     4000 ns/op	    1240 B/op	      20 allocs/op
some test log line
BenchmarkBreaker/serial/ours-2      	 1000	       12.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreaker/serial/gobreaker-2 	 1000	       22.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreaker/parallel/ours-2    	 1000	        7.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreaker/parallel/gobreaker-2	 1000	       40.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkChain/serial/ours-2        	 1000	      100 ns/op	     272 B/op	       4 allocs/op
BenchmarkChain/serial/hystrix-2     	 1000	     4000 ns/op	    1240 B/op	      20 allocs/op
PASS
ok  	github.com/cascadeguard/resilience/bench	1.0s
`

const want = `Medians of 2 runs; ± is half the range as a percentage of the median; the last column is the ns/op of ours divided by the row's.

### Breaker

| mode | contender | ns/op | ± | B/op | allocs/op | ours ÷ this |
|---|---|--:|--:|--:|--:|--:|
| serial | **ours** | 11.0 | 9% | 0 | 0 | 1.00 |
|  | gobreaker | 21.0 | 5% | 0 | 0 | 0.52 |
| parallel | **ours** | 6.00 | 17% | 0 | 0 | 1.00 |
|  | gobreaker | 40.0 | 0% | 0 | 0 | 0.15 |

### Chain

| mode | contender | ns/op | ± | B/op | allocs/op | ours ÷ this |
|---|---|--:|--:|--:|--:|--:|
| serial | **ours** | 100 | 0% | 272 | 4 | 1.00 |
|  | hystrix | 4000 | 0% | 1240 | 20 | 0.03 |
`

func TestMarkdown(t *testing.T) {
	var rs results
	if err := rs.parse(strings.NewReader(sample)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rs.markdown(&b, "ours"); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMarkdownNoBase: without the base contender in a mode, the ratio is a
// dash rather than a made-up number.
func TestMarkdownNoBase(t *testing.T) {
	var rs results
	in := "BenchmarkHTTP/get/plain-2 \t 100 \t 50000 ns/op\n"
	if err := rs.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rs.markdown(&b, "ours"); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "| get | plain | 50000 | 0% | – | – | – |\n"; !strings.HasSuffix(got, want) {
		t.Errorf("got\n%s\nwant it to end with\n%s", got, want)
	}
}

func TestParseBadValue(t *testing.T) {
	var rs results
	err := rs.parse(strings.NewReader("BenchmarkX/a/b-2 \t 10 \t abc ns/op\n"))
	if err == nil || !strings.Contains(err.Error(), `"abc"`) {
		t.Errorf("got %v, want an error naming the value \"abc\"", err)
	}
}

func TestRunFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.txt")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := run(&b, "ours", []string{path}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("PASS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(&b, "ours", []string{empty}); err == nil {
		t.Error("a file without benchmark results: got nil error, want one")
	}
	if err := run(&b, "ours", []string{filepath.Join(dir, "missing.txt")}); err == nil {
		t.Error("a missing file: got nil error, want one")
	}
}

// TestReportedMetrics: metrics a benchmark reports itself get their median
// and range over the runs (three runs are too few for an interval).
func TestReportedMetrics(t *testing.T) {
	in := `BenchmarkHTTPAlternating-2   	 300	 3800000 ns/op	 1.100 ours/plain	 1.040 plain-ctx/plain	 700000 B/op	 8400 allocs/op
BenchmarkHTTPAlternating-2   	 300	 3700000 ns/op	 1.080 ours/plain	 1.000 plain-ctx/plain	 700000 B/op	 8400 allocs/op
BenchmarkHTTPAlternating-2   	 300	 3900000 ns/op	 1.150 ours/plain	 1.060 plain-ctx/plain	 700000 B/op	 8400 allocs/op
`
	var rs results
	if err := rs.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := rs.markdown(&out, "ours"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### BenchmarkHTTPAlternating: metrics it reports",
		"| ours/plain | 1.100 | – | 1.080–1.150 | 3 |",
		"| plain-ctx/plain | 1.040 | – | 1.000–1.060 | 3 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestMedianInterval checks the interval's order statistics against
// binomial tails worked out by hand, and that it holds the median.
func TestMedianInterval(t *testing.T) {
	seq := func(n int) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = float64(n - i) // descending: the function must sort
		}
		return vs
	}
	for _, c := range []struct {
		n      int
		ok     bool
		lo, hi float64 // 1-based ranks of the bounds
	}{
		// n=4: P(X=0) = 1/16 > 5 %: no interval reaches 90 %.
		{n: 4},
		// n=5: P(X=0) = 1/32 ≤ 5 %, P(X≤1) = 6/32 > 5 %: min and max.
		{n: 5, ok: true, lo: 1, hi: 5},
		// n=10: P(X≤1) = 11/1024 ≤ 5 %, P(X≤2) = 56/1024 > 5 %: k=2.
		{n: 10, ok: true, lo: 2, hi: 9},
		// n=16: P(X≤4) = 2517/65536 ≤ 5 %, P(X≤5) = 6885/65536 > 5 %: k=5.
		{n: 16, ok: true, lo: 5, hi: 12},
	} {
		lo, hi, ok := medianInterval(seq(c.n))
		if ok != c.ok || (ok && (lo != c.lo || hi != c.hi)) {
			t.Errorf("n=%d: got [%v, %v] ok=%v, want [%v, %v] ok=%v", c.n, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
	// Large n: no underflow, and the interval narrows around the median.
	lo, hi, ok := medianInterval(seq(1001))
	if !ok || lo >= 501 || hi <= 501 || hi-lo > 60 {
		t.Errorf("n=1001: got [%v, %v] ok=%v, want a narrow interval around 501", lo, hi, ok)
	}
}
