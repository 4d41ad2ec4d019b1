package render

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxRange is the largest integer a template may range over.
const MaxRange = 1000

// funcs returns the function set every template is parsed with. It is
// built per call because template.FuncMap is a map, and a shared one would
// be package-level mutable state.
func funcs() map[string]any {
	return map[string]any{
		"json":       jsonFunc,
		"get":        get,
		"default":    defaultFunc,
		"upper":      func(v any) string { return strings.ToUpper(Text(v)) },
		"lower":      func(v any) string { return strings.ToLower(Text(v)) },
		"trim":       func(v any) string { return strings.TrimSpace(Text(v)) },
		"join":       join,
		"truncate":   truncate,
		"replace":    func(from, to, s any) string { return strings.ReplaceAll(Text(s), Text(from), Text(to)) },
		"contains":   contains,
		"formatTime": formatTime,
		"ackURL":     func(...any) string { return "" },
		printFunc:    printable,
		rangeFunc:    rangeable,
	}
}

// Text returns how templates print v: nil as "", whole floats without an
// exponent, maps and lists as JSON, anything else with fmt.
func Text(v any) string {
	switch v := printable(v).(type) {
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// printable converts the values that fmt prints badly; the rest is
// returned unchanged so html/template still sees its safe types.
func printable(v any) any {
	switch v := v.(type) {
	case nil:
		return ""
	case string, json.Number, fmt.Stringer, error:
		return v
	case float64:
		return formatFloat(v, 64)
	case float32:
		return formatFloat(float64(v), 32)
	case []byte:
		return string(v)
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		if s, err := jsonFunc(v); err == nil {
			return s
		}
	}
	return v
}

// formatFloat writes floats the way JSON producers do: 1000000, not 1e+06.
func formatFloat(f float64, bits int) string {
	if math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, bits)
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func rangeable(v any) (any, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Int() > MaxRange {
			return nil, fmt.Errorf("range over %d: at most %d iterations are allowed", rv.Int(), MaxRange)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > MaxRange {
			return nil, fmt.Errorf("range over %d: at most %d iterations are allowed", rv.Uint(), MaxRange)
		}
	}
	return v, nil
}

func jsonFunc(v any) (string, error) {
	b, err := marshal(v)
	return string(b), err
}

// get walks m by keys: map keys, or integer indexes into lists. Anything
// missing, out of range or of the wrong kind yields nil.
func get(m any, keys ...any) any {
	cur := m
	for _, k := range keys {
		if cur == nil {
			return nil
		}
		switch c := cur.(type) {
		case map[string]any:
			s, ok := k.(string)
			if !ok {
				return nil
			}
			cur = c[s]
			continue
		case []any:
			i, ok := toInt(k)
			if !ok || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
			continue
		}
		rv := reflect.ValueOf(cur)
		switch rv.Kind() {
		case reflect.Map:
			kv := reflect.ValueOf(k)
			if !kv.IsValid() || !kv.Type().AssignableTo(rv.Type().Key()) {
				return nil
			}
			e := rv.MapIndex(kv)
			if !e.IsValid() {
				return nil
			}
			cur = e.Interface()
		case reflect.Slice, reflect.Array:
			i, ok := toInt(k)
			if !ok || i < 0 || i >= rv.Len() {
				return nil
			}
			cur = rv.Index(i).Interface()
		default:
			return nil
		}
	}
	return cur
}

func defaultFunc(def, v any) any {
	if empty(v) {
		return def
	}
	return v
}

// empty reports whether v is nil, "" or an empty collection. Zero and
// false are values, not absences.
func empty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func join(sep, list any) string {
	if list == nil {
		return ""
	}
	if s, ok := list.(string); ok {
		return s
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return Text(list)
	}
	parts := make([]string, rv.Len())
	for i := range parts {
		parts[i] = Text(rv.Index(i).Interface())
	}
	return strings.Join(parts, Text(sep))
}

func truncate(n, v any) (string, error) {
	max, ok := toInt(n)
	if !ok {
		return "", fmt.Errorf("length %v is not an integer", n)
	}
	s := Text(v)
	if max <= 0 {
		return "", nil
	}
	if utf8.RuneCountInString(s) <= max {
		return s, nil
	}
	// Keep max-1 runes and the ellipsis, so the result has max runes.
	i, count := 0, 0
	for i = range s {
		if count == max-1 {
			break
		}
		count++
	}
	return s[:i] + "…", nil
}

func contains(needle, haystack any) bool {
	if haystack == nil {
		return false
	}
	if s, ok := haystack.(string); ok {
		return strings.Contains(s, Text(needle))
	}
	rv := reflect.ValueOf(haystack)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		want := Text(needle)
		for i := 0; i < rv.Len(); i++ {
			if Text(rv.Index(i).Interface()) == want {
				return true
			}
		}
	case reflect.Map:
		return mapHasKey(rv, needle)
	}
	return false
}

func mapHasKey(m reflect.Value, k any) bool {
	kv := reflect.ValueOf(k)
	return kv.IsValid() && kv.Type().AssignableTo(m.Type().Key()) && m.MapIndex(kv).IsValid()
}

func formatTime(layout, v any) (string, error) {
	var t time.Time
	switch v := v.(type) {
	case nil:
		return "", nil
	case time.Time:
		t = v
	case *time.Time:
		if v == nil {
			return "", nil
		}
		t = *v
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return "", fmt.Errorf("%q is not an RFC 3339 time", v)
		}
	default:
		return "", fmt.Errorf("want a time or an RFC 3339 string, got %T", v)
	}
	return t.Format(Text(layout)), nil
}

// toInt converts the integer-valued numbers templates see (int literals,
// JSON floats) to int.
func toInt(v any) (int, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		return int(i), int64(int(i)) == i
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		return int(u), u <= math.MaxInt
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int(f), true
	}
	return 0, false
}
