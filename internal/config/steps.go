package config

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/herald-notify/herald/internal/render"
)

// stepKind decodes one kind of step. Adding a kind means: a constant and
// a field on Step (config.go), a decode function, and a row in stepKinds.
type stepKind struct {
	name string
	// decode fills s from the kind's mapping; prefix names the step's
	// templates ("rule.step").
	decode func(f *file, r *Rule, s *Step, e entry, prefix string)
}

func stepKinds() []stepKind {
	return []stepKind{
		{StepNotify, (*file).notify},
		{StepWebhook, (*file).webhook},
		{StepEmit, (*file).emit},
		{StepDelay, (*file).delay},
		{StepWaitAck, (*file).waitAck},
		{StepWaitEvent, (*file).waitEvent},
		{StepDigest, (*file).digest},
	}
}

func (f *file) step(r *Rule, rulePrefix string, e entry, index int, names map[string]int) *Step {
	m := f.mappingOf(e)
	if m == nil {
		return nil
	}
	s := &Step{Pos: f.pos(e.node)}
	kinds := stepKinds()
	known := []string{"name", "if"}
	var kind *stepKind
	for i := range kinds {
		k := &kinds[i]
		known = append(known, k.name)
		if !m.has(k.name) {
			continue
		}
		if kind != nil {
			v, _ := m.get(k.name)
			f.errorf(v.keyNode, e.field, "a step does one thing, but this one has both %s and %s: split it into two steps", kind.name, k.name)
			continue
		}
		kind = k
	}
	if kind == nil {
		f.errorf(e.node, e.field, "a step needs one of: %s", strings.Join(known[2:], ", "))
		m.get("name")
		m.get("if")
		m.finish(known...)
		return nil
	}
	s.Kind = kind.name
	s.Name = fmt.Sprintf("%s-%d", kind.name, index+1)
	nameEntry := e
	if v, ok := m.get("name"); ok {
		if name, ok := f.str(v); ok {
			if validName(name, false) {
				s.Name = name
				nameEntry = v
			} else {
				f.errorf(v.node, v.field, "invalid step name %q: use lower-case letters, digits, - and _, starting with a letter or digit", shown(v.node))
			}
		}
	}
	if first, dup := names[s.Name]; dup {
		f.errorf(nameEntry.node, join(e.field, "name"), "step name %q is already used by step %d of this rule", s.Name, first+1)
	} else {
		names[s.Name] = index
	}
	if v, ok := m.get("if"); ok {
		s.If = f.condition(v)
	}
	v, _ := m.get(kind.name)
	if v.field == "" {
		v.field = join(e.field, kind.name)
	}
	kind.decode(f, r, s, v, rulePrefix+"."+s.Name)
	m.finish(known...)
	return s
}

func (f *file) notify(r *Rule, s *Step, e entry, prefix string) {
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	n := &Notify{Priority: r.Priority}
	s.Notify = n
	switch {
	case m.has("channel") && m.has("channels"):
		m.get("channel")
		v, _ := m.get("channels")
		f.errorf(v.keyNode, e.field, "use either channel or channels (a failover list), not both")
	case m.has("channels"):
		v, _ := m.get("channels")
		items, _ := f.strs(v)
		for _, it := range items {
			if name, ok := f.str(it); ok {
				n.Channels = append(n.Channels, name)
				f.l.refs = append(f.l.refs, ref{kind: refChannel, name: name, pos: f.pos(it.node), field: it.field})
			}
		}
		if len(n.Channels) < 2 {
			f.errorf(v.node, v.field, "a failover list needs at least two channels (for one, use channel:)")
		}
		if len(n.Channels) > 0 {
			n.Channel = n.Channels[0]
		}
	default:
		if v, ok := m.get("channel"); !ok {
			m.required("channel")
		} else if name, ok := f.str(v); ok {
			n.Channel = name
			f.l.refs = append(f.l.refs, ref{kind: refChannel, name: name, pos: f.pos(v.node), field: v.field})
		}
	}
	if v, ok := m.get("within"); ok {
		if d, ok := f.duration(v); ok {
			if len(n.Channels) < 2 {
				f.errorf(v.node, v.field, "within bounds how long each channel of a failover list (channels:) gets; it needs channels:")
			}
			n.Within = d
		}
	} else if len(n.Channels) >= 2 {
		// Without a deadline, a message waiting behind an open circuit
		// (postponed, never dead) would hold the step forever.
		v, _ := m.get("channels")
		f.errorf(v.keyNode, v.field, "a failover list needs within: (how long each channel gets before the next is tried), e.g. within: 2m")
	}
	if v, ok := m.get("to"); ok {
		n.To = f.templateList(v, prefix+".to")
	}
	if v, ok := m.get("template"); ok {
		if name, ok := f.str(v); ok {
			n.Template = name
			f.l.refs = append(f.l.refs, ref{kind: refTemplate, name: name, pos: f.pos(v.node), field: v.field})
			if m.has("subject") || m.has("text") || m.has("html") {
				f.errorf(v.keyNode, e.field, "use either template or inline subject, text and html, not both")
			}
		}
	}
	if v, ok := m.get("subject"); ok {
		n.Subject = f.template(v, prefix+".subject", false)
	}
	if v, ok := m.get("text"); ok {
		n.Text = f.template(v, prefix+".text", false)
	}
	if v, ok := m.get("html"); ok {
		n.HTML = f.template(v, prefix+".html", true)
	}
	if v, ok := m.get("data"); ok {
		n.Data = f.renderValue(v, prefix+".data")
	}
	if v, ok := m.get("priority"); ok {
		n.Priority, _ = f.priority(v)
	}
	if !m.has("template") && !m.has("subject") && !m.has("text") && !m.has("html") && !m.has("data") {
		f.errorf(m.node, e.field, "notify needs content: a template, or inline subject, text, html or data")
	}
	m.finish("channel", "channels", "within", "to", "template", "subject", "text", "html", "data", "priority")
}

