package main

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
	"time"

	"github.com/cascadeguard/resilience/breaker"
)

// The report is one self-contained HTML page: inline CSS, SVG charts drawn
// here, no script, no external resource. It is also well-formed XML, which
// the test checks.

// Chart geometry, in SVG user units.
const (
	chartW     = 520.0
	chartH     = 230.0
	plotLeft   = 58.0
	plotRight  = 12.0
	plotTop    = 50.0
	plotBottom = 30.0
)

var (
	phaseFill = [numPhases]string{"#ffffff", "#fdebd0", "#fadbd8", "#e9f7ef"}
	depColor  = [numDeps]string{"#1f5fa8", "#d35400"}
	stateFill = map[breaker.State]string{
		breaker.StateClosed:   "#52be80",
		breaker.StateHalfOpen: "#f5b041",
		breaker.StateOpen:     "#cb4335",
	}
)

type chart struct {
	Title  string
	W, H   float64
	PX, PY float64 // plot area
	PW, PH float64
	Bands  []band
	Grid   []tick
	XTicks []tick
	Lines  []line
	Legend []legendItem
	Strip  []segment
	StripY float64
}

type band struct {
	X, W   float64
	Fill   string
	Label  string
	LabelX float64
}

type tick struct {
	Pos   float64
	Label string
}

type line struct {
	D      string
	Stroke string
	Width  float64
	Dash   string
}

type legendItem struct {
	X      float64
	Stroke string
	Dash   string
	Label  string
}

type segment struct {
	X, W float64
	Fill string
}

// axes maps data to the plot area.
type axes struct {
	duration   time.Duration
	yMin, yMax float64
	log        bool
}

func (a axes) x(t time.Duration) float64 {
	return plotLeft + (chartW-plotLeft-plotRight)*float64(t)/float64(a.duration)
}

func (a axes) y(v float64) float64 {
	lo, hi := a.yMin, a.yMax
	if a.log {
		v, lo, hi = math.Log10(v), math.Log10(lo), math.Log10(hi)
	}
	f := (v - lo) / (hi - lo)
	f = max(0, min(1, f))
	return plotTop + (chartH-plotTop-plotBottom)*(1-f)
}

func newChart(title string, a axes, sc schedule) chart {
	c := chart{
		Title: title, W: chartW, H: chartH,
		PX: plotLeft, PY: plotTop, PW: chartW - plotLeft - plotRight, PH: chartH - plotTop - plotBottom,
	}
	for p := range numPhases {
		x0, x1 := a.x(sc.from[p]), a.x(sc.from[p+1])
		c.Bands = append(c.Bands, band{X: x0, W: x1 - x0, Fill: phaseFill[p], Label: phaseNames[p], LabelX: (x0 + x1) / 2})
	}
	step := niceStep(sc.duration())
	for t := time.Duration(0); t <= sc.duration(); t += step {
		c.XTicks = append(c.XTicks, tick{Pos: a.x(t), Label: fmt.Sprintf("%gs", t.Seconds())})
	}
	return c
}

// decade labels a power of ten of seconds: 10s, 1s, 100ms, 1ms, 10µs.
func decade(sec float64) string {
	switch {
	case sec >= 1:
		return fmt.Sprintf("%gs", math.Round(sec))
	case sec >= 1e-3:
		return fmt.Sprintf("%gms", math.Round(sec*1e3))
	}
	return fmt.Sprintf("%gµs", math.Round(sec*1e6))
}

// niceStep returns a tick interval that gives 4 to 10 ticks.
func niceStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute} {
		if d/s <= 10 {
			return s
		}
	}
	return 2 * time.Minute
}

// path draws a polyline through the points that have data, breaking it
// where a point has none.
func path(n int, x func(i int) float64, y func(i int) (float64, bool)) string {
	var b strings.Builder
	pen := false
	for i := range n {
		v, ok := y(i)
		if !ok {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, x(i), v)
		pen = true
	}
	return strings.TrimSpace(b.String())
}

// latencyAxes returns the log scale, in seconds, that fits every mode's
// latencies, so that the charts of both modes compare directly.
func latencyAxes(s summary) axes {
	lo, hi := math.Inf(1), 0.0
	for _, ms := range s.Modes {
		for d := range numDeps {
			for _, st := range ms.Series[d] {
				if st.P50 > 0 {
					lo = min(lo, st.P50.Seconds())
				}
				hi = max(hi, st.P99.Seconds())
			}
		}
	}
	if hi == 0 {
		lo, hi = 1e-3, 1
	}
	lo = math.Pow(10, math.Floor(math.Log10(max(lo, 1e-5))))
	hi = math.Pow(10, math.Ceil(math.Log10(max(hi, 10*lo))))
	return axes{duration: s.Schedule.duration(), yMin: lo, yMax: hi, log: true}
}

