package preset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/preset"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

func TestFinishErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*preset.Config)
		want string // "" for no error
	}{
		{"defaults", func(*preset.Config) {}, ""},
		{"overall", func(c *preset.Config) { c.SetOverallTimeout(-time.Second) },
			"adapter: WithOverallTimeout(-1s): the timeout must be positive (WithoutOverallTimeout turns it off)"},
		{"attempt", func(c *preset.Config) { c.SetAttemptTimeout(0) },
			"adapter: WithAttemptTimeout(0s): the timeout must be positive (WithoutAttemptTimeout turns it off)"},
		{"budget", func(c *preset.Config) { c.SetBudget(nil) },
			"adapter: WithBudget(nil): the budget must not be nil (WithoutBudget turns it off)"},
		{"max keys", func(c *preset.Config) { c.SetMaxKeys("WithMaxHosts", "hosts", -2) },
			"adapter: WithMaxHosts(-2): the number of hosts must be positive"},
		{"first wins", func(c *preset.Config) { c.SetMaxKeys("WithMaxKeys", "keys", 0); c.SetAttemptTimeout(-1) },
			"adapter: WithMaxKeys(0): the number of keys must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := preset.New("adapter")
			tc.set(&c)
			err := c.Finish()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Finish() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFinishAttemptTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*preset.Config)
		want time.Duration
	}{
		{"default", func(*preset.Config) {}, preset.DefaultAttemptTimeout},
		{"long overall", func(c *preset.Config) { c.SetOverallTimeout(time.Minute) }, preset.DefaultAttemptTimeout},
		{"short overall", func(c *preset.Config) { c.SetOverallTimeout(8 * time.Second) }, 4 * time.Second},
		{"set", func(c *preset.Config) { c.SetOverallTimeout(8 * time.Second); c.SetAttemptTimeout(7 * time.Second) }, 7 * time.Second},
		{"off", func(c *preset.Config) { c.SetOverallTimeout(time.Second); c.NoAttemptTimeout() }, 0},
		{"no overall", func(c *preset.Config) { c.NoOverallTimeout() }, preset.DefaultAttemptTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := preset.New("adapter")
			tc.set(&c)
			if err := c.Finish(); err != nil {
				t.Fatal(err)
			}
			if c.Attempt != tc.want {
				t.Errorf("Attempt = %v, want %v", c.Attempt, tc.want)
			}
		})
	}
}

func TestTelemetryFor(t *testing.T) {
	c := preset.New("adapter")
	if got := c.TelemetryFor(telemetry.Settings{Key: "k"}); got != (telemetry.Settings{Key: "k"}) {
		t.Errorf("without SetTelemetry: got %+v, want own settings", got)
	}
	c.SetTelemetry(telemetry.Settings{Disabled: true, Key: "ignored"})
	if got, want := c.TelemetryFor(telemetry.Settings{Key: "k"}), (telemetry.Settings{Disabled: true, Key: "k"}); got != want {
		t.Errorf("with SetTelemetry: got %+v, want %+v", got, want)
	}
	if got := c.Telemetry(); got.Key != "" {
		t.Errorf("Telemetry().Key = %q, want it cleared", got.Key)
	}
}

func TestNewRetry(t *testing.T) {
	c := preset.New("adapter")
	r, b, err := c.NewRetry()
	if err != nil || r == nil || b != nil || r.Budget() != nil || !c.BudgetPerKey() {
		t.Fatalf("NewRetry() = %v, %v, %v, BudgetPerKey %v; want a retry without a shared budget, each key having its own", r, b, err, c.BudgetPerKey())
	}
	shared, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c.SetBudget(shared)
	if r, b, err = c.NewRetry(); err != nil || b != shared || r.Budget() != shared || c.BudgetPerKey() {
		t.Errorf("after SetBudget: budget %v (retry's %v), err %v, BudgetPerKey %v; want the shared one and no budget per key", b, r.Budget(), err, c.BudgetPerKey())
	}
	c.NoBudget()
	if _, b, err = c.NewRetry(); err != nil || b != nil || c.BudgetPerKey() {
		t.Errorf("after NoBudget: budget %v, err %v, BudgetPerKey %v; want nil, nil, false", b, err, c.BudgetPerKey())
	}
	c.SetRetry(retry.Config{MaxAttempts: -1})
	if _, _, err = c.NewRetry(); err == nil || !strings.HasPrefix(err.Error(), "adapter: WithRetry: ") {
		t.Errorf("bad retry: err %v, want prefix %q", err, "adapter: WithRetry: ")
	}
	c.NoRetry()
	if r, b, err = c.NewRetry(); r != nil || b != nil || err != nil {
		t.Errorf("after NoRetry: got %v, %v, %v; want nils", r, b, err)
	}
}

