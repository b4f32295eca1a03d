package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cascadeguard/resilience/chaos"
)

// config is one lab run's settings, the same for every contender.
type config struct {
	Seed           uint64
	Rate           float64       // arrivals per second, both dependencies together
	Workers        int           // the frontend's worker pool
	Queue          int           // arrivals that may wait for a worker; more are shed
	Deadline       time.Duration // a request's deadline, from its scheduled arrival
	AttemptTimeout time.Duration // every contender's timeout for one attempt
	Service        time.Duration // how long A and a healthy B take to answer
	Baseline       time.Duration // phase lengths
	Errors         time.Duration
	Hang           time.Duration
	Heal           time.Duration
	Drain          time.Duration // after the schedule, how long calls may still run
}

// fullConfig is the documented full lab; shortConfig is the tiny one of
// the short-mode test.
func fullConfig() config {
	return config{
		Seed: 1, Rate: 2000, Workers: 64, Queue: 1000,
		Deadline: 2 * time.Second, AttemptTimeout: time.Second, Service: 2 * time.Millisecond,
		Baseline: 5 * time.Second, Errors: 4 * time.Second, Hang: 4 * time.Second, Heal: 8 * time.Second,
		Drain: 5 * time.Second,
	}
}

func (c config) total() time.Duration { return c.Baseline + c.Errors + c.Hang + c.Heal }

func (c config) validate() error {
	switch {
	case c.Rate <= 0 || c.Rate > 10_000:
		return fmt.Errorf("lab: rate %v: want (0, 10000]", c.Rate)
	case c.Workers <= 0 || c.Workers > 4096:
		return fmt.Errorf("lab: workers %d: want [1, 4096]", c.Workers)
	case c.Queue < 0 || c.Queue > 1_000_000:
		return fmt.Errorf("lab: queue %d: want [0, 1000000]", c.Queue)
	case c.Deadline <= 0, c.AttemptTimeout <= 0, c.Service < 0, c.Drain <= 0:
		return fmt.Errorf("lab: deadline %v, attempt timeout %v, service %v, drain %v: want positive", c.Deadline, c.AttemptTimeout, c.Service, c.Drain)
	case c.Baseline <= 0 || c.Errors <= 0 || c.Hang <= 0 || c.Heal <= 0:
		return fmt.Errorf("lab: phases %v/%v/%v/%v: want positive", c.Baseline, c.Errors, c.Hang, c.Heal)
	case c.total() > 10*time.Minute:
		return fmt.Errorf("lab: schedule of %v: want at most 10m", c.total())
	}
	return nil
}

// A record is what the frontend remembers of one request; times are
// offsets from the start of the schedule.
type record struct {
	dep     int
	arrival time.Duration // scheduled arrival
	end     time.Duration // when the frontend answered (or shed it)
	ok      bool          // the dependency's 200 came within the deadline
	shed    bool          // the queue was full: never called
}

func (r record) latency() time.Duration { return r.end - r.arrival }

// A server is one dependency: an httptest server that answers 200 after
// cfg.Service, behind an optional chaos injector, which logs when requests
// reach it and when connections open.
type server struct {
	srv   *httptest.Server
	start time.Time

	mu    sync.Mutex
	hits  []time.Duration
	conns []time.Duration
}

func newServer(cfg config, inj *chaos.Injector, start time.Time) *server {
	s := &server{start: start}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(cfg.Service)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	h = chaos.Handler(h, inj)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log(&s.hits)
		h.ServeHTTP(w, r)
	}))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.log(&s.conns)
		}
	}
	s.srv.Start()
	return s
}

func (s *server) log(to *[]time.Duration) {
	d := time.Since(s.start)
	s.mu.Lock()
	*to = append(*to, d)
	s.mu.Unlock()
}

// count returns how many of the logged times fall in [from, to).
func count(ts []time.Duration, from, to time.Duration) int {
	n := 0
	for _, t := range ts {
		if t >= from && t < to {
			n++
		}
	}
	return n
}

// An arrival is one scheduled request.
type arrival struct {
	at  time.Duration
	dep int
}

// schedule returns the arrivals of a run: a Poisson process at cfg.Rate
// (exponential gaps), each request needing A or B with equal chance, fixed
// by cfg.Seed, so that every contender sees the same requests at the same
// offsets.
func schedule(cfg config) []arrival {
	r := rand.New(rand.NewPCG(cfg.Seed, 0x1ab))
	total := cfg.total()
	limit := int(cfg.Rate*total.Seconds()*2) + 16 // bound, far above the expected count
	var as []arrival
	t := 0.0
	for len(as) < limit {
		t += r.ExpFloat64() / cfg.Rate
		at := time.Duration(t * float64(time.Second))
		if at >= total {
			break
		}
		as = append(as, arrival{at: at, dep: r.IntN(2)})
	}
	return as
}

