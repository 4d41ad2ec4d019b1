package config

import (
	"errors"
	"fmt"
	"github.com/goccy/go-yaml/ast"
	"github.com/herald-notify/herald/internal/channel/breaker"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// commonChannelKeys are the channel fields the loader handles itself;
// every other field belongs to the provider's settings.
func commonChannelKeys() []string {
	return []string{"type", "url", "concurrency", "timeout", "max_attempts", "circuit", "overflow", "pace"}
}

func (f *file) channels(e entry) {
	m := f.mappingOf(e)
	for _, ce := range m.rest() {
		if !validName(ce.key, false) {
			f.errorf(ce.keyNode, ce.field, "invalid channel name: use lower-case letters, digits, - and _, starting with a letter or digit")
		}
		if first, dup := f.l.cfg.Channels[ce.key]; dup {
			f.errorf(ce.keyNode, ce.field, "channel %q is already declared at %s", ce.key, first.Pos)
			continue
		}
		// Registered even when broken, so that references to it do not
		// add "unknown channel" noise to the real error.
		f.l.cfg.Channels[ce.key] = f.channel(ce)
	}
}

func (f *file) channel(e entry) *Channel {
	ch := &Channel{Name: e.key, Pos: f.pos(e.keyNode)}
	if _, isList := e.node.(*ast.SequenceNode); isList {
		return f.providerList(ch, e)
	}
	m := f.mappingOf(e)
	if m == nil {
		return ch
	}
	before := len(f.l.errs)
	var ct ChannelType
	if v, ok := m.get("type"); !ok {
		m.required("type")
	} else if typ, ok := f.str(v); ok {
		if t, known := f.l.opts.ChannelTypes[typ]; known {
			ch.Type, ct = typ, t
		} else {
			f.errorf(v.node, v.field, "unknown channel type %q (%s)", shown(v.node), suggest("types", keys(f.l.opts.ChannelTypes)))
		}
	}
	if v, ok := m.get("concurrency"); ok {
		ch.Concurrency, _ = f.count(v, 1)
	}
	if v, ok := m.get("timeout"); ok {
		ch.Timeout, _ = f.duration(v)
	}
	if v, ok := m.get("max_attempts"); ok {
		ch.MaxAttempts, _ = f.count(v, 1)
	}
	if v, ok := m.get("circuit"); ok {
		f.circuit(v, &ch.Circuit)
	}
	if v, ok := m.get("overflow"); ok {
		if o, ok := f.str(v); ok {
			if o != "truncate" && o != "split" {
				f.errorf(v.node, v.field, "overflow must be truncate or split, not %q", o)
			}
			ch.Overflow = o
		}
	}
	ch.Pace = ct.Pace
	if v, ok := m.get("pace"); ok {
		// 0 turns the type's default pacing off.
		if t, isInt := v.node.(*ast.IntegerNode); isInt && fmt.Sprint(t.Value) == "0" {
			ch.Pace = 0
		} else if d, ok := f.duration(v); ok {
			ch.Pace = d
		}
	}
	if ch.Type == "" {
		// Without a type there is nothing to check the settings against.
		m.rest()
		return ch
	}
	if ct.New != nil {
		ch.Settings = ct.New()
	}
	if ct.FromURL != nil {
		if v, ok := m.get("url"); ok {
			if u, ok := f.str(v); ok && ch.Settings != nil {
				// The provider's message must not quote the URL: it
				// may hold a password.
				if err := ct.FromURL(u, ch.Settings); err != nil {
					f.errorf(v.node, v.field, "invalid URL: %v", err)
				}
			}
		}
	}
	f.settings(ch, m, m.rest())
	if r, ok := ch.Settings.(interface{ ChannelRefs() []string }); ok {
		// A failover channel: its providers are other channels.
		for _, name := range r.ChannelRefs() {
			f.l.refs = append(f.l.refs, ref{kind: refProvider, name: name, pos: f.pos(e.keyNode), field: e.field + ".providers", from: e.key})
		}
	}
	if len(f.l.errs) == before {
		if v, ok := ch.Settings.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				f.errorf(e.keyNode, e.field, "%v", err)
			}
		}
	}
	return ch
}

