// Command lab is the containment lab of issue 10: the cascade scenario, run
// for each contender in turn, on loopback, with a seeded schedule.
//
// A frontend with a bounded pool of workers serves requests that arrive at a
// fixed average rate whatever it is doing (open loop: a Poisson process);
// arrivals that find every worker busy wait in a bounded queue, and are shed
// when it is full. Each request has a deadline counted from its scheduled
// arrival, and its latency is measured from that arrival, so time spent
// queueing counts. Half the requests need dependency A, which stays healthy;
// half need dependency B, which goes through four phases (package chaos):
// healthy (baseline) → every request answered 503 without Retry-After →
// every request hangs until the client gives up → healthy again (heal).
// Each contender is the HTTP client the frontend uses for both
// dependencies; each gets fresh servers, a fresh injector and a fresh
// client, and the contenders run one after the other.
//
// Usage (in bench/):
//
//	go run ./lab -seed 1 | tee results/lab.md
//
// Flags choose the seed, the contenders, the rate, the pool and the phase
// lengths; -h lists them. The table is printed as Markdown.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	cfg := fullConfig()
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the arrivals and of the chaos injector")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "arrivals per second (A and B together)")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "the frontend's workers")
	fs.IntVar(&cfg.Queue, "queue", cfg.Queue, "the frontend's queue length")
	fs.DurationVar(&cfg.Deadline, "deadline", cfg.Deadline, "each request's deadline from its scheduled arrival")
	fs.DurationVar(&cfg.AttemptTimeout, "attempt", cfg.AttemptTimeout, "every contender's timeout for one attempt")
	fs.DurationVar(&cfg.Baseline, "baseline", cfg.Baseline, "length of the healthy baseline phase")
	fs.DurationVar(&cfg.Errors, "errors", cfg.Errors, "length of the 503 phase")
	fs.DurationVar(&cfg.Hang, "hang", cfg.Hang, "length of the hang phase")
	fs.DurationVar(&cfg.Heal, "heal", cfg.Heal, "length of the healed phase")
	names := fs.String("contenders", "", "comma-separated contenders (default: all but the extras, such as ours-1s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := pick(*names)
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	results := make([]result, 0, len(cs))
	began := time.Now()
	for _, c := range cs {
		fmt.Fprintf(os.Stderr, "lab: %s …\n", c.name)
		results = append(results, runOne(cfg, c))
	}
	report(out, cfg, cs, results, time.Since(began))
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("lab: %s: %w", r.name, r.err)
		}
	}
	return nil
}

// pick returns the contenders named in the comma-separated list (extras
// included), all the default ones for "".
func pick(list string) ([]contender, error) {
	all := contenders()
	if list == "" {
		return all, nil
	}
	all = append(all, extras()...)
	var cs []contender
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(all, func(c contender) bool { return c.name == name })
		if i < 0 {
			return nil, fmt.Errorf("lab: no contender %q", name)
		}
		cs = append(cs, all[i])
	}
	return cs, nil
}

func sortDurations(ds []time.Duration) { slices.Sort(ds) }

// ms formats d in milliseconds, with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// withInterval formats d ÷ base with its bootstrap interval ci, when the
// ratio is under 10 (above, the interval says nothing worth the space).
func withInterval(d, base time.Duration, ci [2]float64) string {
	s := ratio(d, base)
	if s == "–" || float64(d) >= 10*float64(base) || ci[1] == 0 {
		return s
	}
	return fmt.Sprintf("%s (%.2f–%.2f)", s, ci[0], ci[1])
}

func ratio(d, base time.Duration) string {
	if base <= 0 || d <= 0 {
		return "–"
	}
	r := float64(d) / float64(base)
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// report prints the Markdown table and its legend.
func report(w io.Writer, cfg config, cs []contender, rs []result, took time.Duration) {
	fmt.Fprintf(w, "## Containment lab\n\n")
	fmt.Fprintf(w, "Seed %d; %.0f req/s (half A, half B), %d workers, queue %d, deadline %v from the scheduled arrival; "+
		"A and a healthy B answer in %v; attempt timeout %v. B's phases: baseline %v → 503s %v (no Retry-After) → hang %v → heal %v. "+
		"GOMAXPROCS %d; %d contenders in %.0f s.\n\n",
		cfg.Seed, cfg.Rate, cfg.Workers, cfg.Queue, cfg.Deadline, cfg.Service, cfg.AttemptTimeout,
		cfg.Baseline, cfg.Errors, cfg.Hang, cfg.Heal, runtime.GOMAXPROCS(0), len(rs), took.Seconds())
	fmt.Fprintln(w, "| contender | A p99 baseline | A p99 503s ÷ baseline | A p99 hang ÷ baseline | A failed in outage | B p99 once open | B shut off after | B hits per B request | new conns to B | peak goroutines | recovery after heal | B served after heal |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(w, "| %s | error: %v |||||||||\n", r.name, r.err)
			continue
		}
		off := "never"
		if r.shutOff >= 0 {
			off = fmt.Sprintf("%.1f s", r.shutOff.Seconds())
		}
		rec := "never"
		if r.recovery >= 0 {
			rec = fmt.Sprintf("%.1f s", r.recovery.Seconds())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f %% | %s | %s | %.2f | %d | %d | %s | %.1f %% |\n",
			r.name, ms(r.aBaseP99), withInterval(r.aP99[0], r.aBaseP99, r.aRatioCI[0]), withInterval(r.aP99[1], r.aBaseP99, r.aRatioCI[1]),
			100*r.aFailed, ms(r.bOpenP99), off, r.hitsPerReq, r.newConns, r.peakG, rec, 100*r.healServed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Contenders:")
	fmt.Fprintln(w)
	for _, c := range cs {
		fmt.Fprintf(w, "- **%s**: %s\n", c.name, c.about)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, legend)
}

const legend = `Columns (times by scheduled arrival; "outage" = the 503 and hang phases):
- A p99 baseline: p99 latency of A's requests in the baseline, after its first 500 ms (connection warm-up); the ratios divide A's p99 in each outage phase by it. Latency runs from the scheduled arrival to the answer, queueing included; shed requests are left out of the percentiles but counted in "A failed".
- The interval after each ratio is its 90 % bootstrap interval (1,000 resamples of both phases, seeded): how far the ratio moves from sampling noise alone in a run like this one.
- A failed in outage: share of A's requests in the outage not answered 200 within the deadline (shed, expired in the queue, failed).
- B p99 once open: p99 latency of B's requests in the hang phase, failures included. A breaker that opened during the 503s ("B shut off after" under 4 s) answers them without calling B; one that opens later pays part of the hang, and without a breaker it is the hang's full cost.
- B shut off after: from the start of the 503s until the first 100 ms window from which, to the heal, B's server sees fewer than 10 % of the frontend's B requests in every window (when the breaker had opened for good); "never" when that does not happen.
- B hits per B request: requests that reached B's server during the outage ÷ the frontend's requests for B in the outage (retry amplification; below 1 when a breaker sheds).
- new conns to B: connections B's server accepted during the outage (connection churn).
- peak goroutines: of the whole process (frontend, client, both servers), sampled every 5 ms.
- recovery after heal: from the heal until the first 100 ms window from which every window serves ≥ 98 % of B's requests; "never" when the last window does not.
- B served after heal: share of B's requests after the heal answered 200 within the deadline.
`