func TestPerKeyPolicies(t *testing.T) {
	c := preset.New("adapter")
	p, ok := c.PerKey()
	if !ok {
		t.Fatal("PerKey() reports no policies, want a breaker and a bulkhead")
	}
	br, bh, chain, err := p.Policies("k")
	if err != nil || br == nil || bh == nil || chain == nil {
		t.Fatalf("Policies() = %v, %v, %v, %v; want both parts", br, bh, chain, err)
	}
	if got := bh.MaxConcurrent(); got != preset.DefaultMaxInFlightPerKey {
		t.Errorf("MaxConcurrent %d, want %d", got, preset.DefaultMaxInFlightPerKey)
	}
	r1, err1 := p.Retry("k")
	r2, err2 := p.Retry("k2")
	if err1 != nil || err2 != nil || r1 == nil || r1.Budget() == nil || r1.Budget() == r2.Budget() {
		t.Fatalf("Retry() twice = %v, %v and %v, %v; want two retries with budgets of their own", r1, err1, r2, err2)
	}
	got := preset.KeyStatus("n", "k", r1, br, bh)
	if len(got.Instances) != 3 || got.Key != "k" {
		t.Fatalf("KeyStatus: got %d instances and key %q, want 3 and %q", len(got.Instances), got.Key, "k")
	}
	if rs := got.Instances[0]; rs.Kind != "retry" || rs.Key != "k" || rs.Retry == nil || rs.Retry.Budget == nil || rs.Retry.MaxAttempts != r1.MaxAttempts() {
		t.Errorf("KeyStatus: first instance %+v, want the key's retry and budget", rs)
	}
	if got := preset.KeyStatus("n", "k", nil, br, bh); len(got.Instances) != 2 {
		t.Errorf("KeyStatus without a retry: got %d instances, want 2", len(got.Instances))
	}
	shared, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c.SetBudget(shared)
	p, _ = c.PerKey()
	if r, err := p.Retry("k"); err != nil || r.Budget() != shared {
		t.Errorf("after SetBudget: Retry() = %v (budget %p), %v; want the shared budget %p", r, r.Budget(), err, shared)
	}
	c.NoBudget()
	p, _ = c.PerKey()
	if r, err := p.Retry("k"); err != nil || r == nil || r.Budget() != nil {
		t.Errorf("after NoBudget: Retry() = %v, %v; want a retry without a budget", r, err)
	}

	c.SetBulkhead(bulkhead.Config{MaxConcurrent: -1})
	p, _ = c.PerKey()
	if err := p.Check(); err == nil || !strings.HasPrefix(err.Error(), "adapter: WithBulkhead: ") {
		t.Errorf("bad bulkhead: err %v, want prefix %q", err, "adapter: WithBulkhead: ")
	}
	c.SetBreaker(breaker.Config{OpenFor: -1})
	p, _ = c.PerKey()
	if err := p.Check(); err == nil || !strings.HasPrefix(err.Error(), "adapter: WithBreaker: ") {
		t.Errorf("bad breaker: err %v, want prefix %q", err, "adapter: WithBreaker: ")
	}
	c.NoBreaker()
	c.NoBulkhead()
	if p, ok := c.PerKey(); !ok {
		t.Error("PerKey() reports no policies with the retry on, want one")
	} else if r, err := p.Retry("k"); r == nil || err != nil {
		t.Errorf("Retry() = %v, %v with both parts off; want a retry", r, err)
	}
	c.NoRetry()
	if p, ok := c.PerKey(); ok {
		t.Error("PerKey() reports policies with everything off, want none")
	} else if r, err := p.Retry("k"); r != nil || err != nil {
		t.Errorf("Retry() = %v, %v after NoRetry; want nil, nil", r, err)
	}
}

func TestTimeouts(t *testing.T) {
	c := preset.New("adapter")
	c.SetTelemetry(telemetry.Settings{Disabled: true})
	c.NoAttemptTimeout()
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := c.ProbeTimeout(); got != preset.DefaultOverallTimeout {
		t.Errorf("ProbeTimeout() = %v without attempt timeout, want the overall %v", got, preset.DefaultOverallTimeout)
	}
	if c.AttemptRecorder() != nil {
		t.Error("AttemptRecorder() with the attempt timeout off: got a recorder, want nil")
	}
	st := preset.AppendTimeoutStatus(nil, c.Overall, c.Attempt)
	if len(st) != 1 || st[0].Name != preset.OverallTimeoutName || st[0].Timeout.Seconds != 30 {
		t.Errorf("AppendTimeoutStatus: got %+v, want the overall timeout of 30 s only", st)
	}
}
