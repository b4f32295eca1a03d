package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
)

// tracer returns a policy that appends name's entry and exit to log.
func tracer(name string, log *[]string) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		*log = append(*log, name+">")
		err := op(ctx)
		*log = append(*log, "<"+name)
		return err
	})
}

func TestChainOrder(t *testing.T) {
	var log []string
	p := resilience.Chain(tracer("a", &log), nil, tracer("b", &log), nil, tracer("c", &log))
	err := p.Do(context.Background(), func(context.Context) error {
		log = append(log, "op")
		return nil
	})
	if err != nil {
		t.Fatalf("Do: got %v, want nil", err)
	}
	got := strings.Join(log, " ")
	want := "a> b> c> op <c <b <a"
	if got != want {
		t.Errorf("order: got %q, want %q", got, want)
	}
}

func TestChainEmptyRunsOpOnce(t *testing.T) {
	for _, p := range []resilience.Policy{resilience.Chain(), resilience.Chain(nil, nil)} {
		runs := 0
		sentinel := errors.New("op failed")
		err := p.Do(context.Background(), func(context.Context) error { runs++; return sentinel })
		if runs != 1 || err != sentinel {
			t.Errorf("empty chain: got runs=%d err=%v, want runs=1 err=%v", runs, err, sentinel)
		}
	}
}

func TestChainSingleIsThePolicy(t *testing.T) {
	var log []string
	p := resilience.Chain(nil, tracer("only", &log))
	_ = p.Do(context.Background(), func(context.Context) error { return nil })
	if got, want := strings.Join(log, " "), "only> <only"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChainPassesContextAndErrors(t *testing.T) {
	type key struct{}
	setter := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(context.WithValue(ctx, key{}, "set"))
	})
	pass := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	sentinel := errors.New("boom")
	var seen any
	err := resilience.Chain(setter, pass, pass).Do(context.Background(), func(ctx context.Context) error {
		seen = ctx.Value(key{})
		return sentinel
	})
	if seen != "set" {
		t.Errorf("op saw value %v, want %q", seen, "set")
	}
	if err != sentinel {
		t.Errorf("err: got %v, want %v", err, sentinel)
	}
}

// A policy that retries calls its continuation more than once; the chain's
// pooled frames must serve every call with its own op, also concurrently.
func TestChainConcurrentCallsKeepTheirOwnOp(t *testing.T) {
	twice := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err != nil {
			return err
		}
		return op(ctx)
	})
	pass := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	p := resilience.Chain(pass, twice, pass)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := g*1000 + i
				runs := 0
				want := fmt.Errorf("call %d", id)
				err := p.Do(context.Background(), func(context.Context) error {
					runs++
					if runs == 2 {
						return want
					}
					return nil
				})
				if err != want || runs != 2 {
					errs <- fmt.Errorf("call %d: got err=%v runs=%d, want err=%v runs=2", id, err, runs, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestChainPanicPropagates(t *testing.T) {
	pass := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	p := resilience.Chain(pass, pass)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		_ = p.Do(context.Background(), func(context.Context) error { panic("boom") })
	}()
	// The chain still works after a panic.
	if err := p.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Errorf("after panic: got %v, want nil", err)
	}
}

type retained struct {
	resilience.PolicyFunc
	keep bool
}

func (r retained) Retain() bool { return r.keep }

func TestChainRetain(t *testing.T) {
	pass := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	tests := []struct {
		name string
		p    resilience.Policy
		want bool
	}{
		{"empty", resilience.Chain(), false},
		{"plain", resilience.Chain(pass, pass), false},
		{"single plain", resilience.Chain(pass), false},
		{"one retains", resilience.Chain(pass, retained{pass, true}), true},
		{"none retains", resilience.Chain(retained{pass, false}, pass), false},
		{"single retains", resilience.Chain(retained{pass, true}), true},
	}
	for _, tt := range tests {
		r, ok := tt.p.(resilience.Retainer)
		if !ok {
			t.Errorf("%s: Chain result does not implement Retainer", tt.name)
			continue
		}
		if got := r.Retain(); got != tt.want {
			t.Errorf("%s: Retain() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDoReturnsValue(t *testing.T) {
	pass := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	v, err := resilience.Do(context.Background(), resilience.Chain(pass, pass), func(context.Context) (int, error) {
		return 42, nil
	})
	if v != 42 || err != nil {
		t.Errorf("got (%d, %v), want (42, nil)", v, err)
	}

	reject := resilience.NewRejection("test: rejected")
	refuse := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return reject })
	v, err = resilience.Do(context.Background(), refuse, func(context.Context) (int, error) { return 7, nil })
	if v != 0 || err != reject {
		t.Errorf("rejected: got (%d, %v), want (0, %v)", v, err, reject)
	}

	v, err = resilience.Do(context.Background(), nil, func(context.Context) (int, error) { return 9, nil })
	if v != 9 || err != nil {
		t.Errorf("nil policy: got (%d, %v), want (9, nil)", v, err)
	}
}

func TestDoKeepsLastAttemptValue(t *testing.T) {
	retryOnce := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil {
			return nil
		}
		return op(ctx)
	})
	n := 0
	v, err := resilience.Do(context.Background(), retryOnce, func(context.Context) (string, error) {
		n++
		if n == 1 {
			return "first", errors.New("fail")
		}
		return "second", nil
	})
	if v != "second" || err != nil {
		t.Errorf("got (%q, %v), want (\"second\", nil)", v, err)
	}
}

