// Command cascade shows a cascading failure, and the same traffic contained
// by this library's standard HTTP transport. Run it with
//
//	go run ./examples/cascade
//
// Everything runs in this process on 127.0.0.1 ports. A frontend has a fixed
// pool of workers (-concurrency) fed by requests that arrive at a fixed rate
// (-rate), whether or not a worker is free: a request that finds every worker
// busy waits in the frontend's queue, and its latency is measured from the
// moment it arrived, so that queueing counts. Half the requests need
// dependency A, which stays healthy (2–5 ms). The other half need dependency
// B, which goes through phases: healthy → 503s (half of them with
// Retry-After) → hanging → healed.
//
// The frontend runs twice, side by side, against its own copy of A and B:
//
//   - plain: an http.Client with a Timeout, the usual "protection";
//   - standard: an http.Client whose transport is this library's standard
//     transport (overall timeout → retry with budget → per-host breaker →
//     per-host bulkhead → per-attempt timeout).
//
// Without protection, each hanging call to B holds a worker until the client
// times out; B's calls soon hold every worker, and requests for A, which is
// perfectly healthy, wait in the queue: A's latency explodes. With the
// standard transport, B's breaker opens during the 503s, calls to B fail in
// microseconds, the bulkhead caps how many workers B can hold, and A stays
// fast.
//
// The program prints a live table once a second and, at the end, a summary,
// and writes an HTML report with charts (-out).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	Duration    time.Duration // length of the whole schedule; phases scale with it
	Concurrency int           // workers of each frontend
	Rate        float64       // arrivals per second, for each frontend
	Timeout     time.Duration // the plain client's Timeout, and the standard transport's overall timeout
	Deadline    time.Duration // how long a user waits for a frontend request, queueing included
	Out         string        // path of the HTML report; empty writes none
	Seed        uint64        // seeds the request mix and the fault injection
	Tick        time.Duration // interval of the live table; zero prints none
}

func defaultConfig() config {
	return config{
		Duration:    40 * time.Second,
		Concurrency: 200,
		Rate:        400,
		Timeout:     2 * time.Second,
		Deadline:    5 * time.Second,
		Out:         "cascade-report.html",
		Seed:        1,
		Tick:        time.Second,
	}
}

// Bounds of the flags, so that a typo cannot start a run that takes the
// machine down.
const (
	minDuration    = 2 * time.Second
	maxDuration    = 10 * time.Minute
	maxConcurrency = 5000
	maxRate        = 10000
)

func (c config) validate() error {
	switch {
	case c.Duration < minDuration || c.Duration > maxDuration:
		return fmt.Errorf("cascade: -duration %v is outside [%v, %v]", c.Duration, minDuration, maxDuration)
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return fmt.Errorf("cascade: -concurrency %d is outside [1, %d]", c.Concurrency, maxConcurrency)
	case !(c.Rate >= 1 && c.Rate <= maxRate): // also catches NaN
		return fmt.Errorf("cascade: -rate %v is outside [1, %d]", c.Rate, maxRate)
	case c.Timeout <= 0 || c.Timeout > time.Minute:
		return fmt.Errorf("cascade: -timeout %v is outside (0, 1m]", c.Timeout)
	case c.Deadline < c.Timeout || c.Deadline > 2*time.Minute:
		return fmt.Errorf("cascade: -deadline %v is outside [-timeout %v, 2m]", c.Deadline, c.Timeout)
	case c.Tick < 0:
		return fmt.Errorf("cascade: tick %v is negative", c.Tick)
	}
	return nil
}

func main() {
	cfg := defaultConfig()
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the run; the phases scale with it")
	flag.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "workers of each frontend")
	flag.Float64Var(&cfg.Rate, "rate", cfg.Rate, "requests per second arriving at each frontend, half for A and half for B")
	flag.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "the plain client's Timeout and the standard transport's overall timeout")
	flag.DurationVar(&cfg.Deadline, "deadline", cfg.Deadline, "how long a user waits for the frontend, queueing included")
	flag.StringVar(&cfg.Out, "out", cfg.Out, "HTML report to write (empty: none)")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the request mix and of the fault injection")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the run winds down and writes its report;
		// a second one kills the program the usual way.
		<-ctx.Done()
		stop()
	}()

	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, errInterrupted) {
			os.Exit(130) // the shell's code for "ended by SIGINT"
		}
		os.Exit(1)
	}
}

// run runs the scenario with cfg, printing the live table and the summary to
// stdout, and writes the report to cfg.Out. When ctx ends early it stops
// the load, aborts the calls in flight and still reports what ran.
func run(ctx context.Context, cfg config, stdout io.Writer) (summary, error) {
	if err := cfg.validate(); err != nil {
		return summary{}, err
	}
	sc := newSchedule(cfg.Duration)
	// Give the servers and workers a moment to start before the first arrival.
	start := time.Now().Add(50 * time.Millisecond)

	var modes []*mode
	closeAll := func() {
		for _, m := range modes {
			m.close()
		}
	}
	for _, kind := range []modeKind{modePlain, modeStandard} {
		m, err := newMode(kind, cfg, sc, start)
		if err != nil {
			closeAll()
			return summary{}, err
		}
		modes = append(modes, m)
	}

	printHeader(stdout, cfg, sc, modes)
	live := startLive(stdout, cfg.Tick, start, sc, modes)

	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, m := range modes {
			wg.Go(func() { m.front.run(ctx) })
		}
		wg.Wait()
	}()
	// Every call has a deadline, so the frontends end soon after the last
	// arrival's deadline, or after Ctrl-C. Should a client not honour its
	// context, closing the servers frees it: the run stays bounded, and the
	// summary counts the requests that outlived their deadline.
	forced := waitBounded(ctx, done, start.Add(cfg.Duration+cfg.Deadline+drainGrace), closeAll)
	live.stop()
	elapsed := time.Since(start)
	closeAll()

	s := analyze(cfg, sc, modes, live.peakGoroutines())
	s.Elapsed = elapsed
	s.Interrupted = ctx.Err() != nil
	s.Forced = forced
	printSummary(stdout, s)
	if cfg.Out != "" {
		if err := writeReport(cfg.Out, s); err != nil {
			return s, err
		}
		s.Report = cfg.Out
		fmt.Fprintf(stdout, "\nreport written to %s\n", cfg.Out)
	}
	if s.Interrupted {
		return s, fmt.Errorf("%w: %w", errInterrupted, context.Cause(ctx))
	}
	return s, nil
}

// drainGrace is how long the run waits for calls past their deadline, or
// after Ctrl-C, before it closes the servers under them.
const drainGrace = 2 * time.Second

// waitBounded waits until done is closed. If that has not happened by limit,
// or drainGrace after ctx ended, it calls force and waits again; it reports
// whether it had to.
func waitBounded(ctx context.Context, done <-chan struct{}, limit time.Time, force func()) bool {
	timer := time.NewTimer(time.Until(limit))
	defer timer.Stop()
	stop := ctx.Done()
	for {
		select {
		case <-done:
			return false
		case <-stop:
			stop = nil
			if until := time.Until(limit); until > drainGrace {
				timer.Reset(drainGrace)
			}
		case <-timer.C:
			force()
			<-done
			return true
		}
	}
}

// errInterrupted is returned by run when its context ended before the
// schedule did; the summary and the report then cover what ran.
var errInterrupted = errors.New("cascade: interrupted; the report covers what ran")
