package bulkhead_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/telemetry"
)

// TestUnbuiltBulkheadReturnsErrors: a zero Bulkhead and a nil *Bulkhead
// (what New returns with its error) refuse calls with an error that says
// they were not built with New, not with ErrFull (which would look like
// overload), whatever the context; op does not run, nothing panics, and the
// read methods report an empty bulkhead.
func TestUnbuiltBulkheadReturnsErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		b    *bulkhead.Bulkhead
	}{
		{"zero", &bulkhead.Bulkhead{}},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			for _, ctx := range []context.Context{context.Background(), cancelled} {
				ran := false
				err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
				if err == nil || ran || !strings.Contains(err.Error(), "bulkhead: Bulkhead not built with New") {
					t.Errorf("Do: got err %v, op ran %v; want a not-built-with-New error and op not run", err, ran)
				}
				if errors.Is(err, bulkhead.ErrFull) {
					t.Errorf("Do: got %v, matching ErrFull; want no overload signal", err)
				}
			}
			got := []int{b.MaxConcurrent(), b.MaxQueue(), int(b.MaxWait()), b.InFlight(), b.Queued()}
			if !slices.Equal(got, []int{0, 0, 0, 0, 0}) || b.Name() != "" || b.Retain() {
				t.Errorf("limits, counts: got %v, name %q, Retain %v; want all zero, empty, false", got, b.Name(), b.Retain())
			}
			st := b.Status()
			if st.Kind != "bulkhead" || st.Name != "" || st.Bulkhead == nil || *st.Bulkhead != (telemetry.BulkheadStatus{}) {
				t.Errorf("Status: got %+v (bulkhead %+v), want kind bulkhead and an empty bulkhead status", st, st.Bulkhead)
			}
		})
	}
}
