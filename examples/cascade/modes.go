package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/chaos"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// A modeKind is how the frontend calls its dependencies.
type modeKind int

const (
	modePlain    modeKind = iota // http.Client with a Timeout
	modeStandard                 // http.Client with the library's standard transport
)

func (k modeKind) String() string {
	if k == modePlain {
		return "plain"
	}
	return "standard"
}

// A mode is one frontend with its client and its own dependencies A and B,
// so that the two modes share no server, no queue and no connection.
type mode struct {
	kind    modeKind
	label   string // what the client is, for people
	deps    [numDeps]*dependency
	client  *http.Client
	front   *frontend
	breaker *breakerWatch // nil in the plain mode
}

func newMode(kind modeKind, cfg config, sc schedule, start time.Time) (m *mode, err error) {
	m = &mode{kind: kind}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	// Both modes get the same seeds: the same latencies, the same 503s.
	injA, err := injectorA(cfg.Seed + 1)
	if err != nil {
		return nil, err
	}
	injB, err := injectorB(sc, cfg.Seed+2, start)
	if err != nil {
		return nil, err
	}
	horizon := cfg.Duration + cfg.Deadline + time.Second
	for i, inj := range [numDeps]*chaos.Injector{injA, injB} {
		if m.deps[i], err = startDependency(inj, start, horizon); err != nil {
			return nil, err
		}
	}

	switch kind {
	case modePlain:
		m.label = fmt.Sprintf("http.Client{Timeout: %v}", cfg.Timeout)
		m.client = &http.Client{Transport: baseTransport(cfg.Concurrency), Timeout: cfg.Timeout}
	case modeStandard:
		m.breaker = newBreakerWatch(start, m.deps[depB].url)
		m.label, m.client, err = standardClient(cfg, m.breaker)
		if err != nil {
			return nil, err
		}
	}
	m.front = newFrontend(m.client, [numDeps]string{m.deps[depA].url, m.deps[depB].url}, cfg, start)
	return m, nil
}

// close closes the client's idle connections and the dependencies. Call it
// once the frontend has stopped.
func (m *mode) close() {
	if m.client != nil {
		m.client.CloseIdleConnections()
	}
	for _, d := range m.deps {
		if d != nil {
			d.close()
		}
	}
}

// baseTransport is the connection pool of both modes: the default transport,
// allowed to keep as many idle connections per host as there are workers, so
// that neither mode churns connections when all is well. Only what sits on top
// of it differs between the modes.
func baseTransport(workers int) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns = 2 * workers
	t.MaxIdleConnsPerHost = workers
	return countAttempts{t}
}

// standardClient returns the protected client: the library's standard
// transport, with its defaults, over the same connection pool as the plain
// client. Only its overall timeout is set, to the plain client's Timeout, so
// that both modes give up on a request after the same time.
func standardClient(cfg config, watch *breakerWatch) (string, *http.Client, error) {
	t, err := resilienthttp.NewStandardTransport(baseTransport(cfg.Concurrency),
		resilienthttp.WithOverallTimeout(cfg.Timeout),
		// Only to watch B's breaker: the zero fields keep their defaults.
		resilienthttp.WithBreaker(breaker.Config{OnStateChange: watch.changed}))
	if err != nil {
		return "", nil, err
	}
	watch.hosts.Store(t.Hosts())
	label := fmt.Sprintf("resilienthttp.NewStandardTransport(base, WithOverallTimeout(%v))", cfg.Timeout)
	return label, &http.Client{Transport: t}, nil
}

// A breakerWatch follows the state of B's breaker in a standard transport.
// The breakers of all hosts share one OnStateChange hook, which does not say
// whose breaker changed; so at each change the watch looks at B's.
type breakerWatch struct {
	start time.Time
	host  string
	hosts atomic.Pointer[keyed.Keyed]

	mu          sync.Mutex
	last        breaker.State
	transitions []transition
}

// A transition is a change of B's breaker, at an offset from the start.
type transition struct {
	At   time.Duration
	From breaker.State
	To   breaker.State
}

func newBreakerWatch(start time.Time, url string) *breakerWatch {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return &breakerWatch{start: start, host: resilienthttp.HostKey(req)}
}

// breaker returns B's breaker, or nil before B's first request.
func (w *breakerWatch) breaker() *breaker.Breaker {
	hosts := w.hosts.Load()
	if hosts == nil {
		return nil
	}
	var br *breaker.Breaker
	hosts.Range(func(host string, p resilience.Policy) bool {
		if h, ok := p.(*resilienthttp.HostPolicy); ok && host == w.host {
			br = h.Breaker
			return false
		}
		return true
	})
	return br
}

// changed is the breakers' OnStateChange hook.
func (w *breakerWatch) changed(string, breaker.State, breaker.State) {
	br := w.breaker()
	if br == nil {
		return
	}
	state := br.State()
	w.mu.Lock()
	defer w.mu.Unlock()
	if state != w.last {
		w.transitions = append(w.transitions, transition{At: time.Since(w.start), From: w.last, To: state})
		w.last = state
	}
}

// current returns the state of B's breaker, "-" for a nil watch.
func (w *breakerWatch) current() string {
	if w == nil {
		return "-"
	}
	if br := w.breaker(); br != nil {
		return br.State().String()
	}
	return breaker.StateClosed.String()
}

func (w *breakerWatch) history() []transition {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]transition(nil), w.transitions...)
}
