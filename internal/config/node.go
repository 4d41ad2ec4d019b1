package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Limits that keep a hostile or broken file from exhausting the loader.
const (
	// maxAliases bounds alias expansions per file: aliases nest, so a
	// few lines can otherwise expand to billions of nodes, and an alias
	// inside its own anchor never ends.
	maxAliases = 10000
	// maxDepth bounds nesting.
	maxDepth = 200
)

// file is the state of decoding one source.
type file struct {
	l    *loader
	path string
	// dir is the folder ${file:PATH} references are relative to.
	dir string
	// data is the raw file, to find a line's indentation.
	data    []byte
	anchors map[string]ast.Node
	aliases int
	// expanding holds the aliases value is inside of.
	expanding map[string]bool
}

func (f *file) errorf(n ast.Node, field, format string, args ...any) {
	f.l.add(f.pos(n), field, fmt.Sprintf(format, args...))
}

// pos returns where n starts. A mapping "starts" at its first key, which
// is where a reader looks, rather than at its first colon.
func (f *file) pos(n ast.Node) Pos {
	p := Pos{File: f.path}
	switch v := n.(type) {
	case nil:
		return p
	case *ast.MappingNode:
		if len(v.Values) > 0 {
			return f.pos(v.Values[0])
		}
	case *ast.MappingValueNode:
		return f.pos(v.Key)
	case *ast.MappingKeyNode:
		if v.Value != nil {
			return f.pos(v.Value)
		}
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		p.Line, p.Col = tk.Position.Line, tk.Position.Column
	}
	return p
}

// resolve looks through anchors, tags and aliases to the node that holds
// the value; comments and null become nil. ok is false when an alias
// could not be resolved (already reported).
func (f *file) resolve(n ast.Node, field string) (ast.Node, bool) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			target, ok := f.anchors[name]
			if !ok {
				f.errorf(v, field, "unknown alias *%s", name)
				return nil, false
			}
			if f.aliases <= 0 {
				if f.aliases == 0 {
					f.errorf(v, field, "more than %d alias expansions; is an alias used inside its own anchor?", maxAliases)
					f.aliases = -1
				}
				return nil, false
			}
			f.aliases--
			n = target
		case *ast.NullNode, *ast.CommentGroupNode, *ast.CommentNode:
			return nil, true
		default:
			return n, true
		}
	}
}

// entry is one key of a mapping.
type entry struct {
	key     string
	keyNode ast.Node
	// node is the resolved value; never nil (null values are dropped
	// from get's results, see mapping.get).
	node  ast.Node
	field string
	// mv is the mapping entry as parsed, for decoding by the YAML library.
	mv *ast.MappingValueNode
}

// mapping is a YAML mapping being decoded: get marks keys as used, and
// finish reports the keys nobody asked for.
type mapping struct {
	f       *file
	node    ast.Node
	field   string
	entries []entry
	used    []bool
	// bad marks entries whose value could not be resolved; they are
	// neither returned nor reported again.
	bad []bool
}

// mapping returns n as a mapping. A missing or null n is an empty mapping.
// Anything else is reported and yields nil.
func (f *file) mapping(n ast.Node, field string) *mapping {
	n, ok := f.resolve(n, field)
	if !ok {
		return nil
	}
	m := &mapping{f: f, node: n, field: field}
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case nil:
		return m
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		f.errorf(n, field, "want a mapping (key: value), got %s", kindOf(n))
		return nil
	}
	for _, mv := range values {
		if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
			f.errorf(mv.Key, field, "merge keys (<<) are not supported; use an alias (*name) for the whole value")
			continue
		}
		key := keyText(mv.Key)
		value, ok := f.resolve(mv.Value, join(field, key))
		m.entries = append(m.entries, entry{key: key, keyNode: mv.Key, node: value, field: join(field, key), mv: mv})
		m.used = append(m.used, false)
		m.bad = append(m.bad, !ok)
	}
	return m
}

// mappingOf returns the value of e as a mapping, like mapping. A null
// value's errors ("missing required key") are reported at e's key.
func (f *file) mappingOf(e entry) *mapping {
	m := f.mapping(e.node, e.field)
	if m != nil && m.node == nil && e.keyNode != nil {
		m.node = e.keyNode
	}
	return m
}

// get returns the entry for key, marking it used. A null value counts as
// absent, so optional fields take their defaults.
func (m *mapping) get(key string) (entry, bool) {
	if m == nil {
		return entry{}, false
	}
	for i, e := range m.entries {
		if e.key == key {
			m.used[i] = true
			return e, !m.bad[i] && e.node != nil
		}
	}
	return entry{}, false
}

// has reports whether key is present, without marking it used.
func (m *mapping) has(key string) bool {
	if m == nil {
		return false
	}
	for _, e := range m.entries {
		if e.key == key {
			return true
		}
	}
	return false
}

// rest returns the entries not yet used, marking them used.
func (m *mapping) rest() []entry {
	if m == nil {
		return nil
	}
	var out []entry
	for i, e := range m.entries {
		if !m.used[i] {
			m.used[i] = true
			if !m.bad[i] {
				out = append(out, e)
			}
		}
	}
	return out
}

// finish reports every key that was not used as unknown.
func (m *mapping) finish(known ...string) {
	if m == nil {
		return
	}
	for i, e := range m.entries {
		if !m.used[i] {
			m.f.errorf(e.keyNode, m.field, "unknown key %q (known keys: %s)", e.key, strings.Join(known, ", "))
		}
	}
}

