package preset_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/internal/preset"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// TestSetRetryBudgetBecomesTheBudget: WithRetry with a Budget makes it the
// budget all keys share, also after WithoutBudget.
func TestSetRetryBudgetBecomesTheBudget(t *testing.T) {
	shared, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := preset.New("adapter")
	c.NoBudget()
	c.SetRetry(retry.Config{MaxAttempts: 2, Budget: shared})
	r, b, err := c.NewRetry()
	if err != nil || b != shared || r.Budget() != shared || c.BudgetPerKey() {
		t.Errorf("NewRetry() = budget %p (retry's %p), %v, BudgetPerKey %v; want the shared budget %p and no budget per key",
			b, r.Budget(), err, c.BudgetPerKey(), shared)
	}
	p, _ := c.PerKey()
	if r, err := p.Retry("k"); err != nil || r.Budget() != shared {
		t.Errorf("PerKey().Retry() = %v, %v; want a retry drawing from the shared budget %p", r, err, shared)
	}
}

// TestTelemetryForKeepsOwnChoices: a policy configuration that sets its own
// telemetry (a provider, a logger, or Disabled) keeps it; WithTelemetry
// fills in only for configurations that set none.
func TestTelemetryForKeepsOwnChoices(t *testing.T) {
	c := preset.New("adapter")
	c.SetTelemetry(telemetry.Settings{Logger: slog.New(slog.DiscardHandler)})
	own := telemetry.Settings{Disabled: true, Key: "k"}
	if got := c.TelemetryFor(own); got != own {
		t.Errorf("TelemetryFor(Disabled) = %+v, want own %+v", got, own)
	}
	logger := slog.New(slog.DiscardHandler)
	own = telemetry.Settings{Logger: logger}
	if got := c.TelemetryFor(own); got != own {
		t.Errorf("TelemetryFor(own Logger) = %+v, want own %+v", got, own)
	}
}

// TestNoSlowCallsIgnoresSlowCall: with NoSlowCalls the per-key breakers
// ignore a configured SlowCall: a slow success does not count as a failure.
func TestNoSlowCallsIgnoresSlowCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := preset.New("adapter")
		c.SetBreaker(breaker.Config{ConsecutiveFailures: 1, SlowCall: 100 * time.Millisecond})
		p, _ := c.PerKey()
		p.NoSlowCalls = true
		br, _, chain, err := p.Policies("k")
		if err != nil {
			t.Fatal(err)
		}
		err = chain.Do(context.Background(), func(context.Context) error {
			time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
			return nil
		})
		if err != nil {
			t.Fatalf("slow call: %v", err)
		}
		if got, n := br.State(), br.Counts().SlowCalls; got != breaker.StateClosed || n != 0 {
			t.Errorf("after a slow success: state %v, slow calls %d; want closed and 0", got, n)
		}
	})
}

// TestLeftOpenIgnoresShadowBreaker: a breaker in shadow mode lets the retry
// through even when the call's failure left it (virtually) open.
func TestLeftOpenIgnoresShadowBreaker(t *testing.T) {
	br, err := breaker.New(breaker.Config{ConsecutiveFailures: 1, Mode: breaker.ModeShadow,
		Telemetry: telemetry.Settings{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_ = br.Do(context.Background(), func(context.Context) error { return boom })
	if got := br.State(); got != breaker.StateOpen {
		t.Fatalf("shadow breaker after a failure: state %v, want open (virtually)", got)
	}
	if preset.LeftOpen(br, boom) {
		t.Error("LeftOpen(shadow breaker) = true, want false")
	}
	if got := preset.StopRetriesIfOpen(br, boom); got != boom || retry.IsPermanent(got) {
		t.Errorf("StopRetriesIfOpen(shadow breaker) = %v (permanent %v), want %v unchanged", got, retry.IsPermanent(got), boom)
	}
	if err := br.SetMode(breaker.ModeNormal); err != nil {
		t.Fatal(err)
	}
	if !preset.LeftOpen(br, boom) {
		t.Error("LeftOpen(open breaker in normal mode) = false, want true")
	}
}
