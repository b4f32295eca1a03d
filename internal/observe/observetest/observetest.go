// Package observetest captures what policies emit, for their tests: a
// metric SDK with a manual reader, a tracer whose spans are recorded, and a
// log handler that keeps every record. It is imported by _test files only;
// library code never imports it (it brings in the OpenTelemetry SDK).
package observetest

import (
	"context"
	"log/slog"
	"slices"
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

// SDK is everything a test needs to see what a policy emitted. Build it
// with [New] (the zero value is not usable); it is shut down when the test
// ends. It is safe for concurrent use.
type SDK struct {
	Reader         *sdkmetric.ManualReader
	MeterProvider  *sdkmetric.MeterProvider
	Spans          *tracetest.SpanRecorder
	TracerProvider *sdktrace.TracerProvider
	logs           *logSink
}

// New returns a fresh SDK, shut down by t.Cleanup.
func New(t testing.TB) *SDK {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	s := &SDK{
		Reader:         reader,
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Spans:          spans,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		logs:           new(logSink),
	}
	t.Cleanup(func() {
		_ = s.MeterProvider.Shutdown(context.Background())
		_ = s.TracerProvider.Shutdown(context.Background())
	})
	return s
}

// Settings returns telemetry settings for a policy: this SDK's meter
// provider, a logger into [SDK.Logs], and key as the instance key.
func (s *SDK) Settings(key string) telemetry.Settings {
	return telemetry.Settings{
		MeterProvider: s.MeterProvider,
		Logger:        slog.New(&logHandler{sink: s.logs}),
		Key:           key,
	}
}

// Span starts a recording span and returns a context carrying it and a
// function that ends it and returns the events added to it.
func (s *SDK) Span(ctx context.Context) (context.Context, func() []Event) {
	ctx, span := s.TracerProvider.Tracer("observetest").Start(ctx, "call")
	return ctx, func() []Event {
		span.End()
		ended := s.Spans.Ended()
		var out []Event
		for _, e := range ended[len(ended)-1].Events() {
			out = append(out, Event{Name: e.Name, Attrs: attrMap(e.Attributes)})
		}
		return out
	}
}

// Event is a span event, flattened; a plain value.
type Event struct {
	Name  string
	Attrs map[string]string
}

// Point is one metric data point, flattened: Value is a sum's or gauge's
// value, or a histogram's sum; Count is a histogram's count, or 1. It is a
// plain value.
type Point struct {
	Attrs map[string]string
	Value float64
	Count uint64
	Unit  string
}

// Collect returns the data points of every metric the SDK has, by metric
// name. It fails the test if the collection fails.
func (s *SDK) Collect(t testing.TB) map[string][]Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("observetest: Collect: %v", err)
	}
	out := make(map[string][]Point)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var pts []Point
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					pts = append(pts, Point{Attrs: attrMap(p.Attributes.ToSlice()), Value: float64(p.Value), Count: 1})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					pts = append(pts, Point{Attrs: attrMap(p.Attributes.ToSlice()), Value: float64(p.Value), Count: 1})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					pts = append(pts, Point{Attrs: attrMap(p.Attributes.ToSlice()), Value: p.Sum, Count: p.Count})
				}
			default:
				t.Fatalf("observetest: metric %s has unexpected data %T", m.Name, m.Data)
			}
			for i := range pts {
				pts[i].Unit = m.Unit
			}
			out[m.Name] = pts
		}
	}
	return out
}

// Find returns the first point whose attributes include every pair in want.
func Find(points []Point, want map[string]string) (Point, bool) {
	for _, p := range points {
		ok := true
		for k, v := range want {
			if p.Attrs[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return p, true
		}
	}
	return Point{}, false
}

// Logs returns every log record so far, each rendered as
// "LEVEL message key=value …" with the logger's own attributes first.
func (s *SDK) Logs() []string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return slices.Clone(s.logs.records)
}

// Values returns every attribute value and log field value recorded so far
// in metrics, in the given span events and in logs: what a test scans for
// secrets such as a URL's query or user information.
func (s *SDK) Values(t testing.TB, events []Event) []string {
	t.Helper()
	var out []string
	for _, pts := range s.Collect(t) {
		for _, p := range pts {
			for _, v := range p.Attrs {
				out = append(out, v)
			}
		}
	}
	for _, e := range events {
		for _, v := range e.Attrs {
			out = append(out, v)
		}
	}
	s.logs.mu.Lock()
	out = append(out, s.logs.values...)
	s.logs.mu.Unlock()
	return out
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

type logSink struct {
	mu      sync.Mutex
	records []string
	values  []string
}

type logHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func (*logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	parts := []string{r.Level.String(), r.Message}
	var values []string
	add := func(a slog.Attr) bool {
		parts = append(parts, a.String())
		values = append(values, a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.sink.mu.Lock()
	h.sink.records = append(h.sink.records, strings.Join(parts, " "))
	h.sink.values = append(h.sink.values, values...)
	h.sink.mu.Unlock()
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{sink: h.sink, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
