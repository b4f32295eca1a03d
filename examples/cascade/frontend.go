package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
)

// An outcome is how a frontend request ended.
type outcome uint8

const (
	outcomeOK       outcome = iota // 200 from the dependency
	outcomeStatus                  // another status (503 …)
	outcomeTimeout                 // a timeout: the client's, the transport's or the user's deadline
	outcomeFailFast                // rejected by a policy before any attempt: open breaker, full bulkhead
	outcomeError                   // another error: a reset connection …
	outcomeExpired                 // waited in the queue past the user's deadline; never called
	outcomeShed                    // found the queue full; never called
	outcomeAborted                 // cut short by Ctrl-C; left out of every statistic
)

// A record is what the frontend remembers of one request. Offsets are from
// the start of the run.
type record struct {
	dep     uint8
	outcome outcome
	arrival time.Duration // when the request arrived (was scheduled)
	end     time.Duration // when it ended
	callAt  time.Duration // when the call started, if it was called
	sent    int32         // attempts the client sent to the dependency
	called  bool          // a worker called the client, even if Ctrl-C aborted the call
}

func (r record) latency() time.Duration { return r.end - r.arrival }

// An arrival is a request waiting for a worker.
type arrival struct {
	dep int
	at  time.Time
}

// A frontend is a service with a fixed pool of workers, fed by requests that
// arrive at a fixed rate whatever the workers are doing (open loop): when all
// workers are busy, requests wait in a bounded queue. Each request calls one
// dependency through client and must be served within deadline of its
// arrival, queueing included.
type frontend struct {
	client   *http.Client
	urls     [numDeps]string
	start    time.Time
	duration time.Duration
	rate     float64
	workers  int
	deadline time.Duration
	seed     uint64

	queue    chan arrival
	inFlight [numDeps]atomic.Int64 // calls in progress
	calls    [numDeps]atomic.Int64 // calls started

	mu      sync.Mutex
	records []record
}

func newFrontend(client *http.Client, urls [numDeps]string, cfg config, start time.Time) *frontend {
	n := int(cfg.Rate*cfg.Duration.Seconds()) + 1
	// The queue holds twice what arrives within a deadline: requests rarely
	// find it full, they expire first, as users give up.
	queue := min(int(2*cfg.Rate*cfg.Deadline.Seconds())+1, n)
	return &frontend{
		client:   client,
		urls:     urls,
		start:    start,
		duration: cfg.Duration,
		rate:     cfg.Rate,
		workers:  cfg.Concurrency,
		deadline: cfg.Deadline,
		seed:     cfg.Seed,
		queue:    make(chan arrival, queue),
		records:  make([]record, 0, n),
	}
}

// run sends the load and returns when every request has ended. When ctx ends
// it stops the arrivals and aborts the requests in flight and in the queue.
func (f *frontend) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() { f.work(ctx) })
	}
	f.arrive(ctx)
	close(f.queue)
	wg.Wait()
}

// arrive puts the requests into the queue at their scheduled times, until
// the end of the schedule or ctx.
func (f *frontend) arrive(ctx context.Context) {
	// The mix of A and B depends only on the seed, so that both modes see
	// the same sequence of requests.
	rng := rand.New(rand.NewPCG(f.seed, 0x5ca1ab1e))
	n := int(f.rate * f.duration.Seconds())
	interval := float64(time.Second) / f.rate
	due := func(i int) time.Time { return f.start.Add(time.Duration(float64(i) * interval)) }
	timer := time.NewTimer(time.Until(f.start))
	defer timer.Stop()
	for i := 0; i < n; {
		if d := time.Until(due(i)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		// Everything that is due now arrives now: a late wake-up does
		// not lower the rate.
		for now := time.Now(); i < n && !due(i).After(now); i++ {
			a := arrival{dep: rng.IntN(numDeps), at: due(i)}
			select {
			case f.queue <- a:
			default:
				f.record(record{dep: uint8(a.dep), outcome: outcomeShed, arrival: f.offset(a.at), end: f.offset(now)})
			}
		}
	}
}

// work serves queued requests until the queue is closed and empty.
func (f *frontend) work(ctx context.Context) {
	for a := range f.queue {
		r := record{dep: uint8(a.dep), arrival: f.offset(a.at)}
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			r.outcome = outcomeAborted
		case now.Sub(a.at) >= f.deadline:
			r.outcome = outcomeExpired
		default:
			r.callAt, r.called = f.offset(now), true
			r.outcome, r.sent = f.call(ctx, a)
			if r.outcome != outcomeOK && ctx.Err() != nil {
				r.outcome = outcomeAborted
			}
			now = time.Now()
		}
		r.end = f.offset(now)
		f.record(r)
	}
}

// call calls a's dependency and reads the whole answer. It returns how
// the call ended and how many attempts the client sent.
func (f *frontend) call(ctx context.Context, a arrival) (outcome, int32) {
	ctx, cancel := context.WithDeadline(ctx, a.at.Add(f.deadline))
	defer cancel()
	sent := new(atomic.Int32)
	ctx = context.WithValue(ctx, attemptsKey{}, sent)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.urls[a.dep], nil)
	if err != nil {
		return outcomeError, 0
	}
	f.calls[a.dep].Add(1)
	f.inFlight[a.dep].Add(1)
	defer f.inFlight[a.dep].Add(-1)
	resp, err := f.client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
	}
	switch {
	case err != nil:
		return classify(err, sent.Load()), sent.Load()
	case resp.StatusCode != http.StatusOK:
		return outcomeStatus, sent.Load()
	}
	return outcomeOK, sent.Load()
}

func classify(err error, sent int32) outcome {
	var ne net.Error
	switch {
	case sent == 0 && errors.Is(err, resilience.ErrRejected):
		return outcomeFailFast
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return outcomeTimeout
	}
	return outcomeError
}

// attemptsKey is the context key of the attempt counter of a call. The
// resilient transport passes the request's context values on to each attempt.
type attemptsKey struct{}

// countAttempts is the RoundTripper under both clients: it counts the
// attempts of each call in the call's counter.
type countAttempts struct{ next *http.Transport }

func (c countAttempts) RoundTrip(req *http.Request) (*http.Response, error) {
	if n, ok := req.Context().Value(attemptsKey{}).(*atomic.Int32); ok {
		n.Add(1)
	}
	return c.next.RoundTrip(req)
}

func (c countAttempts) CloseIdleConnections() { c.next.CloseIdleConnections() }

func (f *frontend) offset(t time.Time) time.Duration { return t.Sub(f.start) }

func (f *frontend) record(r record) {
	f.mu.Lock()
	f.records = append(f.records, r)
	f.mu.Unlock()
}

// recordsFrom returns a copy of the records from index i on.
func (f *frontend) recordsFrom(i int) []record {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.records) {
		return nil
	}
	return append([]record(nil), f.records[i:]...)
}

// queued returns the number of requests waiting for a worker.
func (f *frontend) queued() int { return len(f.queue) }
