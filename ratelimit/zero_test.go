package ratelimit_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience/ratelimit"
	"github.com/cascadeguard/resilience/telemetry"
)

// TestUnbuiltLimiterReturnsErrors: a zero Limiter and a nil *Limiter (what
// New returns with its error) refuse calls with an error that says they
// were not built with New, whatever the context, instead of panicking on
// their missing token bucket; op does not run and the read methods report
// an empty limiter.
func TestUnbuiltLimiterReturnsErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		l    *ratelimit.Limiter
	}{
		{"zero", &ratelimit.Limiter{}},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.l
			for _, ctx := range []context.Context{context.Background(), cancelled} {
				ran := false
				err := l.Do(ctx, func(context.Context) error { ran = true; return nil })
				if err == nil || ran || !strings.Contains(err.Error(), "ratelimit: Limiter not built with New") {
					t.Errorf("Do: got err %v, op ran %v; want a not-built-with-New error and op not run", err, ran)
				}
				if errors.Is(err, ratelimit.ErrLimited) {
					t.Errorf("Do: got %v, matching ErrLimited; want no rate-limit signal", err)
				}
			}
			if l.Name() != "" || l.Rate() != 0 || l.Burst() != 0 || l.MaxWait() != 0 || l.Tokens() != 0 || l.Retain() {
				t.Errorf("got name %q, rate %v, burst %d, MaxWait %v, tokens %v, Retain %v; want all empty",
					l.Name(), l.Rate(), l.Burst(), l.MaxWait(), l.Tokens(), l.Retain())
			}
			st := l.Status()
			if st.Kind != "ratelimit" || st.Name != "" || st.RateLimit == nil || *st.RateLimit != (telemetry.RateLimitStatus{}) {
				t.Errorf("Status: got %+v (ratelimit %+v), want kind ratelimit and an empty rate-limit status", st, st.RateLimit)
			}
		})
	}
}
