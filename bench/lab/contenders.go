package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fsbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// A client is one contender as the frontend sees it: get sends a GET to url
// on behalf of dependency dep (0 for A, 1 for B) and reports whether the
// answer was a 200 (its body read and closed); close releases its
// connections.
type client struct {
	get   func(ctx context.Context, dep int, url string) bool
	close func()
}

// A contender builds a fresh client for one run.
type contender struct {
	name  string
	about string // one line for the legend
	build func(cfg config) (client, error)
}

// Settings shared by the contenders: our standard transport's defaults,
// where a contender has the feature.
const (
	labAttempts     = 3
	labInFlight     = resilienthttp.DefaultMaxInFlightPerHost         // 100 per dependency
	labOpenFor      = resilienthttp.DefaultBreakerOpenFor             // 0.5 s
	labConsecutive  = resilienthttp.DefaultBreakerConsecutiveFailures // 10 in a row
	labFailureRatio = 0.5                                             // or 50 % …
	labMinCalls     = 20                                              // … of at least 20 calls …
	// … in 10 s (resilienthttp.DefaultBreakerWindow), hystrix-go's fixed window
	labInitialDelay  = 100 * time.Millisecond
	labMaxDelay      = 5 * time.Second
	labOverall       = resilienthttp.DefaultOverallTimeout // 30 s (the frontend's deadline is shorter)
	labMaxDrainBytes = 64 << 10
)

// transport is the http.Transport each contender sends through: keep-alive,
// idle connections enough for every worker, nothing shared between
// contenders.
func transport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
}

// get sends one GET through c and returns the status (0 on an error). The
// body is read, up to labMaxDrainBytes, and closed.
func get(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, labMaxDrainBytes))
	resp.Body.Close()
	return resp.StatusCode, err
}

func plainClient(cfg config) *http.Client {
	return &http.Client{Transport: transport(), Timeout: cfg.AttemptTimeout}
}

func contenders() []contender {
	return []contender{
		{
			name:  "none",
			about: "http.Client{Timeout: attempt timeout}: no protection",
			build: func(cfg config) (client, error) {
				c := plainClient(cfg)
				return client{
					get: func(ctx context.Context, _ int, url string) bool {
						s, err := get(ctx, c, url)
						return err == nil && s == http.StatusOK
					},
					close: c.CloseIdleConnections,
				}, nil
			},
		},
		{
			name:  "naive-retry",
			about: "the same client, 3 attempts on any error or 5xx, no backoff, no budget, no breaker",
			build: func(cfg config) (client, error) {
				c := plainClient(cfg)
				return client{
					get: func(ctx context.Context, _ int, url string) bool {
						for range labAttempts {
							s, err := get(ctx, c, url)
							if err == nil && s == http.StatusOK {
								return true
							}
							if ctx.Err() != nil || (err == nil && s < 500) {
								return false
							}
						}
						return false
					},
					close: c.CloseIdleConnections,
				}, nil
			},
		},
		{
			name:  "ours",
			about: "resilienthttp.NewStandardTransport defaults, but WithAttemptTimeout(attempt timeout)",
			build: func(cfg config) (client, error) {
				return oursClient(resilienthttp.WithAttemptTimeout(cfg.AttemptTimeout))
			},
		},
		{
			name: "failsafe",
			about: "failsafehttp.NewRoundTripper per dependency (one set of policies per host, as a user who wants per-host breakers writes it): " +
				"timeout 30 s → retry 3 (failsafehttp's retry policy, backoff 100 ms ×2 to 5 s, full jitter) → breaker (10 failures in a row, open 0.5 s ±10 %) → bulkhead 100 → timeout (attempt timeout)",
			build: func(cfg config) (client, error) {
				tr := transport()
				var cs [2]*http.Client
				for dep := range cs {
					cs[dep] = &http.Client{Transport: failsafehttp.NewRoundTripper(tr, failsafePolicies(cfg)...)}
				}
				return client{
					get: func(ctx context.Context, dep int, url string) bool {
						s, err := get(ctx, cs[dep], url)
						return err == nil && s == http.StatusOK
					},
					close: tr.CloseIdleConnections,
				}, nil
			},
		},
		{
			name:  "failsafe-shared",
			about: "the same failsafe-go policies, one set for both dependencies: failsafehttp.NewRoundTripper used as is (it has no per-host policies)",
			build: func(cfg config) (client, error) {
				tr := transport()
				c := &http.Client{Transport: failsafehttp.NewRoundTripper(tr, failsafePolicies(cfg)...)}
				return client{
					get: func(ctx context.Context, _ int, url string) bool {
						s, err := get(ctx, c, url)
						return err == nil && s == http.StatusOK
					},
					close: tr.CloseIdleConnections,
				}, nil
			},
		},
		{
			name:  "hystrix",
			about: "hystrix.DoC, one command per dependency (timeout = attempt timeout, 100 concurrent, 50 % of ≥ 20 in its fixed 10 s window, sleep window 0.5 s; it has no consecutive-failure rule and no retry) around the plain client",
			build: hystrixClient,
		},
		{
			name:  "ours-old",
			about: "ours with the breaker defaults before commit 19dc24f, for comparison: WithBreaker(breaker.Config{FailureRatio: 0.5, MinCalls: 20, Window: 30 s, OpenFor: 10 s, ProbeFailAfter: attempt timeout (off)})",
			build: func(cfg config) (client, error) {
				return oursClient(
					resilienthttp.WithAttemptTimeout(cfg.AttemptTimeout),
					resilienthttp.WithBreaker(breaker.Config{FailureRatio: 0.5, MinCalls: 20, Window: 30 * time.Second, OpenFor: 10 * time.Second,
						ProbeFailAfter: cfg.AttemptTimeout}),
				)
			},
		},
	}
}

