package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A key names one benchmark: BenchmarkChain/parallel/ours-2 is family
// "Chain", mode "parallel", contender "ours".
type key struct {
	family, mode, contender string
}

// splitName parses a benchmark name as printed by go test.
func splitName(name string) key {
	name = strings.TrimPrefix(name, "Benchmark")
	// Drop the -GOMAXPROCS suffix go test appends (absent with -cpu 1).
	if i := strings.LastIndexByte(name, '-'); i >= 0 && i < len(name)-1 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	parts := strings.Split(name, "/")
	k := key{family: parts[0]}
	switch len(parts) {
	case 1:
		k.contender = parts[0]
	default:
		k.mode = strings.Join(parts[1:len(parts)-1], "/")
		k.contender = parts[len(parts)-1]
	}
	return k
}

// results holds every sample of every benchmark, in order of first
// appearance.
type results struct {
	order   []key
	samples map[key]map[string][]float64 // by unit: "ns/op", "B/op", …
}

// parse adds the benchmark lines of r to rs. Other lines (goos:, PASS, test
// output) are skipped.
func (rs *results) parse(r io.Reader) error {
	if rs.samples == nil {
		rs.samples = make(map[key]map[string][]float64)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		// Benchmark lines: name, iterations, then value-unit pairs.
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		k := splitName(f[0])
		units := rs.samples[k]
		if units == nil {
			units = make(map[string][]float64)
			rs.samples[k] = units
			rs.order = append(rs.order, k)
		}
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("line %d: value %q of %s: %v", line, f[i], f[i+1], err)
			}
			units[f[i+1]] = append(units[f[i+1]], v)
		}
	}
	return sc.Err()
}

// median returns the median of vs, and half their range relative to it.
func median(vs []float64) (m, spread float64) {
	if len(vs) == 0 {
		return math.NaN(), math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		m = s[n/2]
	} else {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	if m != 0 {
		spread = (s[n-1] - s[0]) / 2 / m
	}
	return m, spread
}

// medianInterval returns a 90 % confidence interval for the median of the
// population vs were drawn from, free of any assumption about its shape: the
// k-th smallest and k-th largest samples, for the largest k such that fewer
// than k of n samples fall below the median with probability at most 5 %
// (the median splits samples like a fair coin, so that count is
// Binomial(n, ½)). ok is false when n is too small for any interval to
// reach 90 % (fewer than 5 samples).
func medianInterval(vs []float64) (lo, hi float64, ok bool) {
	n := len(vs)
	// logP is log P(X = i) for X ~ Binomial(n, ½), from P(X = 0) = 2^-n by
	// P(X = i+1) = P(X = i)·(n-i)/(i+1): in logarithms, so that a large n
	// cannot underflow. cdf is P(X < k).
	k, cdf := 0, 0.0
	logP := -float64(n) * math.Ln2
	for i := 0; i <= n/2; i++ {
		p := math.Exp(logP)
		if cdf+p > 0.05 {
			break
		}
		cdf += p
		k = i + 1 // P(X < i+1) = P(X ≤ i) ≤ 5 %
		logP += math.Log(float64(n-i)) - math.Log(float64(i+1))
	}
	if k == 0 {
		return 0, 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[k-1], s[n-k], true
}

// stat returns the median of one unit of one benchmark, ok false if the
// benchmark did not report it.
func (rs *results) stat(k key, unit string) (m, spread float64, ok bool) {
	vs := rs.samples[k][unit]
	if len(vs) == 0 {
		return 0, 0, false
	}
	m, spread = median(vs)
	return m, spread, true
}

// markdown writes one table per family.
func (rs *results) markdown(w io.Writer, base string) error {
	bw := bufio.NewWriter(w)
	var families []string
	for _, k := range rs.order {
		if !slices.Contains(families, k.family) {
			families = append(families, k.family)
		}
	}
	minN, maxN := math.MaxInt, 0
	for _, k := range rs.order {
		n := len(rs.samples[k]["ns/op"])
		minN, maxN = min(minN, n), max(maxN, n)
	}
	runs := strconv.Itoa(minN)
	if minN != maxN {
		runs = fmt.Sprintf("%d to %d", minN, maxN)
	}
	fmt.Fprintf(bw, "Medians of %s runs; ± is half the range as a percentage of the median; "+
		"the last column is the ns/op of %s divided by the row's.\n", runs, base)

	for _, fam := range families {
		fmt.Fprintf(bw, "\n### %s\n\n", fam)
		fmt.Fprintf(bw, "| mode | contender | ns/op | ± | B/op | allocs/op | %s ÷ this |\n", base)
		fmt.Fprintf(bw, "|---|---|--:|--:|--:|--:|--:|\n")
		lastMode := "\x00"
		for _, k := range rs.order {
			if k.family != fam {
				continue
			}
			mode := ""
			if k.mode != lastMode {
				mode, lastMode = k.mode, k.mode
			}
			ns, spread, ok := rs.stat(k, "ns/op")
			nsCell, spreadCell := "–", "–"
			if ok {
				nsCell, spreadCell = formatTime(ns), fmt.Sprintf("%.0f%%", spread*100)
			}
			ratio := "–"
			if bns, _, bok := rs.stat(key{k.family, k.mode, base}, "ns/op"); bok && ok && ns > 0 {
				ratio = fmt.Sprintf("%.2f", bns/ns)
			}
			name := k.contender
			if name == base {
				name = "**" + name + "**"
			}
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s |\n",
				mode, name, nsCell, spreadCell, rs.cell(k, "B/op"), rs.cell(k, "allocs/op"), ratio)
		}
	}
	rs.reported(bw)
	return bw.Flush()
}

// reported writes, for each benchmark that reports metrics of its own (a
// unit that is not per op, such as the ours/plain of the alternating
// benchmarks, each a ratio measured within one run), the median of each
// over the runs, a 90 % interval for it (see medianInterval) and the range.
func (rs *results) reported(w io.Writer) {
	for _, k := range rs.order {
		var units []string
		for u := range rs.samples[k] {
			if !strings.HasSuffix(u, "/op") {
				units = append(units, u)
			}
		}
		if len(units) == 0 {
			continue
		}
		slices.Sort(units)
		name := "Benchmark" + k.family
		if k.mode != "" {
			name += "/" + k.mode
		}
		if k.contender != k.family {
			name += "/" + k.contender
		}
		fmt.Fprintf(w, "\n### %s: metrics it reports\n\n", name)
		fmt.Fprintf(w, "| metric | median | 90 %% interval of the median | range | runs |\n|---|--:|--:|--:|--:|\n")
		for _, u := range units {
			vs := rs.samples[k][u]
			m, _ := median(vs)
			ci := "–"
			if lo, hi, ok := medianInterval(vs); ok {
				ci = fmt.Sprintf("%.3f–%.3f", lo, hi)
			}
			fmt.Fprintf(w, "| %s | %.3f | %s | %.3f–%.3f | %d |\n", u, m, ci, slices.Min(vs), slices.Max(vs), len(vs))
		}
	}
}

// cell formats the median of a unit, or a dash when it was not reported.
func (rs *results) cell(k key, unit string) string {
	m, _, ok := rs.stat(k, unit)
	if !ok {
		return "–"
	}
	return formatCount(m)
}

// formatCount prints a count (B/op, allocs/op): whole medians without
// decimals, a median between two counts with one.
func formatCount(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// formatTime prints a time with about three significant digits.
func formatTime(v float64) string {
	switch {
	case math.Abs(v) < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case math.Abs(v) < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}
