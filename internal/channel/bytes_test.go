package channel

import (
	"testing"
	"unicode/utf8"
)

func TestTruncateBytes(t *testing.T) {
	for _, c := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"fits", "hello", 5, "hello"},
		{"empty", "", 0, ""},
		{"ascii cut", "hello world", 8, "hello" + Ellipsis},
		{"trailing space dropped", "hello world", 9, "hello" + Ellipsis},
		{"whitespace kinds dropped", "ab\t\r\n cdefgh", 8, "ab" + Ellipsis},
		// "€" is 3 bytes: 4+3 leaves room for one, 4+2 does not.
		{"multi-byte on boundary", "€€€€", 6, "€" + Ellipsis},
		{"multi-byte mid-rune", "€€€€", 8, "€" + Ellipsis},
		{"cjk", "你好世界你好", 12, "你好世" + Ellipsis},
		{"emoji", "👍👍👍", 9, "👍" + Ellipsis},
		{"room for ellipsis only", "abcdef", 3, Ellipsis},
		{"below ellipsis", "abcdef", 1, Ellipsis},
		{"negative", "abcdef", -1, Ellipsis},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := TruncateBytes(c.in, c.max)
			if got != c.want {
				t.Errorf("TruncateBytes(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("TruncateBytes(%q, %d) = %q, not valid UTF-8", c.in, c.max, got)
			}
			if c.max >= len(Ellipsis) && len(got) > c.max {
				t.Errorf("TruncateBytes(%q, %d) is %d bytes", c.in, c.max, len(got))
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	b, err := MarshalJSON(map[string]string{"t": "<a href=\"x?a=1&b=2\">é</a>"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"t":"<a href=\"x?a=1&b=2\">é</a>"}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	if _, err := MarshalJSON(func() {}); err == nil {
		t.Error("no error for an unsupported value")
	}
}

func TestPhone(t *testing.T) {
	for _, c := range []struct {
		in         string
		e164, like bool
	}{
		{"+14155550100", true, true},
		{"+441234567", true, true},
		{"+0123456789", false, true},
		{"14155550100", false, true},
		{"+1415555", false, true},
		{"+1234567890123456", false, false},
		{"+123456789012345", true, true},
		{"+1 415 555 0100", false, true},
		{"(415) 555-0100", false, true},
		{"+١٤١٥٥٥٥٠١٠٠", false, false},
		{"1234", false, false},
		{"abc", false, false},
		{"", false, false},
		{"+", false, false},
	} {
		if got := ValidE164(c.in); got != c.e164 {
			t.Errorf("ValidE164(%q) = %v", c.in, got)
		}
		if got := LooksLikePhone(c.in); got != c.like {
			t.Errorf("LooksLikePhone(%q) = %v", c.in, got)
		}
	}
	if Digits("") || Digits("12a") || !Digits("0123") {
		t.Error("Digits")
	}
}
