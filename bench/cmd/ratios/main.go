// Command ratios prints the results of `go test -bench` as Markdown ratio
// tables: for each benchmark, the median ns/op, B/op and allocs/op of every
// contender, and our time divided by theirs.
//
// Usage:
//
//	ratios [-base name] [file ...]
//
// With no file it reads standard input. Benchmarks are named
// Benchmark<Family>/<mode>/<contender>, as in this module's overhead
// benchmarks (BenchmarkBreaker/serial/gobreaker-2); the GOMAXPROCS suffix is
// dropped. Each family gets a table whose rows are its modes and
// contenders; the last column is the base contender's median ns/op divided by
// the row's, so 0.25 means ours takes a quarter of that contender's time.
// Run the benchmarks with -count 6 or more: the tables show medians, and the
// ± column is half the range of the samples as a percentage of the median.
// Metrics a benchmark reports itself (b.ReportMetric with a unit that is not
// per op, such as ours/plain of BenchmarkHTTPAlternating, a ratio measured
// within each run) get a table of their own: median over the runs, a 90 %
// confidence interval for that median (order statistics, no assumption
// about the distribution; it needs 5 runs or more) and the range.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	base := flag.String("base", "ours", "the contender the others are compared with")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: ratios [-base name] [file ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(os.Stdout, *base, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
}

// run reads the named files (standard input if none) and writes the tables.
func run(w io.Writer, base string, files []string) error {
	var rs results
	if len(files) == 0 {
		if err := rs.parse(os.Stdin); err != nil {
			return fmt.Errorf("standard input: %w", err)
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = rs.parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(rs.order) == 0 {
		return fmt.Errorf("no benchmark results found")
	}
	return rs.markdown(w, base)
}
