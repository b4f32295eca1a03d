package keyed_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/internal/observe/observetest"
	"github.com/cascadeguard/resilience/keyed"
	"github.com/cascadeguard/resilience/telemetry"
	"github.com/cascadeguard/resilience/timeout"
)

var errDown = errors.New("down")

// breakers returns a factory of breakers built from cfg, each with its key
// as Telemetry.Key, as the package documentation shows.
func breakers(cfg breaker.Config) keyed.Factory {
	return func(key string) (resilience.Policy, error) {
		c := cfg
		c.Telemetry.Key = key
		return breaker.New(c)
	}
}

// TestFactoryKeyBecomesTheAttribute: each instance's series, span events
// and logs carry its key, sanitized (a URL's user information, path and
// query never appear), and the overflow instance's carry "_other".
func TestFactoryKeyBecomesTheAttribute(t *testing.T) {
	sdk := observetest.New(t)
	cfg := breaker.Config{Name: "keyed-attr", ConsecutiveFailures: 1, Telemetry: sdk.Settings("")}
	k := mustNew(t, keyed.Config{MaxKeyLen: 64}, breakers(cfg))
	keys := map[string]string{ // key in the context → attribute value
		"https://user:pw@A.example:8443/v1/items?token=secret": "a.example:8443",
		"b.example:443":                   "b.example:443",
		"/pkg.Service/Method":             "/pkg.Service/Method",
		strings.Repeat("x", 65) + ".host": observe.Overflow,
	}
	ctx, end := sdk.Span(context.Background())
	for key := range keys {
		_ = k.Do(keyed.WithKey(ctx, key), func(context.Context) error { return nil })
		_ = k.Do(keyed.WithKey(ctx, key), func(context.Context) error { return errDown }) // opens it
		_ = k.Do(keyed.WithKey(ctx, key), func(context.Context) error { return nil })     // rejected
	}
	events := end()
	eventKeys := map[string]bool{}
	for _, e := range events {
		eventKeys[e.Attrs[observe.AttrKey]] = true
	}
	logs := strings.Join(sdk.Logs(), "\n")
	got := sdk.Collect(t)
	for _, want := range keys {
		if !eventKeys[want] {
			t.Errorf("no rejection event with key %q in %+v", want, events)
		}
		if !strings.Contains(logs, "resilience.key="+want+" ") {
			t.Errorf("no state-change log with key %q in\n%s", want, logs)
		}
		for _, outcome := range []string{"success", "failure", "rejected"} {
			p, ok := observetest.Find(got[observe.MetricCalls], map[string]string{
				observe.AttrName: "keyed-attr", observe.AttrKey: want, observe.AttrOutcome: outcome,
			})
			if !ok || p.Value != 1 {
				t.Errorf("calls{key=%q, outcome=%s}: got %+v (found %v), want 1", want, outcome, p, ok)
			}
		}
		if _, ok := observetest.Find(got[observe.MetricBreakerState], map[string]string{observe.AttrKey: want}); !ok {
			t.Errorf("no state gauge for key %q", want)
		}
	}
	if n := len(got[observe.MetricBreakerState]); n != len(keys) {
		t.Errorf("state series: got %d, want %d", n, len(keys))
	}
	for _, v := range sdk.Values(t, events) {
		for _, secret := range []string{"user", "pw", "token", "secret", "/v1", "xxxx"} {
			if strings.Contains(v, secret) {
				t.Errorf("attribute value %q contains %q", v, secret)
			}
		}
	}
}

// TestKeyCardinalityIsCapped: however many keys a Keyed is asked for, the
// instances' series stay bounded: the first telemetry-admitted keys of a
// policy name get their own, the rest share "_other".
func TestKeyCardinalityIsCapped(t *testing.T) {
	sdk := observetest.New(t)
	cfg := breaker.Config{Name: "keyed-cap", Telemetry: sdk.Settings("")}
	k := mustNew(t, keyed.Config{}, breakers(cfg))
	const n = observe.MaxKeysPerName + 30
	for i := range n {
		p, err := k.Policy("host-" + strconv.Itoa(i) + ".example")
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Do(context.Background(), func(context.Context) error { return nil })
	}
	if k.Len() != n {
		t.Fatalf("instances: got %d, want %d", k.Len(), n)
	}
	pts := sdk.Collect(t)[observe.MetricCalls]
	if len(pts) != observe.MaxKeysPerName+1 {
		t.Errorf("series: got %d, want %d (one per admitted key, plus _other)", len(pts), observe.MaxKeysPerName+1)
	}
	other, ok := observetest.Find(pts, map[string]string{observe.AttrKey: observe.Overflow})
	if !ok || other.Value != 30 {
		t.Errorf("calls{key=_other}: got %+v (found %v), want 30", other, ok)
	}
}

