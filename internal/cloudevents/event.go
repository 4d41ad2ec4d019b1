package cloudevents

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/herald-notify/herald/internal/herald"
)

// Defaults of Herald's short form.
const shortSource = "herald:api"

// Bits recording which context attributes an object has named, to reject
// a repeated one: encoding/json would silently keep the last, and a
// repeated "id" or "source" would make the idempotency key ambiguous.
const (
	seenSpecVersion = 1 << iota
	seenID
	seenSource
	seenType
	seenSubject
	seenTime
	seenDataContentType
	seenDataSchema
	seenData
	seenDataBase64
	seenHeraldID
	seenHeraldParent
)

// object decodes one JSON object (valid, without surrounding space) into
// an event: a structured-mode CloudEvent, or Herald's short form when
// short is set. It stops at the first problem, in document order.
func (d *decoder) object(obj []byte, short bool) (herald.Event, *fieldError) {
	var (
		e       herald.Event
		seen    int
		hasSpec bool
		hasTime bool
		data    []byte // raw "data" value
		data64  []byte // raw "data_base64" value
	)
	it := newObjectIter(obj)
	for {
		rawName, value, ok := it.next()
		if !ok {
			break
		}
		name := rawName
		if containsByte(rawName, '\\') {
			s, err := unquote(rawName)
			if err != nil {
				return e, attrErr(string(rawName), errName)
			}
			name = []byte(s)
		}

		bit := 0
		switch string(name) {
		case "specversion":
			bit = seenSpecVersion
		case "id":
			bit = seenID
		case "source":
			bit = seenSource
		case "type":
			bit = seenType
		case "subject":
			bit = seenSubject
		case "time":
			bit = seenTime
		case "datacontenttype":
			bit = seenDataContentType
		case "dataschema":
			bit = seenDataSchema
		case "data":
			bit = seenData
		case "data_base64":
			bit = seenDataBase64
		case attrHeraldID:
			bit = seenHeraldID
		case attrHeraldParent:
			bit = seenHeraldParent
		default:
			if fe := extension(&e, string(name), value); fe != nil {
				return e, fe
			}
			continue
		}
		if seen&bit != 0 {
			return e, &fieldError{field: string(name), msg: fmt.Sprintf("attribute %q appears more than once", name)}
		}
		seen |= bit

		switch bit {
		case seenData:
			data = value
			continue
		case seenDataBase64:
			data64 = value
			continue
		case seenHeraldID, seenHeraldParent:
			continue // set by Herald; see attrHeraldID
		}

		s, null, err := stringValue(value)
		if err != nil {
			return e, attrErr(string(name), err)
		}
		if null {
			continue // null means absent (JSON event format, section 2.2)
		}
		switch bit {
		case seenSpecVersion:
			err = checkSpecVersion(s)
			hasSpec = true
		case seenID:
			err = checkNonEmpty(s)
			e.SpecID = s
		case seenSource:
			if err = checkNonEmpty(s); err == nil {
				err = checkURIReference(s)
			}
			e.Source = s
		case seenType:
			err = checkType(s)
			e.Type = s
		case seenSubject:
			err = checkNonEmpty(s)
			e.Subject = s
		case seenTime:
			e.Time, err = parseTimestamp(s)
			hasTime = true
		case seenDataContentType:
			err = checkMediaType(s)
			e.DataContentType = s
		case seenDataSchema:
			if err = checkNonEmpty(s); err == nil {
				err = checkAbsoluteURI(s)
			}
			e.DataSchema = s
		}
		if err != nil {
			return e, attrErr(string(name), err)
		}
	}

	// A present attribute is never empty here (that is an error above).
	switch {
	case short:
	case !hasSpec:
		return e, attrMissing("specversion")
	case e.SpecID == "":
		return e, attrMissing("id")
	case e.Source == "":
		return e, attrMissing("source")
	}
	if e.Type == "" {
		return e, attrMissing("type")
	}
	if short && e.Source == "" {
		e.Source = shortSource
	}
	if short && e.SpecID == "" {
		e.SpecID = d.newID()
	}
	if !hasTime {
		e.Time = d.defaultTime()
	}
	for k, v := range e.Extensions {
		if v == nil { // a null extension: absent, kept only to catch repeats
			delete(e.Extensions, k)
		}
	}
	if len(e.Extensions) == 0 {
		e.Extensions = nil
	}
	if fe := memberData(&e, data, data64); fe != nil {
		return e, fe
	}
	return e, nil
}

// stringValue returns the text of a raw JSON string, or null=true for a
// JSON null; any other value is an error.
func stringValue(raw []byte) (s string, null bool, err error) {
	switch raw[0] {
	case 'n':
		return "", true, nil
	case '"':
		s, err := unquote(raw[1 : len(raw)-1])
		return s, false, err
	}
	return "", false, fmt.Errorf("must be a string, got %s", kind(raw))
}

// errExtensionValue explains which values an extension attribute may have.
var errExtensionValue = errors.New("extension attributes must be a string, an integer or a boolean")

// extension decodes one extension attribute into e.Extensions. Strings stay
// strings, booleans booleans, and integers become float64, the type
// encoding/json gives numbers, so an event reads the same after a round
// trip through JSON storage.
func extension(e *herald.Event, name string, raw []byte) *fieldError {
	if !validName(name) {
		return attrErr(name, errName)
	}
	if _, dup := e.Extensions[name]; dup {
		return &fieldError{field: name, msg: fmt.Sprintf("attribute %q appears more than once", name)}
	}
	var v any
	switch raw[0] {
	case 'n':
		v = nil // absent; recorded to catch a repeat, removed by the caller
	case 't':
		v = true
	case 'f':
		v = false
	case '"':
		s, err := unquote(raw[1 : len(raw)-1])
		if err == nil {
			err = checkString(s)
		}
		if err != nil {
			return attrErr(name, err)
		}
		v = s
	case '{', '[':
		return attrErr(name, fmt.Errorf("%w, got %s (event data belongs in \"data\")", errExtensionValue, kind(raw)))
	default:
		// The CloudEvents Integer type: a 32-bit integer, written without a
		// fraction or exponent (JSON event format, section 2.2).
		n, err := strconv.ParseInt(string(raw), 10, 32)
		if err != nil {
			return attrErr(name, fmt.Errorf("must be an integer from -2147483648 to 2147483647 (the CloudEvents Integer type), got %s", kind(raw)))
		}
		v = float64(n)
	}
	if e.Extensions == nil {
		e.Extensions = make(map[string]any, 4)
	}
	e.Extensions[name] = v
	return nil
}
