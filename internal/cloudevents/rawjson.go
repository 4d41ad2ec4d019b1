package cloudevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The functions in this file walk JSON that has already been checked by
// checkJSON. Validating first with encoding/json and then slicing members
// out of the body by hand is faster than decoding into a map, keeps the raw
// bytes of "data" without a copy-and-reencode, tells null from absent, and
// matches attribute names exactly (encoding/json matches struct fields
// case-insensitively, which would let "ID" stand in for "id").

// checkJSON reports whether b is one well-formed JSON value in UTF-8, with
// an error that says where it is not. what names the document in messages
// ("JSON", "JSON data in the body").
func checkJSON(b []byte, what string) error {
	if json.Valid(b) {
		if !utf8.Valid(b) {
			return fmt.Errorf("malformed %s at byte offset %d: invalid UTF-8", what, invalidUTF8Offset(b))
		}
		return nil
	}
	// Unmarshal checks the whole document before decoding anything, so on
	// invalid input it returns the scanner's *json.SyntaxError at once.
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("malformed %s at byte offset %d: %w", what, syn.Offset, err)
	}
	return fmt.Errorf("malformed %s: %w", what, err)
}

// invalidUTF8Offset returns the offset of the first byte of b that is not
// part of a valid UTF-8 sequence.
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the offset of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace removes JSON whitespace around a value.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// skipString returns the offset just past the string whose opening quote
// is at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the offset just past the value that starts at i. It
// does not recurse, so nesting depth costs nothing here.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// objectIter yields the members of a valid JSON object in order.
type objectIter struct {
	b []byte
	i int
}

// newObjectIter starts iterating over obj, which must be a valid JSON
// object without surrounding space.
func newObjectIter(obj []byte) objectIter { return objectIter{b: obj, i: 1} }

// next returns the raw name (without quotes, possibly escaped) and the raw
// value of the next member, or ok=false at the end of the object.
func (it *objectIter) next() (name, value []byte, ok bool) {
	b := it.b
	i := skipSpace(b, it.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	end := skipString(b, i)
	name = b[i+1 : end-1]
	i = skipSpace(b, end)
	i = skipSpace(b, i+1) // the colon
	start := i
	i = skipValue(b, i)
	it.i = i
	return name, b[start:i], true
}

// forEachElement calls fn with the index and raw value of each element of
// a valid JSON array, stopping early if fn returns false.
func forEachElement(arr []byte, fn func(i int, elem []byte) bool) {
	i := skipSpace(arr, 1)
	for n := 0; i < len(arr) && arr[i] != ']'; n++ {
		end := skipValue(arr, i)
		if !fn(n, arr[i:end]) {
			return
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
}

// countElements returns the number of elements of a valid JSON array.
func countElements(arr []byte) int {
	n := 0
	forEachElement(arr, func(int, []byte) bool { n++; return true })
	return n
}

// errLoneSurrogate reports a \u escape that is half of a UTF-16 pair.
var errLoneSurrogate = errors.New("contains an unpaired UTF-16 surrogate escape")

// unquote returns the text of a valid JSON string given without its
// quotes. Unlike encoding/json, which silently turns an unpaired surrogate
// escape into U+FFFD, it rejects one: CloudEvents strings must not hold
// unpaired surrogates.
func unquote(raw []byte) (string, error) {
	if !containsByte(raw, '\\') {
		return string(raw), nil
	}
	var sb strings.Builder
	sb.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			sb.WriteByte(raw[i])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return "", errLoneSurrogate
				}
				r2 := hex4(raw[i+3 : i+7])
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", errLoneSurrogate
				}
				i += 6
			}
			sb.WriteRune(r)
		}
	}
	return sb.String(), nil
}

// hex4 decodes four hex digits, already known to be valid.
func hex4(b []byte) rune {
	n, _ := strconv.ParseUint(string(b), 16, 32)
	return rune(n)
}

// containsByte reports whether b contains c.
func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// kind describes a raw JSON value for messages: "null", "boolean true",
// "object", "array", "string", or "number 5".
func kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean " + string(raw)
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	}
	if len(raw) > 32 {
		return "number " + string(raw[:32]) + "…"
	}
	return "number " + string(raw)
}

// appendString appends s as a JSON string. s is expected to be valid UTF-8
// (events are validated); invalid bytes become U+FFFD, as encoding/json
// does.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript;
		// encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += n
			start = i
			continue
		}
		i += n
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
