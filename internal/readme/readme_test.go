// Package readme keeps the README's Go code compiled: every Go block in
// README.md must be, byte for byte, one of the programs under examples/,
// which go vet and go test build.
package readme

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestReadmeBlocksAreExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../examples/*/main.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	examples := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples[strings.TrimSpace(string(b))] = f
	}
	blocks := goBlocks(string(readme))
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go block")
	}
	for i, b := range blocks {
		if _, ok := examples[strings.TrimSpace(b)]; !ok {
			t.Errorf("README Go block %d is not one of %v: copy it from the example it shows (or into one):\n%s", i+1, files, b)
		}
	}
}

// goBlocks returns the bodies of the ```go fenced blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	for {
		start := strings.Index(md, "```go\n")
		if start < 0 {
			return blocks
		}
		md = md[start+len("```go\n"):]
		end := strings.Index(md, "\n```")
		if end < 0 {
			return blocks
		}
		blocks = append(blocks, md[:end+1])
		md = md[end+len("\n```"):]
	}
}