// A result is what one contender's run measured.
type result struct {
	name string
	err  error

	aBaseP99   time.Duration
	aP99       [2]time.Duration // in the 503 phase, in the hang phase
	aRatioCI   [2][2]float64    // 90 % bootstrap intervals of aP99[i] ÷ aBaseP99
	aFailed    float64          // share of A's requests in the outage not answered 200
	bOpenP99   time.Duration    // B's p99 in the hang phase, by when the breakers are open
	bOpenP50   time.Duration    // and its median
	hitsPerReq float64          // B's server hits ÷ B's requests, during the outage
	bRequests  int              // B's requests during the outage
	newConns   int              // connections opened to B during the outage
	shutOff    time.Duration    // from the 503s until B's server stays below 10 % of B's requests; <0: never
	peakG      int              // peak goroutines of the process during the run
	recovery   time.Duration    // after the heal, until every 100 ms window has ≥ 98 % of B served; <0: never
	healServed float64          // share of B's requests served after the heal
}

// runOne runs the whole schedule against a fresh pair of servers and a fresh
// client of contender c.
func runOne(cfg config, c contender) result {
	res := result{name: c.name}
	cl, err := c.build(cfg)
	if err != nil {
		res.err = err
		return res
	}
	defer cl.close()

	start := time.Now().Add(100 * time.Millisecond)
	inj, err := chaos.New(chaos.Config{
		Seed:  cfg.Seed,
		Start: start,
		Phases: []chaos.Phase{
			{Name: "baseline", Duration: cfg.Baseline},
			{Name: "503s", Duration: cfg.Errors, Faults: []chaos.Fault{{Status: http.StatusServiceUnavailable}}},
			{Name: "hang", Duration: cfg.Hang, Faults: []chaos.Fault{{Hang: true}}},
			{Name: "heal"},
		},
	})
	if err != nil {
		res.err = err
		return res
	}
	a := newServer(cfg, nil, start)
	b := newServer(cfg, inj, start)
	urls := [2]string{a.srv.URL + "/a", b.srv.URL + "/b"}

	arrivals := schedule(cfg)
	records := make([]record, len(arrivals))
	runCtx, cancel := context.WithDeadline(context.Background(), start.Add(cfg.total()+cfg.Drain))
	defer cancel()

	// Sample the goroutines until the run ends.
	stopSampler := make(chan struct{})
	samplerDone := make(chan int)
	go func() {
		peak := runtime.NumGoroutine()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampler:
				samplerDone <- peak
				return
			case <-tick.C:
				peak = max(peak, runtime.NumGoroutine())
			}
		}
	}()

	queue := make(chan int, cfg.Queue)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for i := range queue {
				a := arrivals[i]
				at := start.Add(a.at)
				ctx, cancel := context.WithDeadline(runCtx, at.Add(cfg.Deadline))
				ok := false
				if ctx.Err() == nil {
					ok = cl.get(ctx, a.dep, urls[a.dep]) && ctx.Err() == nil
				}
				cancel()
				records[i] = record{dep: a.dep, arrival: a.at, end: time.Since(start), ok: ok}
			}
		})
	}
	// The dispatcher: open loop, each request at its scheduled time,
	// whatever the workers are doing. It sleeps on a thread of its own
	// (see sleepUntil).
	runtime.LockOSThread()
	for i, a := range arrivals {
		sleepUntil(start.Add(a.at))
		select {
		case queue <- i:
		default:
			records[i] = record{dep: a.dep, arrival: a.at, end: time.Since(start), shed: true}
		}
	}
	runtime.UnlockOSThread()
	close(queue)
	wg.Wait()
	close(stopSampler)
	res.peakG = <-samplerDone

	cl.close()
	a.srv.Close()
	b.srv.Close()

	b.mu.Lock()
	hits, conns := b.hits, b.conns
	b.mu.Unlock()
	measure(cfg, &res, records, hits, conns)
	return res
}

