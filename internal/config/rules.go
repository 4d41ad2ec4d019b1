package config

import (
	"github.com/herald-notify/herald/internal/render"
	"github.com/herald-notify/herald/internal/rule"
)

func (f *file) rules(e entry) {
	items, _ := f.items(e)
	for _, it := range items {
		if r := f.rule(it); r != nil {
			f.l.cfg.Rules = append(f.l.cfg.Rules, r)
		}
	}
}

func (f *file) rule(e entry) *Rule {
	m := f.mappingOf(e)
	if m == nil {
		return nil
	}
	r := &Rule{Pos: f.pos(e.node)}
	// Templates are named after the rule, so errors at run time say
	// which rule they come from; the field path stands in until the
	// name is known to be good.
	prefix := e.field
	if v, ok := m.get("name"); !ok {
		m.required("name")
	} else if name, ok := f.str(v); ok {
		switch first, dup := f.l.rules[name]; {
		case !validName(name, true):
			f.errorf(v.node, v.field, "invalid rule name %q: use lower-case letters, digits, ., - and _, starting with a letter or digit", shown(v.node))
		case dup:
			f.errorf(v.node, v.field, "rule %q is already declared at %s", name, first)
		default:
			f.l.rules[name] = f.pos(v.node)
			prefix = name
		}
		r.Name = name
	}
	if v, ok := m.get("on"); !ok {
		m.required("on")
	} else {
		r.On = f.patterns(v)
		if items, _ := f.strs(v); len(items) == 0 {
			f.errorf(v.node, v.field, "needs at least one event type pattern")
		}
	}
	if v, ok := m.get("if"); ok {
		r.If = f.condition(v)
	}
	if v, ok := m.get("key"); ok {
		r.Key = f.template(v, prefix+".key", false)
	}
	if v, ok := m.get("priority"); ok {
		r.Priority, _ = f.priority(v)
	}
	if v, ok := m.get("cancel_on"); ok {
		r.CancelOn = f.patterns(v)
	}
	if v, ok := m.get("steps"); !ok {
		m.required("steps")
	} else if items, ok := f.items(v); ok {
		if len(items) == 0 {
			f.errorf(v.node, v.field, "a rule needs at least one step")
		}
		names := map[string]int{}
		for i, it := range items {
			if s := f.step(r, prefix, it, i, names); s != nil {
				r.Steps = append(r.Steps, s)
			}
		}
	}
	m.finish("name", "on", "if", "key", "priority", "cancel_on", "steps")
	return r
}

// condition compiles an "if" field.
func (f *file) condition(e entry) *rule.Condition {
	s, ok := f.str(e)
	if !ok {
		return nil
	}
	c, err := rule.Compile(s)
	if err != nil {
		f.errorf(e.node, e.field, "%v", err)
		return nil
	}
	return c
}

// templates compiles a string or a list of strings as templates named
// name[i].
func (f *file) templateList(e entry, name string) []*render.Template {
	items, _ := f.strs(e)
	var out []*render.Template
	for i, it := range items {
		n := name
		if it.field != e.field {
			n += "[" + itoa(i) + "]"
		}
		if t := f.template(it, n, false); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// patterns compiles a pattern or a list of patterns.
func (f *file) patterns(e entry) []rule.Pattern {
	items, _ := f.strs(e)
	var out []rule.Pattern
	for _, pe := range items {
		s, _ := f.str(pe)
		p, err := rule.ParsePattern(s)
		if err != nil {
			f.errorf(pe.node, pe.field, "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}