func TestRejectionMatchesMarker(t *testing.T) {
	errA := resilience.NewRejection("a: full")
	errB := resilience.NewRejection("a: full")
	wrapped := fmt.Errorf("calling x: %w", errA)
	if !errors.Is(wrapped, resilience.ErrRejected) {
		t.Error("wrapped rejection does not match ErrRejected")
	}
	if !errors.Is(wrapped, errA) {
		t.Error("wrapped rejection does not match its own sentinel")
	}
	if errors.Is(errA, errB) {
		t.Error("two rejections with the same text match each other; sentinels must be distinct")
	}
	if errors.Is(errors.New("other"), resilience.ErrRejected) {
		t.Error("a plain error matches ErrRejected")
	}
	if got := errA.Error(); got != "a: full" {
		t.Errorf("Error() = %q, want %q", got, "a: full")
	}
}

type clientErr struct{ neutral bool }

func (e clientErr) Error() string { return "client error" }
func (e clientErr) Neutral() bool { return e.neutral }

func TestIsNeutral(t *testing.T) {
	base := errors.New("404")
	marked := resilience.MarkNeutral(base)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"marked", marked, true},
		{"wrapped marked", fmt.Errorf("x: %w", marked), true},
		{"rejection", resilience.NewRejection("r"), true},
		{"Neutral method true", fmt.Errorf("x: %w", clientErr{true}), true},
		{"Neutral method false", clientErr{false}, false},
		{"context canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := resilience.IsNeutral(tt.err); got != tt.want {
			t.Errorf("IsNeutral(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !errors.Is(marked, base) {
		t.Error("MarkNeutral hides the original error from errors.Is")
	}
	if marked.Error() != base.Error() {
		t.Errorf("MarkNeutral changed the text: got %q, want %q", marked.Error(), base.Error())
	}
	if resilience.MarkNeutral(nil) != nil {
		t.Error("MarkNeutral(nil) != nil")
	}
}

type hinted struct {
	d  time.Duration
	ok bool
}

func (h hinted) Error() string                     { return "hinted" }
func (h hinted) RetryAfter() (time.Duration, bool) { return h.d, h.ok }

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		wantD  time.Duration
		wantOK bool
	}{
		{"nil", nil, 0, false},
		{"plain", errors.New("x"), 0, false},
		{"hint", hinted{2 * time.Second, true}, 2 * time.Second, true},
		{"wrapped hint", fmt.Errorf("w: %w", hinted{time.Second, true}), time.Second, true},
		{"no hint", hinted{time.Second, false}, time.Second, false},
	}
	for _, tt := range tests {
		d, ok := resilience.RetryAfter(tt.err)
		if ok != tt.wantOK || (ok && d != tt.wantD) {
			t.Errorf("RetryAfter(%s) = (%v, %v), want (%v, %v)", tt.name, d, ok, tt.wantD, tt.wantOK)
		}
	}
}

func TestErrorTreeWalkFindsJoinedHints(t *testing.T) {
	joined := errors.Join(errors.New("a"), fmt.Errorf("b: %w", hinted{3 * time.Second, true}))
	if d, ok := resilience.RetryAfter(fmt.Errorf("outer: %w", joined)); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter in a joined tree = (%v, %v), want (3s, true)", d, ok)
	}
	if !resilience.IsNeutral(errors.Join(errors.New("a"), resilience.MarkNeutral(errors.New("b")))) {
		t.Error("IsNeutral misses a neutral error inside errors.Join")
	}
	// The first Neutral method found decides, as errors.As would.
	if resilience.IsNeutral(fmt.Errorf("x: %w", clientErr{false})) {
		t.Error("IsNeutral true for Neutral() false")
	}
}

func TestErrorHelpersDoNotAllocate(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", errors.Join(errors.New("a"), hinted{time.Second, true}))
	if n := testing.AllocsPerRun(100, func() { _, _ = resilience.RetryAfter(err); _ = resilience.IsNeutral(err) }); n != 0 {
		t.Errorf("RetryAfter+IsNeutral allocate %v times per call, want 0", n)
	}
}

// pastDeadline is a context whose deadline has passed but whose timer has
// not fired yet: Err is still nil.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

func TestContextDone(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	later, cancelLater := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLater()
	tests := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"background", context.Background(), false},
		{"canceled", canceled, true},
		{"deadline ahead", later, false},
		{"deadline passed, timer not fired", pastDeadline{context.Background()}, true},
	}
	for _, tt := range tests {
		if got := resilience.ContextDone(tt.ctx); got != tt.want {
			t.Errorf("ContextDone(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
