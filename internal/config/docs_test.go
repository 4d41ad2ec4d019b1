package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/rule"
)

// TestDocs keeps docs/configuration.md honest: its complete example loads
// and its example conditions compile.
func TestDocs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml blocks")
	}
	opts := testOptions()
	opts.LookupEnv = func(string) (string, bool) { return "x", true }
	opts.ReadFile = func(string) ([]byte, error) { return []byte("x\n"), nil }
	if _, err := LoadSources([]Source{{Path: "example.yaml", Data: []byte(blocks[0][1])}}, opts); err != nil {
		t.Errorf("the complete example does not load:\n%v", err)
	}
	n := 0
	for _, line := range strings.Split(doc, "\n") {
		if cond, ok := strings.CutPrefix(line, "if: "); ok {
			n++
			if _, err := rule.Compile(cond); err != nil {
				t.Errorf("example condition %q: %v", cond, err)
			}
		}
	}
	if n < 5 {
		t.Errorf("found %d example conditions", n)
	}
}