func (f *file) webhook(r *Rule, s *Step, e entry, prefix string) {
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	w := &Webhook{}
	s.Webhook = w
	if v, ok := m.get("channel"); ok {
		if name, ok := f.str(v); ok {
			w.Channel = name
			f.l.refs = append(f.l.refs, ref{kind: refWebhookChannel, name: name, pos: f.pos(v.node), field: v.field})
		}
	} else {
		f.l.refs = append(f.l.refs, ref{kind: refDefaultWebhook, pos: f.pos(e.node), field: e.field, webhook: w})
	}
	if v, ok := m.get("method"); ok {
		if method, ok := f.str(v); ok {
			if !strings.Contains(method, "{{") && !validMethod(method) {
				f.errorf(v.node, v.field, "%q is not an HTTP method (methods: %s)", shown(v.node), strings.Join(methods(), ", "))
			} else {
				w.Method = f.template(v, prefix+".method", false)
			}
		}
	} else {
		w.Method = f.literal(prefix+".method", http.MethodPost)
	}
	if v, ok := m.get("url"); !ok {
		m.required("url")
	} else if u, ok := f.str(v); ok {
		if strings.Contains(u, "{{") || f.httpURL(v, u) {
			w.URL = f.template(v, prefix+".url", false)
		}
	}
	if v, ok := m.get("headers"); ok {
		hm := f.mappingOf(v)
		for _, h := range hm.rest() {
			if !validHeader(h.key) {
				f.errorf(h.keyNode, h.field, "%q is not a valid HTTP header name", h.key)
				continue
			}
			if t := f.template(h, prefix+".headers."+h.key, false); t != nil {
				if w.Headers == nil {
					w.Headers = map[string]*render.Template{}
				}
				w.Headers[h.key] = t
			}
		}
	}
	if v, ok := m.get("body"); ok {
		w.Body = f.renderValue(v, prefix+".body")
	}
	m.finish("channel", "method", "url", "headers", "body")
}

func (f *file) emit(r *Rule, s *Step, e entry, prefix string) {
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	em := &Emit{}
	s.Emit = em
	if v, ok := m.get("type"); !ok {
		m.required("type")
	} else if typ, ok := f.str(v); ok {
		em.Type = f.concreteType(v, typ)
	}
	if v, ok := m.get("source"); ok {
		em.Source = f.template(v, prefix+".source", false)
	}
	if v, ok := m.get("subject"); ok {
		em.Subject = f.template(v, prefix+".subject", false)
	}
	if v, ok := m.get("data"); ok {
		em.Data = f.renderValue(v, prefix+".data")
	}
	m.finish("type", "source", "subject", "data")
}

func methods() []string {
	return []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
}

func validMethod(m string) bool {
	for _, v := range methods() {
		if m == v {
			return true
		}
	}
	return false
}

// validHeader reports whether s is an HTTP token (RFC 9110, 5.6.2).
func validHeader(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
