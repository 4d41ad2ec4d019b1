package app_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps dependencies pointing inward: the domain imports
// nothing of ours, adapters know only the channel contract, the engine
// knows no HTTP server or SQL backend, and only app knows everything.
func TestLayering(t *testing.T) {
	t.Parallel()
	const mod = "github.com/herald-notify/herald/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// allowed[pkg] lists the internal packages pkg may import (prefix match).
	allowed := map[string][]string{
		"internal/herald":      {},
		"internal/rule":        {"internal/herald"},
		"internal/render":      {"internal/herald"},
		"internal/netguard":    {},
		"internal/cloudevents": {"internal/herald"},
		"internal/channel":     {"internal/channel", "internal/herald", "internal/netguard"},
		"internal/config":      {"internal/channel", "internal/herald", "internal/netguard", "internal/render", "internal/rule"},
		"internal/store":       {"internal/store", "internal/herald", "internal/testenv"},
		"internal/testenv":     {},
		"internal/engine":      {"internal/channel", "internal/config", "internal/herald", "internal/render", "internal/rule", "internal/store"},
		"internal/server":      {"internal/cloudevents", "internal/engine", "internal/herald", "internal/store"},
		"internal/loadgen":     {"internal/herald"},
		"internal/source":      {"internal/source", "internal/config", "internal/herald", "internal/netguard", "internal/render", "internal/rule"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(pkg, mod)
		var rules []string
		matched := ""
		for p, r := range allowed {
			if (rel == p || strings.HasPrefix(rel, p+"/")) && len(p) > len(matched) {
				matched, rules = p, r
			}
		}
		if matched == "" {
			continue // app and cmd may import anything
		}
		for _, imp := range strings.Fields(imports) {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			irel := strings.TrimPrefix(imp, mod)
			ok := false
			for _, a := range rules {
				if irel == a || strings.HasPrefix(irel, a+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s; %s may import only %v", rel, irel, matched, rules)
			}
		}
	}
}
