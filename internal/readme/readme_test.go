package readme

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// goBlocks returns the ```go blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.HasPrefix(line, "```go"):
			in, cur = true, nil
		case in && strings.HasPrefix(line, "```"):
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// indent puts one tab before every non-empty line of s, as gofmt indents a
// function body.
func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n")
}

// TestSnippetsMatchReadme: every Go snippet of the README is compiled here.
func TestSnippetsMatchReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("snippets.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(readme))
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block: the parser or the README changed")
	}
	for i, b := range blocks {
		if !strings.Contains(string(src), indent(b)+"\n") {
			t.Errorf("README.md's Go block %d is not in snippets.go (copy it into a function there, indented one tab):\n%s", i+1, b)
		}
	}
}

func TestGoBlocks(t *testing.T) {
	md := "text\n```go\na := 1\n\nb()\n```\n```\nnot go\n```\n```go\nc()\n```\n"
	got := goBlocks(md)
	if len(got) != 2 || got[0] != "a := 1\n\nb()" || got[1] != "c()" {
		t.Errorf("goBlocks: got %q, want the two go blocks", got)
	}
}
