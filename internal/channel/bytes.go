package channel

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// TruncateBytes returns s cut to at most max bytes, ending with Ellipsis
// when it was cut, for providers whose limits count UTF-8 bytes rather
// than runes (Truncate counts runes). The cut falls on a rune boundary so
// that the provider never receives half a character, and whitespace
// before the Ellipsis is dropped. A max smaller than the Ellipsis yields
// the Ellipsis alone.
func TruncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(Ellipsis)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return string(bytes.TrimRight([]byte(s[:cut]), " \t\r\n")) + Ellipsis
}

// MarshalJSON encodes v like json.Marshal but without escaping <, > and
// &: the escapes only grow a body that providers count against their
// byte limits, and make markup (mrkdwn links, HTML bodies) harder to read
// on the wire.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