func latencyChart(ms modeSummary, s summary, a axes) chart {
	c := newChart(fmt.Sprintf("%s — latency p50 (dashed) and p99, log scale", ms.Kind), a, s.Schedule)
	for v := a.yMin; v <= a.yMax*1.0001; v *= 10 {
		c.Grid = append(c.Grid, tick{Pos: a.y(v), Label: decade(v)})
	}
	x := func(i int) float64 { return a.x(time.Duration(i)*time.Second + time.Second/2) }
	for d := range numDeps {
		series := ms.Series[d]
		for _, q := range []struct {
			get   func(stats) time.Duration
			width float64
			dash  string
		}{
			{func(st stats) time.Duration { return st.P50 }, 1.3, "5 3"},
			{func(st stats) time.Duration { return st.P99 }, 2.2, ""},
		} {
			c.Lines = append(c.Lines, line{
				D: path(len(series), x, func(i int) (float64, bool) {
					v := q.get(series[i])
					return a.y(v.Seconds()), v > 0
				}),
				Stroke: depColor[d], Width: q.width, Dash: q.dash,
			})
		}
	}
	c.Legend = []legendItem{
		{X: plotLeft, Stroke: depColor[depA], Label: "A (always healthy)"},
		{X: plotLeft + 150, Stroke: depColor[depB], Label: "B (the failing one)"},
	}
	if len(ms.Transitions) > 0 || ms.Kind == modeStandard {
		c.Strip = breakerStrip(ms.Transitions, a)
		c.StripY = plotTop + c.PH + 2
	}
	return c
}

func successChart(ms modeSummary, s summary, a axes) chart {
	c := newChart(fmt.Sprintf("%s — requests served, %%", ms.Kind), a, s.Schedule)
	for v := 0.0; v <= 100; v += 25 {
		c.Grid = append(c.Grid, tick{Pos: a.y(v), Label: fmt.Sprintf("%g%%", v)})
	}
	x := func(i int) float64 { return a.x(time.Duration(i)*time.Second + time.Second/2) }
	for d := range numDeps {
		series := ms.Series[d]
		c.Lines = append(c.Lines, line{
			D: path(len(series), x, func(i int) (float64, bool) {
				return a.y(series[i].successPct()), series[i].Requests > 0
			}),
			Stroke: depColor[d], Width: 2.2,
		})
	}
	c.Legend = []legendItem{
		{X: plotLeft, Stroke: depColor[depA], Label: "A"},
		{X: plotLeft + 60, Stroke: depColor[depB], Label: "B"},
	}
	return c
}

// breakerStrip draws B's breaker state over time as colored segments.
func breakerStrip(ts []transition, a axes) []segment {
	var segs []segment
	from, state := time.Duration(0), breaker.StateClosed
	for _, t := range append(ts, transition{At: a.duration, To: breaker.StateClosed}) {
		at := min(max(t.At, 0), a.duration)
		if at > from {
			x0, x1 := a.x(from), a.x(at)
			segs = append(segs, segment{X: x0, W: max(x1-x0, 0.5), Fill: stateFill[state]})
		}
		from, state = max(from, at), t.To
	}
	return segs
}

type reportPage struct {
	Title    string
	Intro    []string
	Header   []string
	Modes    int
	Rows     []summaryRow
	Charts   [][]chart // rows of charts, one column per mode
	Breakers []string
	Look     string
}

func writeReport(path string, s summary) error {
	lat := latencyAxes(s)
	pctAxes := axes{duration: s.Schedule.duration(), yMin: 0, yMax: 100}
	page := reportPage{
		Title: "cascade: a failing dependency, with and without protection",
		Intro: []string{
			fmt.Sprintf("%.0f requests/s arrive at each of two frontends with %d workers each, for %v; half need A (always healthy), half need B.",
				s.Config.Rate, s.Config.Concurrency, s.Config.Duration),
			"B's phases: " + s.Schedule.String() + ".",
			"Both modes ran side by side, each with its own A and B servers and the same seeds; they shared only the CPU. " +
				"Latency counts from each request's arrival, queueing included; a user gives up after " + s.Config.Deadline.String() + ".",
		},
		Look: lookFor,
	}
	for _, ms := range s.Modes {
		page.Intro = append(page.Intro, fmt.Sprintf("%s: %s.", ms.Kind, ms.Label))
	}
	if s.Interrupted {
		page.Intro = append(page.Intro, "This run was interrupted: the report covers what ran.")
	}
	if s.Forced {
		page.Intro = append(page.Intro, "Calls outlived their deadline: the servers were closed under them to end the run.")
	}
	page.Header = []string{""}
	var latRow, okRow []chart
	for _, ms := range s.Modes {
		page.Header = append(page.Header, ms.Kind.String())
		latRow = append(latRow, latencyChart(ms, s, lat))
		okRow = append(okRow, successChart(ms, s, pctAxes))
		for _, t := range ms.Transitions {
			page.Breakers = append(page.Breakers, fmt.Sprintf("%s: B's breaker %v → %v at %.2fs (%s)",
				ms.Kind, t.From, t.To, t.At.Seconds(), phaseNames[s.Schedule.phaseAt(t.At)]))
		}
	}
	page.Rows, page.Modes = s.rows(), len(s.Modes)
	page.Charts = [][]chart{latRow, okRow}

	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("cascade: report: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("cascade: report: %w", err)
	}
	return nil
}