// settings decodes the provider's fields strictly into ch.Settings.
// Unknown keys are all reported by the loader itself (the YAML library
// stops at the first); type errors come from the library.
func (f *file) settings(ch *Channel, m *mapping, fields []entry) {
	if len(fields) == 0 {
		return
	}
	known, checkable := settingsKeys(ch.Settings)
	unknown := false
	if checkable {
		for _, fe := range fields {
			if !known[fe.key] {
				unknown = true
				all := commonChannelKeys()
				for _, k := range keys(known) {
					if !slices.Contains(all, k) {
						all = append(all, k)
					}
				}
				if ch.Settings == nil {
					f.errorf(fe.keyNode, m.field, "unknown key %q (channel type %s has no settings of its own; known keys: %s)", fe.key, ch.Type, strings.Join(all, ", "))
				} else {
					f.errorf(fe.keyNode, m.field, "unknown key %q (known keys: %s)", fe.key, strings.Join(all, ", "))
				}
			}
		}
	}
	if unknown || ch.Settings == nil {
		return
	}
	values := make([]*ast.MappingValueNode, len(fields))
	for i, fe := range fields {
		values[i] = fe.mv
	}
	sub := ast.Mapping(fields[0].mv.GetToken(), false, values...)
	if err := decodeNode(sub, ch.Settings); err != nil {
		f.yamlError(err, fieldAt(err, fields, m.field))
	}
}

// decodeNode decodes n strictly into v, turning a panic of the YAML
// library into an error.
func decodeNode(n ast.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode: %v", r)
		}
	}()
	return yaml.NodeToValue(n, v, yaml.Strict())
}

// fieldAt names the field of fields a YAML library error points into:
// the last one that starts before the error.
func fieldAt(err error, fields []entry, parent string) string {
	var yerr yaml.Error
	if !errors.As(err, &yerr) || yerr.GetToken() == nil || yerr.GetToken().Position == nil {
		return parent
	}
	at := yerr.GetToken().Position
	field := parent
	for _, fe := range fields {
		p := fe.keyNode.GetToken().Position
		if p.Line < at.Line || (p.Line == at.Line && p.Column <= at.Column) {
			field = fe.field
		}
	}
	return field
}

// settingsKeys returns the YAML keys a settings struct accepts, following
// the YAML library's rules (the yaml tag, else the json tag, else the
// lower-cased field name; ",inline" flattens). checkable is false for
// settings that are not a struct, which are left to the library.
func settingsKeys(settings any) (known map[string]bool, checkable bool) {
	known = map[string]bool{}
	if settings == nil {
		return known, true
	}
	t := reflect.TypeOf(settings)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	addStructKeys(t, known, 0)
	return known, true
}

func addStructKeys(t reflect.Type, known map[string]bool, depth int) {
	if depth > 10 {
		return
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "" {
			tag = sf.Tag.Get("json")
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addStructKeys(ft, known, depth+1)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		known[name] = true
	}
}

// validName reports whether s is a valid channel or template name
// ([a-z0-9][a-z0-9_-]*), or with dot also allowed, a rule name.
func validName(s string, dot bool) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_'):
		case i > 0 && dot && r == '.':
		default:
			return false
		}
	}
	return true
}

// circuit reads a channel's circuit breaker settings: false turns it off,
// a mapping tunes it.
func (f *file) circuit(e entry, s *breaker.Settings) {
	if b, ok := e.node.(*ast.BoolNode); ok {
		if !b.Value {
			s.Failures = -1
		}
		return
	}
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	if v, ok := m.get("failures"); ok {
		s.Failures, _ = f.count(v, 1)
	}
	if v, ok := m.get("cooldown"); ok {
		s.Cooldown, _ = f.duration(v)
	}
	if v, ok := m.get("max_cooldown"); ok {
		s.MaxCooldown, _ = f.duration(v)
	}
	m.finish("failures", "cooldown", "max_cooldown")
}

// providerList reads the short form of a failover channel, a list of
// other channels tried in order: "sms: [twilio, aliyun]" means
// "sms: {type: failover, providers: [twilio, aliyun]}".
func (f *file) providerList(ch *Channel, e entry) *Channel {
	ct, ok := f.l.opts.ChannelTypes["failover"]
	if !ok || ct.New == nil {
		f.errorf(e.node, e.field, "a list of channels needs the failover channel type")
		return ch
	}
	items, _ := f.strs(e)
	var names []string
	for _, it := range items {
		if name, ok := f.str(it); ok {
			names = append(names, name)
			f.l.refs = append(f.l.refs, ref{kind: refProvider, name: name, pos: f.pos(it.node), field: it.field, from: e.key})
		}
	}
	ch.Type, ch.Settings = "failover", ct.New()
	r, ok := ch.Settings.(interface{ SetChannelRefs([]string) })
	if !ok {
		f.errorf(e.node, e.field, "the failover channel type cannot take a list of channels")
		return ch
	}
	r.SetChannelRefs(names)
	if v, ok := ch.Settings.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			f.errorf(e.node, e.field, "%v", err)
		}
	}
	return ch
}
