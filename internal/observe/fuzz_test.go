package observe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSanitizeKey: keys come from untrusted input (hosts of requests, gRPC
// methods). Whatever the input, the result is short, printable UTF-8 with no
// user information, query or fragment, SanitizeKey is idempotent, and what
// follows a '?' or '#' never reaches the result.
func FuzzSanitizeKey(f *testing.F) {
	for _, s := range []string{
		"api.example.com", "127.0.0.1:8080", "/pkg.Service/Method",
		"http://user:pw@host:80/p?token=x#frag", "https://[::1]:443/", "host?q", "a@b@c",
		"http://a@b@c/", "\x00\xff", strings.Repeat("é", 300), "://", "http://%zz",
	} {
		f.Add(s, "s3cr3t")
	}
	f.Fuzz(func(t *testing.T, base, secret string) {
		got := SanitizeKey(base)
		if len(got) > MaxKeyLen {
			t.Fatalf("SanitizeKey(%q) has %d bytes, want at most %d", base, len(got), MaxKeyLen)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("SanitizeKey(%q) = %q is not valid UTF-8", base, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("SanitizeKey(%q) = %q has a control character", base, got)
			}
		}
		if strings.ContainsAny(got, "?#@") {
			t.Fatalf("SanitizeKey(%q) = %q keeps a query, fragment or user information", base, got)
		}
		if again := SanitizeKey(got); again != got {
			t.Fatalf("SanitizeKey is not idempotent: %q -> %q -> %q", base, got, again)
		}
		// A secret after '?' never survives, unless the part before it
		// (sanitized) holds the same text.
		if len(secret) < 4 || strings.ContainsAny(secret, "?#@") || strings.Contains(base, secret) || strings.Contains(got, secret) {
			return
		}
		if withQuery := SanitizeKey(base + "?token=" + secret); strings.Contains(withQuery, secret) {
			t.Fatalf("SanitizeKey(%q) = %q keeps the query's %q", base+"?token="+secret, withQuery, secret)
		}
		// Nor does a password, whatever it holds but the '/' and '@' that
		// end user information ('?' and '#' included).
		if strings.ContainsAny(secret, "/") || strings.ContainsAny(base, "/?#@") {
			return
		}
		for _, in := range []string{"u:" + secret + "?#@" + base, "https://u:" + secret + "#?@" + base + "/"} {
			if got := SanitizeKey(in); strings.Contains(got, secret) {
				t.Fatalf("SanitizeKey(%q) = %q keeps the password %q", in, got, secret)
			}
		}
	})
}
