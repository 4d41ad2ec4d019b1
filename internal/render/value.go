package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Value is a structured value from the configuration (a webhook body, the
// data of an emitted event) whose string leaves are text templates. Map
// keys are not templates. A nil *Value renders as nil.
type Value struct {
	name   string
	tmpl   *Template
	m      map[string]*Value
	list   []*Value
	isMap  bool
	isList bool
	// scalar holds a number, bool or nil leaf as is.
	scalar any
}

// NewValue compiles v, a tree as decoded from YAML or JSON: map[string]any,
// []any, string, numbers, bool and nil. name prefixes the names of the leaf
// templates ("body.order_id", "body.items[0]") so errors say which leaf
// failed. Every leaf that fails to parse is reported.
func NewValue(name string, v any) (*Value, error) {
	var errs []error
	val := newValue(name, v, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return val, nil
}

func newValue(name string, v any, errs *[]error) *Value {
	val := &Value{name: name}
	switch v := v.(type) {
	case string:
		t, err := New(name, v)
		if err != nil {
			*errs = append(*errs, err)
		}
		val.tmpl = t
	case map[string]any:
		val.isMap = true
		val.m = make(map[string]*Value, len(v))
		// Sorted, so that errors come in a stable order.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			val.m[k] = newValue(name+"."+k, v[k], errs)
		}
	case []any:
		val.isList = true
		val.list = make([]*Value, len(v))
		for i, e := range v {
			val.list[i] = newValue(name+"["+strconv.Itoa(i)+"]", e, errs)
		}
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, json.Number:
		val.scalar = v
	default:
		*errs = append(*errs, fmt.Errorf("%s: a value of type %T cannot be rendered", name, v))
	}
	return val
}

// IsString reports whether the value is a single string template.
func (v *Value) IsString() bool { return v != nil && v.tmpl != nil }

// Render returns the tree with every string leaf rendered with data.
func (v *Value) Render(data any) (any, error) {
	switch {
	case v == nil:
		return nil, nil
	case v.tmpl != nil:
		return v.tmpl.Execute(data)
	case v.isMap:
		out := make(map[string]any, len(v.m))
		for k, e := range v.m {
			r, err := e.Render(data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case v.isList:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			r, err := e.Render(data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v.scalar, nil
	}
}

// RenderJSON renders the value as JSON: a mapping, list or scalar as the
// JSON of the rendered tree; a string template as its rendered text, which
// must then be valid JSON. A nil Value renders nil.
func (v *Value) RenderJSON(data any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if v.tmpl != nil {
		s, err := v.tmpl.Execute(data)
		if err != nil {
			return nil, err
		}
		var probe json.RawMessage
		if err := json.Unmarshal([]byte(s), &probe); err != nil {
			return nil, fmt.Errorf("template %q: rendered text is not valid JSON: %w", v.name, err)
		}
		return json.RawMessage(s), nil
	}
	r, err := v.Render(data)
	if err != nil {
		return nil, err
	}
	return marshal(r)
}

// RenderText renders the value as text: a string template as its rendered
// text, anything else as JSON. A nil Value renders "".
func (v *Value) RenderText(data any) (string, error) {
	if v == nil {
		return "", nil
	}
	if v.tmpl != nil {
		return v.tmpl.Execute(data)
	}
	b, err := v.RenderJSON(data)
	return string(b), err
}

func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