// lookFor tells a reader what the run shows.
const lookFor = "Watch A, the dependency that never fails. While B hangs, each call the plain client " +
	"makes to B holds a worker until its timeout; soon every worker waits on B and A's requests queue " +
	"behind them, so A's p99 grows from milliseconds to seconds although A is healthy. With the standard " +
	"transport, B's breaker opened during the 503s: calls to B fail in well under a millisecond without " +
	"reaching B (B hits per call near 0 instead of 1, a few connections instead of one per timed-out call), " +
	"the bulkhead would cap B's share of the workers anyway, and A's p99 does not move. After the heal, " +
	"the standard transport serves B again once its half-open probe succeeds."

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"add": func(a, b float64) float64 { return a + b },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1120px; }
table { border-collapse: collapse; margin: 12px 0 20px; }
td, th { padding: 3px 12px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
th { background: #f4f6f7; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
svg { background: #fff; border: 1px solid #ddd; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .title { font-size: 13px; font-weight: 600; }
svg .phase { font-size: 10px; fill: #666; }
.note { color: #555; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Intro}}<p>{{.}}</p>
{{end}}<h2>Summary</h2>
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Label}}</td>{{if eq (len .Values) 1}}<td colspan="{{$.Modes}}">{{index .Values 0}}</td>{{else}}{{range .Values}}<td>{{.}}</td>{{end}}{{end}}</tr>
{{end}}</table>
<p>{{.Look}}</p>
<h2>Over time</h2>
<p class="note">One point per second, by arrival: a request that arrived while B hung but waited in the queue until after the heal counts, served, at its arrival. Background: B's phases. Under the standard transport's latency chart, B's breaker: green closed, amber half-open, red open.</p>
{{range .Charts}}<div class="row">
{{range .}}{{template "chart" .}}{{end}}</div>
{{end}}{{if .Breakers}}<h2>B's breaker</h2>
<ul>
{{range .Breakers}}<li>{{.}}</li>
{{end}}</ul>
{{end}}</body>
</html>
{{define "chart"}}{{$c := .}}<svg xmlns="http://www.w3.org/2000/svg" width="{{f .W}}" height="{{f .H}}" viewBox="0 0 {{f .W}} {{f .H}}">
<text class="title" x="{{f .PX}}" y="14">{{.Title}}</text>
{{range .Bands}}<rect x="{{f .X}}" y="{{f $c.PY}}" width="{{f .W}}" height="{{f $c.PH}}" fill="{{.Fill}}"/>
<text class="phase" x="{{f .LabelX}}" y="{{f (add $c.PY -4)}}" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Grid}}<line x1="{{f $c.PX}}" x2="{{f (add $c.PX $c.PW)}}" y1="{{f .Pos}}" y2="{{f .Pos}}" stroke="#ccc" stroke-width="0.6"/>
<text x="{{f (add $c.PX -4)}}" y="{{f (add .Pos 4)}}" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<line x1="{{f .Pos}}" x2="{{f .Pos}}" y1="{{f (add $c.PY $c.PH)}}" y2="{{f (add $c.PY (add $c.PH 4))}}" stroke="#888"/>
<text x="{{f .Pos}}" y="{{f (add $c.H -6)}}" text-anchor="middle">{{.Label}}</text>
{{end}}<rect x="{{f .PX}}" y="{{f .PY}}" width="{{f .PW}}" height="{{f .PH}}" fill="none" stroke="#999"/>
{{range .Strip}}<rect x="{{f .X}}" y="{{f $c.StripY}}" width="{{f .W}}" height="7" fill="{{.Fill}}"/>
{{end}}{{range .Lines}}{{if .D}}<path d="{{.D}}" fill="none" stroke="{{.Stroke}}" stroke-width="{{f .Width}}"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}} stroke-linejoin="round"/>
{{end}}{{end}}{{range .Legend}}<line x1="{{f .X}}" x2="{{f (add .X 18)}}" y1="27" y2="27" stroke="{{.Stroke}}" stroke-width="2.2"/>
<text x="{{f (add .X 22)}}" y="31">{{.Label}}</text>
{{end}}</svg>
{{end}}`))
