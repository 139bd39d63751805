// Package readme checks the README and the docs: every Go block in
// README.md must be, byte for byte, one of the programs under examples/,
// which go vet and go test build; and every lifecycle event is named in
// the package docs, the README and the demo.
package readme

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
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

// TestEveryLifecycleEventIsNamed fails when an event is added to the
// lifecycle package without being named in its package documentation, the
// README and the demo's timeline, and checks that each implements
// lifecycle.Event.
func TestEveryLifecycleEventIsNamed(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../../lifecycle/events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	sealed := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				if ts, ok := sp.(*ast.TypeSpec); ok && strings.HasSuffix(ts.Name.Name, "Event") && isStruct(ts.Type) {
					events = append(events, ts.Name.Name)
				}
			}
		case *ast.FuncDecl:
			if d.Recv != nil && d.Name.Name == "lifecycleEvent" {
				if id, ok := d.Recv.List[0].Type.(*ast.Ident); ok {
					sealed[id.Name] = true
				}
			}
		}
	}
	if len(events) < 16 {
		t.Fatalf("found %d event types in lifecycle/events.go, want at least 16: %v", len(events), events)
	}
	for _, name := range []string{"lifecycle/doc.go", "README.md", "cmd/demo/timeline.go"} {
		text, err := os.ReadFile("../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if !regexp.MustCompile(`\b` + ev + `\b`).Match(text) {
				t.Errorf("%s does not name lifecycle.%s", name, ev)
			}
		}
	}
	for _, ev := range events {
		if !sealed[ev] {
			t.Errorf("lifecycle.%s does not implement lifecycle.Event", ev)
		}
	}
}

func isStruct(e ast.Expr) bool { _, ok := e.(*ast.StructType); return ok }
