package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// statusDocument is the JSON body the status handler serves.
type statusDocument struct {
	Policies []Entry `json:"policies"`
}

// StatusHandler returns a read-only [http.Handler] that serves the current
// status of every policy in reg: JSON by default, or a small HTML page for a
// person. The format is chosen by the query parameter format=json or
// format=html, or else by the Accept header: HTML when it names text/html
// and not application/json (as browsers send), JSON otherwise (as curl and
// monitoring agents send).
//
// The JSON document is
//
//	{"policies": [{"name": "inventory", "status": {"kind": "breaker", ...}}, ...]}
//
// with entries sorted by name. The handler answers 200 whatever the
// policies' states: an open breaker means a dependency is down, not that
// this process is, and failing a readiness probe on it would take the whole
// fleet out of rotation at once, the very cascade the policies prevent. A
// dashboard or alert reads the states from the body instead.
//
// Only GET and HEAD are allowed (405 otherwise); an unknown format is a 400.
// Every name, key and value is escaped in the HTML page. A nil reg serves an
// empty list. The handler is safe for concurrent use.
func StatusHandler(reg *Registry) http.Handler {
	return &statusHandler{reg: reg}
}

type statusHandler struct{ reg *Registry }

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "telemetry: status is read-only; use GET", http.StatusMethodNotAllowed)
		return
	}
	asHTML, err := wantsHTML(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	doc := statusDocument{Policies: h.reg.Snapshot()}
	if doc.Policies == nil {
		doc.Policies = []Entry{}
	}

	var body bytes.Buffer
	contentType := "application/json"
	if asHTML {
		contentType = "text/html; charset=utf-8"
		err = statusPage.Execute(&body, doc)
	} else {
		enc := json.NewEncoder(&body)
		enc.SetIndent("", "  ")
		err = enc.Encode(doc)
	}
	if err != nil {
		// Only a reporter returning NaN or an infinity can get here.
		http.Error(w, "telemetry: cannot encode status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Vary", "Accept")
	if asHTML {
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	hdr.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body.Bytes())
}

// wantsHTML decides the format from ?format= first, then from Accept.
func wantsHTML(req *http.Request) (bool, error) {
	switch f := req.URL.Query().Get("format"); f {
	case "html":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		// Quote with %q and cap: the value is the client's, echoed back.
		if len(f) > 32 {
			f = f[:32]
		}
		return false, fmt.Errorf("telemetry: unknown format %q; use json or html", f)
	}
	accept := req.Header.Get("Accept")
	return strings.Contains(accept, "text/html") && !strings.Contains(accept, "application/json"), nil
}

// row is one line of the HTML table.
type row struct {
	Name, Kind, Policy, Key, State, Details string
	StateClass                              string // the bare breaker state, for styling
	Instance                                bool   // a row below the entry's own
	Deep                                    string // "d2" or "d3" for rows further down, for indenting
}

// maxDepth bounds how far down the instances of instances the page goes:
// a transport's hosts' breakers are at depth 2.
const maxDepth = 6

// rows returns the table's rows: each entry's status, then its instances,
// their instances and so on, each under the row it belongs to (a
// transport, then its keyed set of hosts, then each host's chain, then
// the host's breaker and bulkhead).
func rows(entries []Entry) []row {
	var out []row
	var walk func(name string, s Status, depth int)
	walk = func(name string, s Status, depth int) {
		out = append(out, statusRow(name, s, depth))
		if depth < maxDepth {
			for _, in := range s.Instances {
				walk(name, in, depth+1)
			}
		}
	}
	for _, e := range entries {
		walk(e.Name, e.Status, 0)
	}
	return out
}

func statusRow(name string, s Status, depth int) row {
	r := row{Name: name, Kind: s.Kind, Policy: s.Name, Key: s.Key, Instance: depth > 0}
	switch {
	case depth == 2:
		r.Deep = "d2"
	case depth > 2:
		r.Deep = "d3"
	}
	var d []string
	if b := s.Breaker; b != nil {
		r.State, r.StateClass = b.State, b.State
		if b.Mode != "" {
			r.State += " (" + b.Mode + ")"
		}
		d = append(d, fmt.Sprintf("requests %d, successes %d, failures %d (slow %d), neutral %d, consecutive failures %d",
			b.Requests, b.Successes, b.Failures, b.SlowCalls, b.Neutral, b.ConsecutiveFailures))
	}
	if b := s.Bulkhead; b != nil {
		d = append(d, fmt.Sprintf("in flight %d of %d, queued %d of %d",
			b.InFlight, b.MaxConcurrent, b.Queued, b.MaxQueue))
	}
	if rt := s.Retry; rt != nil {
		d = append(d, fmt.Sprintf("max attempts %d", rt.MaxAttempts))
		if b := rt.Budget; b != nil {
			d = append(d, fmt.Sprintf("budget: %.1f retries available (ratio %g, floor %g/s), %d allowed, %d refused",
				b.Available, b.Ratio, b.MinPerSecond, b.Allowed, b.Rejected))
			if b.Exhausted {
				r.State = "budget exhausted"
			}
		}
	}
	if rl := s.RateLimit; rl != nil {
		d = append(d, fmt.Sprintf("limit %g/s, burst %d, tokens %.1f", rl.Limit, rl.Burst, rl.Tokens))
	}
	if t := s.Timeout; t != nil {
		d = append(d, fmt.Sprintf("%gs", t.Seconds))
	}
	if n := len(s.Instances); n > 0 {
		d = append(d, fmt.Sprintf("%d instances", n))
	}
	r.Details = strings.Join(d, "; ")
	return r
}

// statusPage is rendered with html/template, which escapes every value for
// its context: names and keys are the application's, and keys may come from
// request hosts.
var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{"rows": rows}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>resilience status</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em}
table{border-collapse:collapse}
th,td{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd}
tr.instance td:first-child{padding-left:2em;color:#777}
tr.d2 td:first-child{padding-left:4em}
tr.d3 td:first-child{padding-left:6em}
.open,.half_open{font-weight:bold}
.open{color:#b00}
</style></head><body>
<h1>resilience status</h1>
{{with rows .Policies}}<table>
<tr><th>name</th><th>kind</th><th>policy</th><th>key</th><th>state</th><th>details</th></tr>
{{range .}}<tr{{if .Instance}} class="instance{{if .Deep}} {{.Deep}}{{end}}"{{end}}><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Policy}}</td><td>{{.Key}}</td><td class="{{.StateClass}}">{{.State}}</td><td>{{.Details}}</td></tr>
{{end}}</table>{{else}}<p>No policies registered.</p>{{end}}
</body></html>
`))
