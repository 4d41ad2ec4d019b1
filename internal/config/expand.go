package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// prepare walks a parsed file once: it records anchors for resolve and
// expands ${env:NAME} and ${file:PATH} in every string value, in place.
// Doing it once per node, before decoding, means an aliased string is not
// expanded twice (which would turn "$${" into a reference the second
// time) and provider settings decoded by the YAML library see the
// expanded values too. Keys are never expanded.
func (f *file) prepare(n ast.Node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		f.prepare(v.Body, depth+1)
	case *ast.AnchorNode:
		if v.Name != nil {
			f.anchors[v.Name.GetToken().Value] = v.Value
		}
		f.prepare(v.Value, depth+1)
	case *ast.TagNode:
		f.prepare(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			f.prepare(mv, depth+1)
		}
	case *ast.MappingValueNode:
		f.prepare(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, item := range v.Values {
			f.prepare(item, depth+1)
		}
	case *ast.LiteralNode:
		f.prepare(v.Value, depth+1)
	case *ast.StringNode:
		if !strings.Contains(v.Value, "${") {
			return
		}
		s, err := f.expand(v.Value)
		if err != nil {
			f.errorf(v, strings.TrimPrefix(strings.TrimPrefix(v.GetPath(), "$"), "."), "%v", err)
			return
		}
		v.Value = s
	}
}

// expand replaces ${env:NAME} and ${file:PATH} references in s; "$${" is
// a literal "${". Errors name the reference, never its value.
func (f *file) expand(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			// "$${" is the escape for a literal "${".
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ (write $${ for a literal ${)")
		}
		ref := s[i+2 : i+end]
		val, err := f.lookup(ref)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		s = s[i+end+1:]
	}
}

func (f *file) lookup(ref string) (string, error) {
	kind, arg, _ := strings.Cut(ref, ":")
	switch kind {
	case "env":
		if !validEnvName(arg) {
			return "", fmt.Errorf("${%s}: %q is not an environment variable name", ref, arg)
		}
		v, ok := f.l.opts.LookupEnv(arg)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set (referenced as ${env:%s})", arg, arg)
		}
		return v, nil
	case "file":
		if arg == "" {
			return "", fmt.Errorf("${file:}: missing path")
		}
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(f.dir, path)
		}
		b, err := f.l.opts.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("${file:%s}: cannot read %s: %w", arg, path, unwrapPathError(err))
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("unknown reference ${%s}: use ${env:NAME} or ${file:PATH} (or $${ for a literal ${)", ref)
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
