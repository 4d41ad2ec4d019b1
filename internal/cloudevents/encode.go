package cloudevents

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// reserved reports whether name is a member name of a structured-mode
// CloudEvent that an extension attribute cannot take.
func reserved(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "subject", "time", "datacontenttype",
		"dataschema", "data", "data_base64", attrHeraldID, attrHeraldParent:
		return true
	}
	return false
}

// Encode renders e as a structured-mode CloudEvent in the JSON event
// format, with Herald's extension attributes "heraldid" (e.ID, if set) and
// "heraldparent" (e.ParentID, if set). Data is rendered as "data" or
// "data_base64" following the mapping described in the package
// documentation, and time always in UTC. Attributes that CloudEvents does
// not know (IdempotencyKey, ReceivedAt, Chain) are left out.
//
// Encode fails only for an event that cannot be a CloudEvent: one missing
// id, source or type, with an extension that has an invalid name or a
// value that is not a string, integer or boolean, or whose data is not
// valid JSON (or not valid base64 where base64 is expected).
func Encode(e *herald.Event) ([]byte, error) {
	for _, req := range []struct{ name, value string }{{"id", e.SpecID}, {"source", e.Source}, {"type", e.Type}} {
		if req.value == "" {
			return nil, fmt.Errorf("cloudevents: encode event %q: attribute %q is empty", e.ID, req.name)
		}
	}
	b := make([]byte, 0, 192+len(e.Data))
	b = append(b, `{"specversion":"`+SpecVersion+`","id":`...)
	b = appendString(b, e.SpecID)
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	if e.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendString(b, e.Subject)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if e.DataContentType != "" {
		b = append(b, `,"datacontenttype":`...)
		b = appendString(b, e.DataContentType)
	}
	if e.DataSchema != "" {
		b = append(b, `,"dataschema":`...)
		b = appendString(b, e.DataSchema)
	}

	names := make([]string, 0, len(e.Extensions))
	for name := range e.Extensions {
		names = append(names, name)
	}
	slices.Sort(names) // stable output, for golden files and caches
	for _, name := range names {
		if !validName(name) || reserved(name) {
			return nil, fmt.Errorf("cloudevents: encode event %q: %q cannot be an extension attribute name", e.ID, name)
		}
		b = append(b, ',')
		b = appendString(b, name)
		b = append(b, ':')
		var err error
		if b, err = appendExtension(b, e.Extensions[name]); err != nil {
			return nil, fmt.Errorf("cloudevents: encode event %q: extension %q: %w", e.ID, name, err)
		}
	}

	if e.ID != "" {
		b = append(b, `,"`+attrHeraldID+`":`...)
		b = appendString(b, e.ID)
	}
	if e.ParentID != "" {
		b = append(b, `,"`+attrHeraldParent+`":`...)
		b = appendString(b, e.ParentID)
	}

	if e.Data != nil {
		if !json.Valid(e.Data) {
			return nil, fmt.Errorf("cloudevents: encode event %q: data is not valid JSON", e.ID)
		}
		data := trimSpace(e.Data)
		if kindOf(e.DataContentType) == dataBinary && data[0] == '"' {
			s, err := unquote(data[1 : len(data)-1])
			if err == nil {
				_, err = base64.StdEncoding.DecodeString(s)
			}
			if err != nil {
				return nil, fmt.Errorf("cloudevents: encode event %q: data of type %q must be a base64 string: %w", e.ID, e.DataContentType, err)
			}
			b = append(b, `,"data_base64":`...)
		} else {
			b = append(b, `,"data":`...)
		}
		b = append(b, data...)
	}
	return append(b, '}'), nil
}

// appendExtension appends an extension attribute value.
func appendExtension(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", v)
		}
		return strconv.AppendFloat(b, v, 'f', -1, 64), nil
	case json.Number:
		if _, err := v.Float64(); err != nil || !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("%q is not a JSON number", string(v))
		}
		return append(b, v...), nil
	}
	return nil, fmt.Errorf("must be a string, integer or boolean, not %T", v)
}