// opaque is a policy that does not report a status.
type opaque struct{}

func (opaque) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

func TestStatus(t *testing.T) {
	factory := func(key string) (resilience.Policy, error) {
		switch key {
		case "opaque":
			return opaque{}, nil
		case "per-attempt":
			return timeout.New(timeout.Config{Name: "t", Duration: time.Second}) // no Telemetry.Key
		case "https://u:p@noKey.example/x?q=1":
			return breaker.New(breaker.Config{Name: "b"}) // no Telemetry.Key
		}
		return breaker.New(breaker.Config{Name: "b", ConsecutiveFailures: 1, OpenFor: time.Hour, Telemetry: telemetry.Settings{Key: key}})
	}
	k := mustNew(t, keyed.Config{Name: "per-host", MaxKeyLen: 40}, factory)
	ctx := context.Background()
	for _, key := range []string{"z.example", "a.example", "opaque", "per-attempt", "https://u:p@noKey.example/x?q=1", strings.Repeat("o", 41)} {
		_ = k.Do(keyed.WithKey(ctx, key), func(context.Context) error { return nil })
	}
	_ = k.Do(keyed.WithKey(ctx, "z.example"), func(context.Context) error { return errDown }) // opens it

	got := k.Status()
	type inst struct{ kind, name, key, state string }
	var insts []inst
	for _, s := range got.Instances {
		i := inst{s.Kind, s.Name, s.Key, ""}
		if s.Breaker != nil {
			i.state = s.Breaker.State
		}
		insts = append(insts, i)
	}
	want := []inst{
		{"breaker", "b", "a.example", "closed"},
		{"breaker", "b", "nokey.example", "closed"}, // sanitized from the key it is held under
		{"timeout", "t", "per-attempt", ""},
		{"breaker", "b", "z.example", "open"},
		{"breaker", "b", keyed.OverflowKey, "closed"}, // overflow last
	}
	if got.Kind != "keyed" || got.Name != "per-host" || got.Key != "" || got.Breaker != nil || !equal(insts, want) {
		t.Errorf("Status: got kind %q name %q key %q instances\n%+v\nwant kind keyed name per-host instances\n%+v",
			got.Kind, got.Name, got.Key, insts, want)
	}

	var zero keyed.Keyed
	if st := zero.Status(); st.Kind != "keyed" || st.Instances != nil {
		t.Errorf("zero Keyed Status: got %+v, want kind keyed and no instances", st)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStatusPage serves a registered Keyed of real breakers through
// telemetry.StatusHandler and reads it back as a dashboard would.
func TestStatusPage(t *testing.T) {
	k := mustNew(t, keyed.Config{Name: "per-host"}, breakers(breaker.Config{Name: "upstream", ConsecutiveFailures: 1, OpenFor: time.Hour}))
	_ = k.Do(keyed.WithKey(context.Background(), "down.example"), func(context.Context) error { return errDown })
	_ = k.Do(keyed.WithKey(context.Background(), "up.example"), func(context.Context) error { return nil })
	var reg telemetry.Registry
	if err := reg.Register("upstream-breakers", k); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(telemetry.StatusHandler(&reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Policies []telemetry.Entry `json:"policies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(doc.Policies) != 1 {
		t.Fatalf("got %d with %+v, want 200 and one entry", resp.StatusCode, doc.Policies)
	}
	st := doc.Policies[0].Status
	if doc.Policies[0].Name != "upstream-breakers" || st.Kind != "keyed" || len(st.Instances) != 2 {
		t.Fatalf("entry: got %+v, want upstream-breakers, keyed, 2 instances", doc.Policies[0])
	}
	for i, want := range []struct{ key, state string }{{"down.example", "open"}, {"up.example", "closed"}} {
		in := st.Instances[i]
		if in.Key != want.key || in.Breaker == nil || in.Breaker.State != want.state {
			t.Errorf("instance %d: got %+v (breaker %+v), want key %s state %s", i, in, in.Breaker, want.key, want.state)
		}
	}
}
