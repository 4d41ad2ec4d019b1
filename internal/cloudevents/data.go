package cloudevents

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/herald"
)

// memberData sets e.Data from the raw "data" and "data_base64" members of
// a JSON-encoded event (nil when absent), following the mapping described
// in the package documentation. e.DataContentType is already set.
func memberData(e *herald.Event, data, data64 []byte) *fieldError {
	if data64 != nil && data64[0] == 'n' {
		data64 = nil // null means absent
	}
	switch {
	case data != nil && data64 != nil:
		return &fieldError{field: "data_base64", msg: `attributes "data" and "data_base64" are both present; send one of them`}
	case data != nil:
		k := kindOf(e.DataContentType)
		if k == dataJSON {
			// The JSON value itself, even null: the JSON format tells an
			// explicit null payload from an absent one.
			e.Data = compact(data)
			return nil
		}
		if data[0] == 'n' {
			return nil // non-JSON data cannot be null; read it as absent
		}
		if data[0] != '"' {
			return attrErr("data", fmt.Errorf("must be a string because datacontenttype %s is not JSON, got %s",
				quoteShort(e.DataContentType), kind(data)))
		}
		if k == dataText {
			e.Data = append(json.RawMessage(nil), data...)
			return nil
		}
		s, err := unquote(data[1 : len(data)-1])
		if err != nil {
			return attrErr("data", err)
		}
		e.Data = base64String([]byte(s))
		return nil
	case data64 != nil:
		if data64[0] != '"' {
			return attrErr("data_base64", fmt.Errorf("must be a base64 string, got %s", kind(data64)))
		}
		text, err := unquote(data64[1 : len(data64)-1])
		if err != nil {
			return attrErr("data_base64", err)
		}
		// Line breaks, as MIME writes base64, are skipped by the decoder.
		b := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		n, err := base64.StdEncoding.Decode(b, []byte(text))
		if err != nil {
			var corrupt base64.CorruptInputError
			if errors.As(err, &corrupt) {
				return attrErr("data_base64", fmt.Errorf("must be standard base64 (RFC 4648), invalid at byte offset %d", int64(corrupt)))
			}
			return attrErr("data_base64", fmt.Errorf("must be standard base64 (RFC 4648): %w", err))
		}
		if err := setBytes(e, b[:n], "datacontenttype", "the decoded data"); err != nil {
			return attrErr("data_base64", err)
		}
	}
	return nil
}

// setBytes sets e.Data from data given as bytes (decoded data_base64, or a
// binary-mode body), following the mapping described in the package
// documentation. The returned error says what is wrong with the bytes;
// declarer names where the content type came from ("datacontenttype",
// "Content-Type") and what the bytes ("the body").
func setBytes(e *herald.Event, b []byte, declarer, what string) error {
	switch kindOf(e.DataContentType) {
	case dataJSON:
		if e.DataContentType == "" && !(json.Valid(b) && utf8.Valid(b)) {
			// Bytes of unknown type that are not JSON: say what they are
			// rather than guess.
			e.DataContentType = mediaOctets
			e.Data = base64String(b)
			return nil
		}
		if err := checkJSON(b, "JSON"); err != nil {
			return fmt.Errorf("%s %s declares JSON, but %s is %w", declarer, quoteShort(e.DataContentType), what, err)
		}
		e.Data = compact(b)
	case dataText:
		if !utf8.Valid(b) {
			return fmt.Errorf("%s %s declares text, but %s is not valid UTF-8 (byte offset %d); send binary data as %s",
				declarer, quoteShort(e.DataContentType), what, invalidUTF8Offset(b), mediaOctets)
		}
		e.Data = appendString(make(json.RawMessage, 0, len(b)+2), string(b))
	default:
		e.Data = base64String(b)
	}
	return nil
}

// compact returns a copy of the valid JSON value b without insignificant
// space. Pretty-printed payloads would otherwise be stored, and sent on,
// with all their indentation; everything else (member order, number
// literals, string escapes) is kept as the client wrote it.
func compact(b []byte) json.RawMessage {
	b = trimSpace(b)
	out := make(json.RawMessage, 0, len(b))
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			end := skipString(b, i)
			out = append(out, b[i:end]...)
			i = end
		case isSpace(c):
			i++
		default:
			start := i
			for i < len(b) && b[i] != '"' && !isSpace(b[i]) {
				i++
			}
			out = append(out, b[start:i]...)
		}
	}
	return out
}

// base64String returns b in standard base64 as a JSON string.
func base64String(b []byte) json.RawMessage {
	out := make(json.RawMessage, base64.StdEncoding.EncodedLen(len(b))+2)
	out[0] = '"'
	base64.StdEncoding.Encode(out[1:], b)
	out[len(out)-1] = '"'
	return out
}