// measure fills res from the records and B's logs.
func measure(cfg config, res *result, records []record, hits, conns []time.Duration) {
	errStart := cfg.Baseline
	hangStart := errStart + cfg.Errors
	healStart := hangStart + cfg.Hang
	end := cfg.total()
	warm := min(500*time.Millisecond, cfg.Baseline/3)

	var aBase, aErr, aHang, bOpen []time.Duration
	aOut, aOutFailed, bOut := 0, 0, 0
	const window = 100 * time.Millisecond
	nWin := int((end - healStart + window - 1) / window)
	winOK := make([]int, nWin)
	winAll := make([]int, nWin)
	healOK, healAll := 0, 0
	for _, r := range records {
		switch {
		case r.dep == 0 && r.arrival >= warm && r.arrival < errStart:
			if !r.shed {
				aBase = append(aBase, r.latency())
			}
		case r.dep == 0 && r.arrival >= errStart && r.arrival < healStart:
			aOut++
			if !r.ok {
				aOutFailed++
			}
			if r.shed {
				break
			}
			if r.arrival < hangStart {
				aErr = append(aErr, r.latency())
			} else {
				aHang = append(aHang, r.latency())
			}
		case r.dep == 1 && r.arrival >= errStart && r.arrival < healStart:
			bOut++
			if r.arrival >= hangStart && !r.shed {
				bOpen = append(bOpen, r.latency())
			}
		case r.dep == 1 && r.arrival >= healStart:
			w := int((r.arrival - healStart) / window)
			winAll[w]++
			healAll++
			if r.ok {
				winOK[w]++
				healOK++
			}
		}
	}
	res.aBaseP99 = p99(aBase)
	res.aP99 = [2]time.Duration{p99(aErr), p99(aHang)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xb007))
	for i, phase := range [2][]time.Duration{aErr, aHang} {
		res.aRatioCI[i] = ratioInterval(phase, aBase, rng)
	}
	if aOut > 0 {
		res.aFailed = float64(aOutFailed) / float64(aOut)
	}
	res.bOpenP99 = p99(bOpen)
	res.bOpenP50 = quantile(bOpen, 0.5)
	res.bRequests = bOut
	if bOut > 0 {
		res.hitsPerReq = float64(count(hits, errStart, healStart)) / float64(bOut)
	}
	res.newConns = count(conns, errStart, healStart)
	res.shutOff = shutOff(records, hits, errStart, healStart, window)
	// Recovery: the start of the first window from which every window
	// serves at least 98 % of B's requests (an empty window passes).
	res.recovery = -1
	for w := nWin - 1; w >= 0; w-- {
		if winAll[w] > 0 && float64(winOK[w]) < 0.98*float64(winAll[w]) {
			if w < nWin-1 {
				res.recovery = time.Duration(w+1) * window
			}
			break
		}
		if w == 0 {
			res.recovery = 0
		}
	}
	if healAll > 0 {
		res.healServed = float64(healOK) / float64(healAll)
	}
}

// shutOff returns the time from `from` to the start of the first window
// from which, until `to`, every window of B's server sees fewer hits than
// 10 % of the frontend's B requests in it: when a breaker (or anything else)
// stopped sending B's traffic. It returns -1 when the last window does not
// pass.
func shutOff(records []record, hits []time.Duration, from, to, window time.Duration) time.Duration {
	n := int((to - from + window - 1) / window)
	reqs := make([]int, n)
	got := make([]int, n)
	for _, r := range records {
		if r.dep == 1 && r.arrival >= from && r.arrival < to {
			reqs[(r.arrival-from)/window]++
		}
	}
	for _, h := range hits {
		if h >= from && h < to {
			got[(h-from)/window]++
		}
	}
	for w := n - 1; w >= 0; w-- {
		if float64(got[w]) >= 0.1*float64(max(reqs[w], 1)) {
			if w == n-1 {
				return -1
			}
			return time.Duration(w+1) * window
		}
	}
	return 0
}

// p99 returns the 99th percentile (nearest rank) of ds, which it sorts; 0
// for none.
func p99(ds []time.Duration) time.Duration { return quantile(ds, 0.99) }

// quantile returns the q-quantile of ds (nearest rank), sorting ds; 0 for
// none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sortDurations(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(i, 0)]
}

// ratioInterval returns a 90 % bootstrap interval of p99(num) ÷ p99(den):
// the 5th and 95th percentiles of that ratio over resamples of both (drawn
// with replacement from rng). p99 and quantile have sorted num and den.
// It returns zeros when either is empty.
func ratioInterval(num, den []time.Duration, rng *rand.Rand) [2]float64 {
	if len(num) == 0 || len(den) == 0 {
		return [2]float64{}
	}
	const resamples = 1000
	ratios := make([]float64, resamples)
	counts := make([]int32, max(len(num), len(den)))
	for i := range ratios {
		ratios[i] = float64(resampledP99(num, counts, rng)) / float64(resampledP99(den, counts, rng))
	}
	slices.Sort(ratios)
	return [2]float64{ratios[resamples*5/100], ratios[resamples*95/100-1]}
}

// resampledP99 returns the p99 (nearest rank) of a resample with
// replacement of sorted, which has the same length: it counts how often
// each index is drawn and walks down from the largest, in O(n) without
// sorting. counts is scratch space of at least len(sorted).
func resampledP99(sorted []time.Duration, counts []int32, rng *rand.Rand) time.Duration {
	n := len(sorted)
	counts = counts[:n]
	clear(counts)
	for range n {
		counts[rng.IntN(n)]++
	}
	// The p99 is the k-th smallest; it is the (n-k+1)-th largest.
	k := int(math.Ceil(0.99 * float64(n)))
	above := n - k + 1
	for i := n - 1; i >= 0; i-- {
		above -= int(counts[i])
		if above <= 0 {
			return sorted[i]
		}
	}
	return sorted[0]
}
