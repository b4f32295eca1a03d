package timeout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/timeout"
)

func mustNew(t *testing.T, d time.Duration) *timeout.Timeout {
	t.Helper()
	p, err := timeout.New(timeout.Config{Name: "t", Duration: d})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// waitDone blocks until ctx ends and returns its error, as a well-behaved op does.
func waitDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestOwnDeadlineFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, 100*time.Millisecond)
		start := time.Now()
		err := p.Do(context.Background(), waitDone)
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Errorf("returned after %v, want 100ms", got)
		}
		if !errors.Is(err, timeout.ErrTimeout) {
			t.Errorf("err %v does not match ErrTimeout", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v does not match context.DeadlineExceeded", err)
		}
		var te *timeout.Error
		if !errors.As(err, &te) || te.Duration != 100*time.Millisecond || te.Name != "t" {
			t.Errorf("err %v: want *timeout.Error with Duration 100ms and Name t", err)
		}
		var nt interface{ Timeout() bool }
		if !errors.As(err, &nt) || !nt.Timeout() {
			t.Errorf("err %v does not report Timeout() true", err)
		}
		if errors.Is(err, resilience.ErrRejected) {
			t.Errorf("a timeout must not match the rejection marker")
		}
	})
}

func TestOpErrorAfterDeadlineIsWrapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, time.Second)
		opErr := errors.New("read tcp: use of closed connection")
		err := p.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return opErr
		})
		if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, opErr) {
			t.Errorf("got %v, want an error matching both ErrTimeout and op's error", err)
		}
		if !strings.Contains(err.Error(), "1s") {
			t.Errorf("error text %q does not name the duration", err.Error())
		}
	})
}

func TestSuccessIsNotATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, time.Second)
		err := p.Do(context.Background(), func(ctx context.Context) error {
			time.Sleep(500 * time.Millisecond) // fake time inside the bubble // sleep-ok: fake time inside a synctest bubble
			return nil
		})
		if err != nil {
			t.Errorf("got %v, want nil", err)
		}
		// An op that finishes after the deadline but still succeeds is a success.
		err = p.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		})
		if err != nil {
			t.Errorf("late success: got %v, want nil", err)
		}
	})
}

func TestPlainErrorPassesThrough(t *testing.T) {
	p := mustNew(t, time.Minute)
	opErr := errors.New("refused")
	if err := p.Do(context.Background(), func(context.Context) error { return opErr }); err != opErr {
		t.Errorf("got %v, want %v unchanged", err, opErr)
	}
}

func TestCallerCancelIsReturnedUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(10 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
			cancel()
		}()
		err := p.Do(ctx, waitDone)
		if err != context.Canceled {
			t.Errorf("got %v, want context.Canceled unchanged", err)
		}
		if errors.Is(err, timeout.ErrTimeout) {
			t.Errorf("caller cancellation matches ErrTimeout")
		}
	})
}

func TestCallerEarlierDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var opCtx context.Context
		start := time.Now()
		err := p.Do(ctx, func(c context.Context) error {
			opCtx = c
			return waitDone(c)
		})
		if opCtx != ctx {
			t.Errorf("op got a new context; want the caller's own (no timer made)")
		}
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("returned after %v, want the caller's 50ms", got)
		}
		if err != context.DeadlineExceeded {
			t.Errorf("got %v, want the caller's context.DeadlineExceeded unchanged", err)
		}
		if errors.Is(err, timeout.ErrTimeout) {
			t.Errorf("caller's deadline matches ErrTimeout")
		}
	})
}

func TestCallerLaterDeadlineGetsOurs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, 100*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		err := p.Do(ctx, func(c context.Context) error {
			d, _ := c.Deadline()
			if got := time.Until(d); got != 100*time.Millisecond {
				t.Errorf("op deadline in %v, want 100ms", got)
			}
			return waitDone(c)
		})
		if !errors.Is(err, timeout.ErrTimeout) {
			t.Errorf("got %v, want ErrTimeout", err)
		}
	})
}

func TestNoGoroutineLeftBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, time.Millisecond)
		for i := 0; i < 100; i++ {
			_ = p.Do(context.Background(), waitDone)
		}
		// synctest.Test fails if a goroutine started in the bubble is still
		// running when it returns; goleak checks the whole package too.
	})
}

func TestNewRejectsBadDuration(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		p, err := timeout.New(timeout.Config{Duration: d})
		if err == nil || p != nil {
			t.Errorf("New(Duration %v): got (%v, %v), want an error", d, p, err)
			continue
		}
		if !strings.Contains(err.Error(), "Duration") || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("New(Duration %v): error %q does not name the field and value", d, err)
		}
	}
}

func TestDefaultName(t *testing.T) {
	p := mustNew(t, time.Second)
	if p.Name() != "t" || p.Duration() != time.Second {
		t.Errorf("got name %q duration %v", p.Name(), p.Duration())
	}
	q, _ := timeout.New(timeout.Config{Duration: time.Second})
	if q.Name() != "timeout" {
		t.Errorf("default name %q, want %q", q.Name(), "timeout")
	}
}

// Regression: a transport that enforces the deadline itself (gRPC) can fail
// the call the instant the deadline passes, before the context's timer has
// fired; that is still our timeout.
func TestDeadlineSeenBeforeTimerFires(t *testing.T) {
	p := mustNew(t, time.Millisecond)
	serverErr := errors.New("rpc error: code = DeadlineExceeded")
	for i := 0; i < 20; i++ {
		err := p.Do(context.Background(), func(ctx context.Context) error {
			dl, _ := ctx.Deadline()
			for time.Now().Before(dl) { // spin: the server's clock says the deadline passed
			}
			return serverErr
		})
		if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, serverErr) {
			t.Fatalf("attempt %d: got %v, want an error matching ErrTimeout and the server's error", i, err)
		}
	}
}
