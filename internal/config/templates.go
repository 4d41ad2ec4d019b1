package config

import (
	"errors"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/herald-notify/herald/internal/render"
)

func (f *file) templates(e entry) {
	m := f.mappingOf(e)
	for _, te := range m.rest() {
		if !validName(te.key, false) {
			f.errorf(te.keyNode, te.field, "invalid template name: use lower-case letters, digits, - and _, starting with a letter or digit")
		}
		if first, dup := f.l.cfg.Templates[te.key]; dup {
			f.errorf(te.keyNode, te.field, "template %q is already declared at %s", te.key, first.Pos)
			continue
		}
		t := &Template{Name: te.key, Pos: f.pos(te.keyNode)}
		f.l.cfg.Templates[te.key] = t
		tm := f.mappingOf(te)
		if tm == nil {
			continue
		}
		if v, ok := tm.get("subject"); ok {
			t.Subject = f.template(v, te.key+".subject", false)
		}
		if v, ok := tm.get("text"); ok {
			t.Text = f.template(v, te.key+".text", false)
		}
		if v, ok := tm.get("html"); ok {
			t.HTML = f.template(v, te.key+".html", true)
		}
		if !tm.has("subject") && !tm.has("text") && !tm.has("html") {
			f.errorf(te.keyNode, te.field, "a template needs at least one of subject, text or html")
		}
		tm.finish("subject", "text", "html")
	}
}

// template compiles a string field as a template named name (the name
// its errors carry at run time). Errors are reported at the template's
// own line when the field is a literal block ("|").
func (f *file) template(e entry, name string, html bool) *render.Template {
	s, ok := f.str(e)
	if !ok {
		return nil
	}
	parse := render.New
	if html {
		parse = render.NewHTML
	}
	t, err := parse(name, s)
	if err != nil {
		f.templateError(e, err)
		return nil
	}
	return t
}

// templateError reports a render error at its position in the file.
func (f *file) templateError(e entry, err error) {
	var rerr *render.Error
	if !errors.As(err, &rerr) {
		f.errorf(e.node, e.field, "bad template: %v", err)
		return
	}
	pos := f.pos(e.node)
	msg := "bad template: " + rerr.Message
	if rerr.Line > 0 {
		msg = "bad template: line " + itoa(rerr.Line) + ": " + rerr.Message
		if lit, ok := e.node.(*ast.LiteralNode); ok && strings.HasPrefix(lit.Start.Value, "|") && lit.Start.Position != nil {
			// A literal block's text starts on the line after "|" and
			// keeps its lines, so the template's line is a file line.
			pos.Line = lit.Start.Position.Line + rerr.Line
			pos.Col = f.indent(pos.Line) + 1
		}
	}
	f.l.add(pos, e.field, msg)
}

// indent returns the number of leading spaces of a 1-based line.
func (f *file) indent(line int) int {
	lines := strings.SplitN(string(f.data), "\n", line+1)
	if line < 1 || line > len(lines) {
		return 0
	}
	text := lines[line-1]
	return len(text) - len(strings.TrimLeft(text, " "))
}

// renderValue compiles a structured value (mapping, list or string) whose
// string leaves are templates named name.<path>.
func (f *file) renderValue(e entry, name string) *render.Value {
	raw := e.node
	if e.mv != nil {
		// The unresolved value, so that an anchor on it is seen.
		raw = e.mv.Value
	}
	v, ok := f.value(raw, e.field, 0)
	if !ok {
		return nil
	}
	val, err := render.NewValue(name, v)
	if err == nil {
		return val
	}
	// NewValue joins one error per leaf; each names its leaf as name plus
	// the same path suffix the field has.
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		leaf := e
		var rerr *render.Error
		if errors.As(err, &rerr) {
			leaf.field = e.field + strings.TrimPrefix(rerr.Template, name)
		}
		f.templateError(leaf, err)
	}
	return nil
}

// literal compiles a fixed text (a default) as a template.
func (f *file) literal(name, text string) *render.Template {
	t, err := render.New(name, text)
	if err != nil {
		f.l.add(Pos{File: f.path}, name, err.Error())
	}
	return t
}
