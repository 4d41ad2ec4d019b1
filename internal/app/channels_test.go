package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/config"
)

// docsDir is the repository's docs folder, seen from this package.
var docsDir = filepath.Join("..", "..", "docs")

// overviewTypes are documented in docs/channels.md itself, not on a page
// of their own.
var overviewTypes = []string{"webhook", "email", "log"}

// exampleEnv is what ${env:NAME} resolves to in the documentation's
// examples. Most names get a placeholder; the few whose value is checked
// when the configuration loads get one of the right shape.
var exampleEnv = map[string]string{
	// An https webhook URL, as Teams shows it.
	"TEAMS_WEBHOOK_URL": "https://prod-00.westeurope.logic.azure.com:443/workflows/0123456789abcdef/triggers/manual/paths/invoke?api-version=2016-06-01&sig=placeholder",
	// <bot id>:<secret>, as BotFather issues it.
	"TELEGRAM_BOT_TOKEN": "123456789:AAplaceholderplaceholderplaceholder",
	// 30 letters and digits.
	"PUSHOVER_APP_TOKEN": "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
	"PUSHOVER_USER_KEY":  "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
	// The private key of RFC 8291's application server (Appendix A),
	// whose public key the webpush example shows; the RFC publishes both.
	"HERALD_VAPID_PRIVATE_KEY": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
}

func exampleLookupEnv(name string) (string, bool) {
	if v, ok := exampleEnv[name]; ok {
		return v, true
	}
	return "placeholder", true
}

// sortedTypes returns the channel types of providers() in name order.
func sortedTypes() []string {
	var types []string
	for typ := range providers() {
		types = append(types, typ)
	}
	slices.Sort(types)
	return types
}

// docPage returns the path of the page documenting typ.
func docPage(typ string) string {
	if slices.Contains(overviewTypes, typ) {
		return filepath.Join(docsDir, "channels.md")
	}
	return filepath.Join(docsDir, "channels", typ+".md")
}

// yamlBlocks returns the contents of the ```yaml blocks of a Markdown page.
func yamlBlocks(doc string) []string {
	var blocks []string
	for {
		i := strings.Index(doc, "```yaml\n")
		if i < 0 {
			return blocks
		}
		doc = doc[i+len("```yaml\n"):]
		j := strings.Index(doc, "```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, doc[:j])
		doc = doc[j+len("```"):]
	}
}

// docExample returns the YAML example of typ: on its own page the first
// yaml block declaring channels; in docs/channels.md the first one that
// declares a channel of that type.
func docExample(t *testing.T, typ string) string {
	t.Helper()
	page := docPage(typ)
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	own := !slices.Contains(overviewTypes, typ)
	for _, b := range yamlBlocks(string(data)) {
		if !strings.Contains(b, "channels:") {
			continue
		}
		if own || strings.Contains(b, "type: "+typ+"\n") {
			return b
		}
	}
	t.Fatalf("%s has no ```yaml block with channels: for type %s", page, typ)
	return ""
}

// TestChannelDocsCoverEveryType checks that every channel type has its
// page (except those documented in the overview) and a row in the
// overview's table.
func TestChannelDocsCoverEveryType(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(docsDir, "channels.md"))
	if err != nil {
		t.Fatal(err)
	}
	overview := string(data)
	for _, typ := range sortedTypes() {
		t.Run(typ, func(t *testing.T) {
			if !strings.Contains(overview, "\n| `"+typ+"` |") {
				t.Errorf("docs/channels.md: no table row starting with | `%s` |", typ)
			}
			if slices.Contains(overviewTypes, typ) {
				if !strings.Contains(overview, "\n## "+typ+"\n") {
					t.Errorf("docs/channels.md: no section ## %s", typ)
				}
				return
			}
			if _, err := os.Stat(docPage(typ)); err != nil {
				t.Errorf("no page for channel type %s: %v", typ, err)
			}
			link := "(channels/" + typ + ".md)"
			if !strings.Contains(overview, link) {
				t.Errorf("docs/channels.md does not link %s", link)
			}
		})
	}
}

// TestChannelDocExamplesLoad loads each type's documented example with
// the configuration loader the server uses and builds its senders (without
// sending anything), so an example that no longer matches the code fails.
func TestChannelDocExamplesLoad(t *testing.T) {
	types := channelTypes()
	logger := slog.New(slog.DiscardHandler)
	for _, typ := range sortedTypes() {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			example := docExample(t, typ)
			src := config.Source{Path: filepath.Base(docPage(typ)) + ".yaml", Data: []byte(example)}
			cfg, err := config.LoadSources([]config.Source{src}, config.Options{
				ChannelTypes: types,
				LookupEnv:    exampleLookupEnv,
				ReadFile:     func(string) ([]byte, error) { return []byte("placeholder"), nil },
			})
			if err != nil {
				t.Fatalf("the example of %s does not load:\n%v\n--- example:\n%s", docPage(typ), err, example)
			}
			var names []string
			for name, ch := range cfg.Channels {
				if ch.Type == typ {
					names = append(names, name)
				}
			}
			if len(names) == 0 {
				t.Fatalf("the example of %s declares no channel of type %s", docPage(typ), typ)
			}
			senders, err := buildSenders(cfg, logger)
			if err != nil {
				t.Fatalf("the example of %s loads but its senders cannot be built: %v", docPage(typ), err)
			}
			defer closeSenders(senders)
			for _, name := range names {
				if senders[name] == nil {
					t.Errorf("no sender built for channel %s", name)
				}
			}
		})
	}
}
