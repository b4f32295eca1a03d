package observe

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cascadeguard/resilience/telemetry"
)

// sdk is a metric SDK with a manual reader, a span recorder and a log
// capture: everything a test needs to see what a recorder emitted.
type sdk struct {
	t      *testing.T
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	logs   *logCapture
}

func newSDK(t *testing.T) *sdk {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	s := &sdk{
		t:      t,
		reader: reader,
		mp:     sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		spans:  spans,
		tp:     sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		logs:   new(logCapture),
	}
	t.Cleanup(func() {
		_ = s.mp.Shutdown(context.Background())
		_ = s.tp.Shutdown(context.Background())
	})
	return s
}

// settings returns telemetry settings that use this SDK and log capture.
func (s *sdk) settings(key string) telemetry.Settings {
	return telemetry.Settings{MeterProvider: s.mp, Logger: slog.New(s.logs), Key: key}
}

// span starts a recording span and returns its context and an end function
// that returns the span's events.
func (s *sdk) span() (context.Context, func() []sdktrace.Event) {
	ctx, sp := s.tp.Tracer("test").Start(context.Background(), "call")
	return ctx, func() []sdktrace.Event {
		sp.End()
		ended := s.spans.Ended()
		return ended[len(ended)-1].Events()
	}
}

// point is one data point, flattened for assertions.
type point struct {
	attrs string  // sorted k=v list
	value float64 // sum, gauge value or histogram sum
	count uint64  // histogram count; 1 for sums and gauges
	unit  string
}

// collect returns the data points of every metric by name.
func (s *sdk) collect() map[string][]point {
	s.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		s.t.Fatalf("Collect: %v", err)
	}
	out := make(map[string][]point)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			s.t.Errorf("scope %q, want %q", sm.Scope.Name, ScopeName)
		}
		for _, m := range sm.Metrics {
			var pts []point
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					pts = append(pts, point{attrs: attrString(p.Attributes), value: float64(p.Value), count: 1})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					pts = append(pts, point{attrs: attrString(p.Attributes), value: float64(p.Value), count: 1})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					pts = append(pts, point{attrs: attrString(p.Attributes), value: p.Sum, count: p.Count})
				}
			default:
				s.t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
			}
			for i := range pts {
				pts[i].unit = m.Unit
			}
			sort.Slice(pts, func(i, j int) bool { return pts[i].attrs < pts[j].attrs })
			out[m.Name] = pts
		}
	}
	return out
}

// attrString renders a set as "k=v k=v", sorted by key.
func attrString(set attribute.Set) string {
	return kvString(set.ToSlice())
}

func kvString(kvs []attribute.KeyValue) string {
	parts := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		parts = append(parts, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// logCapture is a slog.Handler that keeps every record, with the
// attributes added by With flattened in.
type logCapture struct {
	mu      sync.Mutex
	records []string
	with    []slog.Attr
	parent  *logCapture
}

func (h *logCapture) root() *logCapture {
	for h.parent != nil {
		h = h.parent
	}
	return h
}

func (*logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	parts := []string{"level=" + r.Level.String(), "msg=" + r.Message}
	for _, a := range h.with {
		parts = append(parts, a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		parts = append(parts, a.String())
		return true
	})
	root := h.root()
	root.mu.Lock()
	root.records = append(root.records, strings.Join(parts, " "))
	root.mu.Unlock()
	return nil
}

func (h *logCapture) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logCapture{with: append(slices.Clone(h.with), attrs...), parent: h.root()}
}

func (h *logCapture) WithGroup(string) slog.Handler { return h }

func (h *logCapture) all() []string {
	root := h.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	return slices.Clone(root.records)
}

// eventString renders a span event as "name k=v k=v".
func eventString(e sdktrace.Event) string {
	return strings.TrimSpace(e.Name + " " + kvString(e.Attributes))
}

// freshLimiter gives the test an empty cardinality limiter.
func freshLimiter(t *testing.T) {
	t.Helper()
	old := defaultLimiter
	defaultLimiter = new(limiter)
	t.Cleanup(func() { defaultLimiter = old })
}
