package cloudevents

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/herald"
)

// isCEHeader reports whether the header name k has the ce- prefix, in any
// case.
func isCEHeader(k string) bool {
	return len(k) > 3 && (k[0]|0x20) == 'c' && (k[1]|0x20) == 'e' && k[2] == '-'
}

// ceHeaders reports whether h has a ce-specversion header, and names the
// first ce- header in sort order (empty if there is none).
func ceHeaders(h http.Header) (hasSpec bool, first string) {
	for k := range h {
		if !isCEHeader(k) {
			continue
		}
		if strings.EqualFold(k[3:], "specversion") {
			hasSpec = true
		}
		if first == "" || strings.ToLower(k) < strings.ToLower(first) {
			first = k
		}
	}
	return hasSpec, strings.ToLower(first)
}

// ceHeader is one ce- header: its attribute name and its raw value.
type ceHeader struct {
	name  string
	value string
}

// headerErr reports a problem with the ce- header of an attribute.
func headerErr(name string, err error) *fieldError {
	name = shortName(name)
	return &fieldError{field: name, msg: fmt.Sprintf("header %q: %v", "ce-"+name, err)}
}

// binary decodes a binary-mode CloudEvent (HTTP protocol binding, section
// 3.1): attributes from ce- headers, data from the body, whose media type
// is the Content-Type ct.
func (d *decoder) binary(h http.Header, ct string, body []byte) ([]herald.Event, bool, error) {
	e, fe := d.binaryEvent(h, ct, body)
	if fe != nil {
		return nil, false, invalid(fe)
	}
	return []herald.Event{e}, false, nil
}

func (d *decoder) binaryEvent(h http.Header, ct string, body []byte) (herald.Event, *fieldError) {
	var e herald.Event
	hs := make([]ceHeader, 0, 8)
	for k, vs := range h {
		if !isCEHeader(k) {
			continue
		}
		name := strings.ToLower(k[3:])
		if len(vs) != 1 {
			return e, &fieldError{field: shortName(name), msg: fmt.Sprintf("header %q appears %d times; send it once", "ce-"+shortName(name), len(vs))}
		}
		hs = append(hs, ceHeader{name: name, value: vs[0]})
	}
	// Work in a fixed order, so that the same request always gets the same
	// error: specversion first (other attributes mean nothing under an
	// unknown version), then by name.
	rank := func(h ceHeader) int {
		if h.name == "specversion" {
			return 0
		}
		return 1
	}
	slices.SortFunc(hs, func(a, b ceHeader) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.name, b.name))
	})

	hasTime := false
	for i, hd := range hs {
		if i > 0 && hs[i-1].name == hd.name {
			return e, &fieldError{field: shortName(hd.name), msg: fmt.Sprintf("header %q appears more than once", "ce-"+shortName(hd.name))}
		}
		s, err := headerValue(hd.value)
		if err != nil {
			return e, headerErr(hd.name, err)
		}
		switch hd.name {
		case "specversion":
			err = checkSpecVersion(s)
		case "id":
			err = checkNonEmpty(s)
			e.SpecID = s
		case "source":
			if err = checkNonEmpty(s); err == nil {
				err = checkURIReference(s)
			}
			e.Source = s
		case "type":
			err = checkType(s)
			e.Type = s
		case "subject":
			err = checkNonEmpty(s)
			e.Subject = s
		case "time":
			e.Time, err = parseTimestamp(s)
			hasTime = true
		case "dataschema":
			if err = checkNonEmpty(s); err == nil {
				err = checkAbsoluteURI(s)
			}
			e.DataSchema = s
		case "datacontenttype":
			err = errors.New("must not be sent in binary mode: the Content-Type header gives the data's content type")
		case "data":
			err = errors.New(`"data" is reserved and cannot be an attribute; the body is the data`)
		case attrHeraldID, attrHeraldParent:
			continue // set by Herald; see attrHeraldID
		default:
			if !validName(hd.name) {
				err = errName
			} else if err = checkString(s); err == nil {
				if e.Extensions == nil {
					e.Extensions = make(map[string]any, 4)
				}
				// The binding carries no type information: an extension
				// stays the string it was sent as.
				e.Extensions[hd.name] = s
			}
		}
		if err != nil {
			return e, headerErr(hd.name, err)
		}
	}
	// A present attribute is never empty (that is an error above).
	for _, req := range []struct{ name, value string }{{"id", e.SpecID}, {"source", e.Source}, {"type", e.Type}} {
		if req.value == "" {
			return e, &fieldError{field: req.name, msg: fmt.Sprintf("header %q is required", "ce-"+req.name)}
		}
	}
	if !hasTime {
		e.Time = d.defaultTime()
	}
	if ct != "" {
		if err := checkString(ct); err != nil {
			return e, &fieldError{field: "datacontenttype", msg: fmt.Sprintf("header %q: %v", "Content-Type", err)}
		}
		// Kept even without a body: datacontenttype may appear without data.
		e.DataContentType = ct
	}
	if len(body) > 0 {
		if err := setBytes(&e, body, "Content-Type", "the body"); err != nil {
			return e, &fieldError{field: "data", msg: err.Error()}
		}
	}
	return e, nil
}

// headerValue decodes a ce- header value (HTTP protocol binding, section
// 3.1.3.2): a double-quoted string is unquoted first, then one round of
// percent-decoding is done, and the result must be valid UTF-8.
func headerValue(v string) (string, error) {
	v = strings.Trim(v, " \t")
	if strings.HasPrefix(v, `"`) {
		var sb strings.Builder
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			sb.WriteByte(v[i])
		}
		if i >= len(v) {
			return "", errors.New("has an unterminated quoted string")
		}
		if i != len(v)-1 {
			return "", errors.New("has text after its quoted string")
		}
		v = sb.String()
	}
	if strings.IndexByte(v, '%') < 0 {
		if !utf8.ValidString(v) {
			return "", errors.New("is not valid UTF-8; percent-encode characters outside printable ASCII")
		}
		return v, nil
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b = append(b, v[i])
			continue
		}
		if !pctEncoded(v[i:]) {
			return "", fmt.Errorf("has an invalid percent-encoding at byte offset %d: %% must be followed by two hex digits", i)
		}
		b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
		i += 2
	}
	if !utf8.Valid(b) {
		return "", errors.New("percent-decodes to bytes that are not valid UTF-8")
	}
	return string(b), nil
}

// unhex returns the value of a hex digit.
func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
