package cloudevents

import (
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Media types of the request forms.
const (
	mediaStructured = "application/cloudevents+json"
	mediaBatch      = "application/cloudevents-batch+json"
	mediaJSON       = "application/json"
	mediaCEPrefix   = "application/cloudevents"
	mediaOctets     = "application/octet-stream"
)

// parseMediaType splits a Content-Type or datacontenttype value into its
// lower-cased type/subtype and its parameters (nil when there are none).
// Unlike mime.ParseMediaType alone it insists on a subtype: "json" is not
// a media type. Values without parameters, the common case, are handled
// without allocating.
func parseMediaType(s string) (string, map[string]string, error) {
	base, rest, hasParams := strings.Cut(s, ";")
	base = strings.TrimSpace(base)
	typ, sub, ok := strings.Cut(base, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return "", nil, errors.New("not of the form type/subtype")
	}
	base = strings.ToLower(base)
	if !hasParams || strings.TrimSpace(rest) == "" {
		return base, nil, nil
	}
	_, params, err := mime.ParseMediaType(s)
	if err != nil {
		return "", nil, fmt.Errorf("malformed parameters: %w", err)
	}
	return base, params, nil
}

// checkMediaType checks the datacontenttype attribute (RFC 2046).
func checkMediaType(s string) error {
	if _, _, err := parseMediaType(s); err != nil {
		return fmt.Errorf("must be a media type (RFC 2046), got %s: %w", quoteShort(s), err)
	}
	return checkString(s)
}

// checkCharset rejects a charset parameter other than UTF-8: JSON
// exchanged between systems must be UTF-8 (RFC 8259, section 8.1).
func checkCharset(params map[string]string) error {
	cs, ok := params["charset"]
	if ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Errorf("charset %s is not supported: JSON must be UTF-8", quoteShort(cs))
	}
	return nil
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// isJSONMedia reports whether the lower-cased media type mt declares JSON:
// subtype "json" or a "+json" suffix, or no media type at all (which the
// JSON event format reads as application/json).
func isJSONMedia(mt string) bool {
	if mt == "" {
		return true
	}
	_, sub, _ := strings.Cut(mt, "/")
	return sub == "json" || strings.HasSuffix(sub, "+json")
}

// isTextMedia reports whether the lower-cased media type mt declares text
// that is kept as a string (rather than as base64) when it is not JSON.
func isTextMedia(mt string) bool {
	typ, sub, _ := strings.Cut(mt, "/")
	if typ == "text" {
		return true
	}
	switch sub {
	case "xml", "yaml", "x-yaml", "x-www-form-urlencoded", "javascript":
		return true
	}
	return strings.HasSuffix(sub, "+xml") || strings.HasSuffix(sub, "+yaml")
}

// dataKind is how an event's data is held in herald.Event.Data.
type dataKind int

const (
	dataJSON   dataKind = iota // the JSON value itself
	dataText                   // a JSON string holding the text
	dataBinary                 // a JSON string holding base64
)

// kindOf returns how data of the given datacontenttype (already checked
// to be a media type, or empty) is held.
func kindOf(datacontenttype string) dataKind {
	mt, _, _ := strings.Cut(datacontenttype, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case isJSONMedia(mt):
		return dataJSON
	case isTextMedia(mt):
		return dataText
	}
	return dataBinary
}
