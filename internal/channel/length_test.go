package channel

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		text string
		max  int
		want string
	}{
		{"hello", 0, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 6, "hello…"},
		{"日本語のテキスト", 4, "日本語…"},
		{"abc", 1, "a"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.text, tt.max); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	if got := Split("short", 10); got != nil {
		t.Errorf("Split of a fitting text = %q, want nil", got)
	}
	text := strings.Repeat("word ", 50) + "\n" + strings.Repeat("日本", 40)
	parts := Split(text, 30)
	if len(parts) < 2 {
		t.Fatalf("Split gave %d parts", len(parts))
	}
	var joined int
	for i, p := range parts {
		if n := utf8.RuneCountInString(p); n > 30 || n == 0 {
			t.Errorf("part %d has %d runes: %q", i, n, p)
		}
		if i < len(parts)-1 && strings.HasSuffix(p, "wor") {
			t.Errorf("part %d cut a word: %q", i, p)
		}
		joined += utf8.RuneCountInString(strings.NewReplacer(" ", "", "\n", "").Replace(p))
	}
	if want := utf8.RuneCountInString(strings.NewReplacer(" ", "", "\n", "").Replace(text)); joined != want {
		t.Errorf("parts hold %d non-space runes, text has %d", joined, want)
	}
}
