package resilienthttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/resilienthttp"
)

// secrets must never appear in an error text.
var secrets = []string{"alice", "hunter2", "token", "s3cr3t", "frag"}

func checkRedacted(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s %q contains %q", what, text, s)
		}
	}
}

// TestErrorsRedactURL: the transport's errors and the StatusErrors that
// policies see carry the URL without userinfo, query or fragment.
func TestErrorsRedactURL(t *testing.T) {
	srv := newServer(t, statuses(503))
	secretURL := func(hostport string) string {
		return "http://alice:hunter2@" + hostport + "/v1/items?token=s3cr3t#frag"
	}
	t.Run("status error", func(t *testing.T) {
		rec := &recorder{}
		tr := resilienthttp.NewTransport(newHTTPTransport(t), rec)
		req, _ := http.NewRequest("GET", secretURL(strings.TrimPrefix(srv.URL, "http://")), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		var se *resilienthttp.StatusError
		if !errors.As(rec.errors()[0], &se) {
			t.Fatalf("op error %v is no *StatusError", rec.errors()[0])
		}
		want := "resilienthttp: GET " + srv.URL + "/v1/items: 503 Service Unavailable"
		if got := se.Error(); got != want {
			t.Errorf("StatusError text %q, want %q", got, want)
		}
		checkRedacted(t, "StatusError", se.Error())
	})
	t.Run("network error", func(t *testing.T) {
		tr := resilienthttp.NewTransport(newHTTPTransport(t), retryN(2))
		req, _ := http.NewRequest("GET", secretURL(closedAddr(t)), nil)
		_, err := tr.RoundTrip(req)
		if err == nil {
			t.Fatal("got no error")
		}
		checkRedacted(t, "error", err.Error())
	})
	t.Run("rejection", func(t *testing.T) {
		reject := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error {
			return resilience.NewRejection("breaker: open")
		})
		tr := resilienthttp.NewTransport(newHTTPTransport(t), reject)
		req, _ := http.NewRequest("POST", secretURL("127.0.0.1:1"), nil)
		_, err := tr.RoundTrip(req)
		want := "resilienthttp: POST http://127.0.0.1:1/v1/items: breaker: open"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	})
}

func TestRedactedURLForms(t *testing.T) {
	tests := []struct {
		url  *url.URL
		want string
	}{
		{&url.URL{Scheme: "https", Host: "api.example.com", Path: "/a b", RawQuery: "token=s3cr3t"}, "https://api.example.com/a%20b"},
		{&url.URL{Scheme: "http", Host: "alice:hunter2@example.com", Path: "/"}, "http://example.com/"},
		{&url.URL{Scheme: "http", User: url.UserPassword("alice", "hunter2"), Host: "[::1]:8080", Fragment: "frag"}, "http://[::1]:8080"},
		{&url.URL{Scheme: "http", Opaque: "//example.com/token/s3cr3t"}, "http:"},
	}
	for _, tt := range tests {
		reject := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return errors.New("no") })
		_, err := resilienthttp.NewTransport(nil, reject).RoundTrip(&http.Request{Method: "GET", URL: tt.url, Header: http.Header{}})
		var e *resilienthttp.Error
		if !errors.As(err, &e) || e.URL != tt.want {
			t.Errorf("%#v: got %v, want URL %q", tt.url, err, tt.want)
		}
	}
}

func TestHostKey(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"http://Example.COM/path?q=1", "example.com"},
		{"http://example.com:80/", "example.com"},
		{"https://example.com:443/", "example.com"},
		{"http://example.com:443/", "example.com:443"},
		{"https://example.com:80/", "example.com:80"},
		{"http://example.com:8080/", "example.com:8080"},
		{"http://alice:hunter2@example.com/", "example.com"},
		{"http://[::1]:80/", "[::1]"},
		{"http://127.0.0.1:9000/", "127.0.0.1:9000"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest("GET", tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := resilienthttp.HostKey(req); got != tt.want {
			t.Errorf("HostKey(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
	req := &http.Request{URL: &url.URL{Scheme: "http", Host: "bob:pw@Example.com"}}
	if got := resilienthttp.HostKey(req); got != "example.com" {
		t.Errorf("HostKey with userinfo in Host = %q, want %q", got, "example.com")
	}
	if got := resilienthttp.HostKey(&http.Request{}); got != "" {
		t.Errorf("HostKey without URL = %q, want empty", got)
	}
}

type keyCtx struct{}

func withTestKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// TestKeyInContext: the policy finds the request's key in its context, by
// default the host, or what WithKeyFunc computes; without WithContextKey
// there is none.
func TestKeyInContext(t *testing.T) {
	srv := newServer(t, statuses(200))
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name string
		opts []resilienthttp.Option
		want any
	}{
		{"no hook", nil, nil},
		{"host", []resilienthttp.Option{resilienthttp.WithContextKey(withTestKey)}, host},
		{"hook returning nil", []resilienthttp.Option{
			resilienthttp.WithContextKey(func(context.Context, string) context.Context { return nil }),
		}, nil},
		{"custom key", []resilienthttp.Option{
			resilienthttp.WithContextKey(withTestKey),
			resilienthttp.WithKeyFunc(func(r *http.Request) string { return r.Method + " " + r.URL.Path }),
		}, "GET /users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			seeKey := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				got = ctx.Value(keyCtx{})
				return op(ctx)
			})
			tr := resilienthttp.NewTransport(newHTTPTransport(t), seeKey, tt.opts...)
			req, _ := http.NewRequest("GET", "http://user:pw@"+host+"/users?id=7", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if got != tt.want {
				t.Errorf("key %v, want %v", got, tt.want)
			}
		})
	}
}
