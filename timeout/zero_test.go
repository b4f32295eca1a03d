package timeout_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience/telemetry"
	"github.com/cascadeguard/resilience/timeout"
)

// TestUnbuiltTimeoutReturnsErrors: a zero Timeout and a nil *Timeout (what
// New returns with its error) refuse calls with an error that says they
// were not built with New, rather than run op with no deadline at all;
// nothing panics and the read methods report an empty policy.
func TestUnbuiltTimeoutReturnsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *timeout.Timeout
	}{
		{"zero", &timeout.Timeout{}},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			ran := false
			err := p.Do(context.Background(), func(ctx context.Context) error {
				ran = true
				if _, ok := ctx.Deadline(); !ok {
					t.Errorf("op ran with no deadline")
				}
				return nil
			})
			if err == nil || ran || !strings.Contains(err.Error(), "timeout: Timeout not built with New") {
				t.Errorf("Do: got err %v, op ran %v; want a not-built-with-New error and op not run", err, ran)
			}
			if p.Name() != "" || p.Duration() != 0 {
				t.Errorf("Name, Duration: got %q, %v; want empty, 0", p.Name(), p.Duration())
			}
			st := p.Status()
			if st.Kind != "timeout" || st.Name != "" || st.Timeout == nil || *st.Timeout != (telemetry.TimeoutStatus{}) {
				t.Errorf("Status: got %+v (timeout %+v), want kind timeout and an empty timeout status", st, st.Timeout)
			}
		})
	}
}
