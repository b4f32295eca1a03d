// Package resilience is the core of a library of composable policies that
// keep a Go service standing when the services it calls fail or slow down:
// circuit breakers, bulkheads, retries and timeouts.
//
// A [Policy] guards one call. Policies compose with [Chain], the first being
// the outermost, and wrap any function with the signature
// func(context.Context) error; [Do] does the same for functions that return a
// value. The policies themselves live in sub-packages (breaker, bulkhead,
// retry, timeout, ratelimit) and the adapters that put them around an
// http.RoundTripper or a gRPC client in resilienthttp and resilientgrpc.
//
// The recommended order, outermost first, is
//
//	overall timeout → retry (with budget) → circuit breaker → bulkhead → per-attempt timeout → call
//
// This package holds only the contract and the small vocabulary that the
// policies share so that none of them imports another: the rejection marker
// [ErrRejected], the neutral-outcome marker ([MarkNeutral], [IsNeutral]) and
// the server-delay hint ([RetryAfterHint]). It depends on the standard
// library alone.
package resilience

import (
	"context"
	"sync"
)

// A Policy guards one call: it decides whether, when and how often op runs.
//
// Do runs op zero or more times with a context derived from ctx and returns
// op's last error, or an error of its own when it did not run op (a
// rejection). Do must not call op after it has returned, nor let a goroutine
// that calls op outlive it. Implementations are safe for concurrent use.
type Policy interface {
	Do(ctx context.Context, op func(context.Context) error) error
}

// PolicyFunc adapts an ordinary function to the [Policy] interface.
type PolicyFunc func(ctx context.Context, op func(context.Context) error) error

// Do calls f(ctx, op).
func (f PolicyFunc) Do(ctx context.Context, op func(context.Context) error) error {
	return f(ctx, op)
}

// Chain composes policies into one: the first is outermost, so
// Chain(a, b).Do(ctx, op) is a.Do(ctx, func(ctx) error { return b.Do(ctx, op) }).
// Nil policies are skipped; Chain() with no policies (or only nil ones) runs
// op directly, once.
//
// A typed nil, such as the nil *breaker.Breaker that breaker.New returns
// with its error, is not a nil Policy: Chain keeps it, without inspecting
// it, and each call goes to its Do. A nil policy of package breaker,
// bulkhead, timeout or ratelimit then fails the call, without running op,
// with an error saying that it was not built with New (and counts as not
// retained); a nil *retry.Retry runs op once. Any other Policy does whatever
// its Do does with a nil receiver. Check New's error rather than rely on
// this.
//
// The returned Policy does not allocate per call: each call borrows a
// preassembled frame of continuations from a pool. This relies on the
// [Policy] contract that no policy calls op after its Do has returned.
//
// The returned Policy also implements [Retainer], reporting true when any of
// its policies does.
func Chain(policies ...Policy) Policy {
	var ps []Policy
	for _, p := range policies {
		if p != nil {
			ps = append(ps, p)
		}
	}
	switch len(ps) {
	case 0:
		return direct{}
	case 1:
		if _, ok := ps[0].(Retainer); ok {
			return ps[0]
		}
		// Wrap so that the result still answers Retain, like longer chains.
		return &chain{policies: ps}
	}
	c := &chain{policies: ps}
	c.frames.New = func() any { return c.newFrame() }
	return c
}

// direct runs op once with no policy around it.
type direct struct{}

func (direct) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

func (direct) Retain() bool { return false }

type chain struct {
	policies []Policy
	frames   sync.Pool // of *frame
}

// A frame holds one continuation per policy after the first: next[i] runs
// policies[i+1] around the rest of the chain, and the last one runs op. The
// continuations are built once per frame and reused, so a call through the
// chain only stores op in a pooled frame.
type frame struct {
	op   func(context.Context) error
	next []func(context.Context) error
}

func (c *chain) newFrame() *frame {
	n := len(c.policies)
	f := &frame{next: make([]func(context.Context) error, n)}
	for i := 0; i < n-1; i++ {
		p, inner := c.policies[i+1], i+1
		f.next[i] = func(ctx context.Context) error { return p.Do(ctx, f.next[inner]) }
	}
	f.next[n-1] = func(ctx context.Context) error { return f.op(ctx) }
	return f
}

func (c *chain) Do(ctx context.Context, op func(context.Context) error) error {
	if len(c.policies) == 1 {
		return c.policies[0].Do(ctx, op)
	}
	f := c.frames.Get().(*frame)
	f.op = op
	err := c.policies[0].Do(ctx, f.next[0])
	// A panic skips this: the frame is then simply not reused.
	f.op = nil
	c.frames.Put(f)
	return err
}

// Retain reports whether any policy in the chain must be retained.
func (c *chain) Retain() bool {
	for _, p := range c.policies {
		if r, ok := p.(Retainer); ok && r.Retain() {
			return true
		}
	}
	return false
}

// Do runs op under p and returns op's value and error. It is a generic
// convenience over [Policy.Do]: the value is the one of op's first run that
// succeeded, or else of its last run, or the zero value of T when op did not
// run (p rejected the call). Runs that p makes at once (a hedging policy)
// may finish in any order: a run that ends after one succeeded does not
// replace its value. A nil p runs op directly. Do allocates the closure
// that carries the value.
func Do[T any](ctx context.Context, p Policy, op func(context.Context) (T, error)) (T, error) {
	if p == nil {
		return op(ctx)
	}
	r := &result[T]{}
	err := p.Do(ctx, func(ctx context.Context) error {
		v, err := op(ctx)
		r.mu.Lock()
		if !r.won {
			r.v, r.won = v, err == nil
		}
		r.mu.Unlock()
		return err
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v, err
}

// result is what Do keeps of op's runs.
type result[T any] struct {
	mu  sync.Mutex
	v   T
	won bool // a run succeeded: v is its value
}

// Retainer is implemented by policies that hold state which must survive a
// quiet period, such as a circuit breaker that is open. Per-key instance
// caches (package keyed) never evict an instance whose Retain returns true.
type Retainer interface {
	Retain() bool
}