// extras are contenders that run only when named with -contenders: variants
// of ours for a question the main table raises.
func extras() []contender {
	return []contender{{
		name:  "ours-defaults",
		about: "resilienthttp.NewStandardTransport with no option at all (attempt timeout 10 s, whatever -attempt says)",
		build: func(config) (client, error) {
			return oursClient()
		},
	}, {
		name: "ours-1s",
		about: "ours with the breaker defaults before ProbeFailAfter: WithBreaker(breaker.Config{OpenFor: 1 s, ProbeFailAfter: attempt timeout (off)}): " +
			"a probe that hangs holds the half-open breaker until the attempt timeout",
		build: func(cfg config) (client, error) {
			return oursClient(
				resilienthttp.WithAttemptTimeout(cfg.AttemptTimeout),
				resilienthttp.WithBreaker(breaker.Config{OpenFor: time.Second, ProbeFailAfter: cfg.AttemptTimeout}),
			)
		},
	}}
}

func oursClient(opts ...resilienthttp.StandardOption) (client, error) {
	tr := transport()
	t, err := resilienthttp.NewStandardTransport(tr, opts...)
	if err != nil {
		return client{}, err
	}
	c := &http.Client{Transport: t}
	return client{
		get: func(ctx context.Context, _ int, url string) bool {
			s, err := get(ctx, c, url)
			return err == nil && s == http.StatusOK
		},
		close: c.CloseIdleConnections,
	}, nil
}

// failsafePolicies is failsafe-go's version of our standard chain. Its
// breaker takes one threshold rule; of ours two (10 failures in a row, or
// 50 % of ≥ 20 calls in 10 s) it gets the one that trips a total outage,
// 10 in a row.
// failsafe-go has no per-host policies: the "failsafe" contender builds one
// set per dependency, "failsafe-shared" one set for both, which is what
// failsafehttp.NewRoundTripper gives a client that calls several hosts.
func failsafePolicies(cfg config) []failsafe.Policy[*http.Response] {
	isFailure := func(r *http.Response, err error) bool {
		if err != nil {
			return true
		}
		s := r.StatusCode
		return s >= 500 && s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported ||
			s == http.StatusTooManyRequests || s == http.StatusRequestTimeout
	}
	retry := failsafehttp.NewRetryPolicyBuilder().
		WithMaxAttempts(labAttempts).
		WithBackoffFactor(labInitialDelay, labMaxDelay, 2).
		WithJitterFactor(1).
		AbortOnErrors(fsbreaker.ErrOpen, fsbulkhead.ErrFull).
		Build()
	cb := fsbreaker.NewBuilder[*http.Response]().
		HandleIf(isFailure).
		WithFailureThreshold(labConsecutive).
		WithDelay(labOpenFor).
		WithJitterFactor(0.1).
		WithSuccessThreshold(1).
		Build()
	return []failsafe.Policy[*http.Response]{
		fstimeout.New[*http.Response](labOverall),
		retry,
		cb,
		fsbulkhead.New[*http.Response](labInFlight),
		fstimeout.New[*http.Response](cfg.AttemptTimeout),
	}
}

var hystrixSeq atomic.Int64

var errStatus = errors.New("lab: failure status")

// hystrixClient: a hystrix-go command per dependency around the plain
// client. hystrix-go has no retry. Its timeout abandons the call rather than
// cancelling it, so the plain client's own Timeout (the same attempt
// timeout) is what ends an abandoned call.
func hystrixClient(cfg config) (client, error) {
	seq := hystrixSeq.Add(1)
	var names [2]string
	for dep := range names {
		names[dep] = fmt.Sprintf("lab-%d-%c", seq, 'A'+dep)
		hystrix.ConfigureCommand(names[dep], hystrix.CommandConfig{
			Timeout:                int(cfg.AttemptTimeout / time.Millisecond),
			MaxConcurrentRequests:  labInFlight,
			RequestVolumeThreshold: labMinCalls,
			SleepWindow:            int(labOpenFor / time.Millisecond),
			ErrorPercentThreshold:  int(labFailureRatio * 100),
		})
	}
	c := plainClient(cfg)
	return client{
		get: func(ctx context.Context, dep int, url string) bool {
			err := hystrix.DoC(ctx, names[dep], func(ctx context.Context) error {
				s, err := get(ctx, c, url)
				if err != nil {
					return err
				}
				if s >= 500 {
					return errStatus
				}
				return nil
			}, nil)
			return err == nil
		},
		close: c.CloseIdleConnections,
	}, nil
}