// required reports a missing required key at the mapping.
func (m *mapping) required(key string) {
	m.f.errorf(m.node, m.field, "missing required key %q", key)
}

// items returns n as a list of entries named field[i].
func (f *file) items(e entry) ([]entry, bool) {
	seq, ok := e.node.(*ast.SequenceNode)
	if !ok {
		f.errorf(e.node, e.field, "want a list, got %s", kindOf(e.node))
		return nil, false
	}
	var out []entry
	for i, v := range seq.Values {
		field := e.field + "[" + strconv.Itoa(i) + "]"
		n, ok := f.resolve(v, field)
		if !ok {
			continue
		}
		if n == nil {
			f.errorf(v, field, "empty list item")
			continue
		}
		out = append(out, entry{node: n, field: field})
	}
	return out, true
}

// str reads a scalar as text. Numbers and booleans are accepted as they
// are written ("1.10" stays "1.10").
func (f *file) str(e entry) (string, bool) {
	switch n := e.node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	f.errorf(e.node, e.field, "want a string, got %s", kindOf(e.node))
	return "", false
}

// strs reads a string or a list of strings.
func (f *file) strs(e entry) ([]entry, bool) {
	if _, ok := e.node.(*ast.SequenceNode); !ok {
		if _, ok := f.str(e); !ok {
			return nil, false
		}
		return []entry{e}, true
	}
	items, ok := f.items(e)
	var out []entry
	for _, it := range items {
		if _, ok := f.str(it); ok {
			out = append(out, it)
		}
	}
	return out, ok
}

// integer reads an integer; a string holding one is accepted too, for
// values that come from ${env:NAME}.
func (f *file) integer(e entry) (int64, bool) {
	switch n := e.node.(type) {
	case *ast.IntegerNode:
		switch v := n.Value.(type) {
		case int64:
			return v, true
		case uint64:
			if v <= math.MaxInt64 {
				return int64(v), true
			}
		}
		f.errorf(e.node, e.field, "integer %s is too large", n.GetToken().Value)
		return 0, false
	case *ast.StringNode:
		if i, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64); err == nil {
			return i, true
		}
		f.errorf(e.node, e.field, "want an integer, got %q", shown(n))
		return 0, false
	}
	f.errorf(e.node, e.field, "want an integer, got %s", kindOf(e.node))
	return 0, false
}

// count reads an integer that must be at least min.
func (f *file) count(e entry, min int64) (int, bool) {
	i, ok := f.integer(e)
	if !ok {
		return 0, false
	}
	if i < min || i > math.MaxInt32 {
		f.errorf(e.node, e.field, "must be between %d and %d, got %d", min, math.MaxInt32, i)
		return 0, false
	}
	return int(i), true
}

// value converts n to a plain Go tree (map[string]any, []any, string,
// int64, uint64, float64, bool, nil), as render.NewValue takes it.
func (f *file) value(n ast.Node, field string, depth int) (any, bool) {
	if depth > maxDepth {
		f.errorf(n, field, "nested more than %d levels deep", maxDepth)
		return nil, false
	}
	// An alias inside its own anchor would expand forever.
	switch a := n.(type) {
	case *ast.AliasNode:
		if a.Value != nil {
			name := a.Value.GetToken().Value
			if f.expanding[name] {
				f.errorf(n, field, "alias *%s is used inside its own anchor", name)
				return nil, false
			}
			f.expanding[name] = true
			defer delete(f.expanding, name)
		}
	case *ast.AnchorNode:
		if a.Name != nil {
			name := a.Name.GetToken().Value
			f.expanding[name] = true
			defer delete(f.expanding, name)
		}
	}
	n, ok := f.resolve(n, field)
	if !ok {
		return nil, false
	}
	switch v := n.(type) {
	case nil:
		return nil, true
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode:
		return v.Value, true
	case *ast.FloatNode:
		return v.Value, true
	case *ast.BoolNode:
		return v.Value, true
	case *ast.MappingNode, *ast.MappingValueNode:
		m := f.mapping(n, field)
		if m == nil {
			return nil, false
		}
		out := make(map[string]any, len(m.entries))
		good := true
		for _, e := range m.rest() {
			// The entry's raw value, so that an alias is seen as one.
			val, ok := f.value(e.mv.Value, e.field, depth+1)
			good = good && ok
			out[e.key] = val
		}
		return out, good
	case *ast.SequenceNode:
		out := make([]any, len(v.Values))
		good := true
		for i, item := range v.Values {
			val, ok := f.value(item, field+"["+strconv.Itoa(i)+"]", depth+1)
			good = good && ok
			out[i] = val
		}
		return out, good
	}
	f.errorf(n, field, "%s cannot be used here (it has no JSON form)", kindOf(n))
	return nil, false
}

// keyText returns a mapping key as written.
func keyText(k ast.MapKeyNode) string {
	if mk, ok := k.(*ast.MappingKeyNode); ok && mk.Value != nil {
		if s, ok := mk.Value.(*ast.StringNode); ok {
			return s.Value
		}
		return mk.Value.GetToken().Value
	}
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// shown returns a scalar as it is written in the file, before secret
// expansion, so that error messages never print a secret.
func shown(n ast.Node) string {
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// kindOf names a node's kind for error messages.
func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// join appends key to a field path.
func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}
