package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/robfig/cron/v3"

	"github.com/herald-notify/herald/internal/render"
)

// delay decodes "delay: 10m", "delay: {for: ...}" or "delay: {until: ...}".
func (f *file) delay(r *Rule, s *Step, e entry, prefix string) {
	d := &Delay{}
	s.Delay = d
	if _, isMap := e.node.(*ast.MappingNode); !isMap {
		d.For = f.durationTemplate(e, prefix+".for")
		return
	}
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	vf, hasFor := m.get("for")
	vu, hasUntil := m.get("until")
	switch {
	case hasFor && hasUntil:
		f.errorf(vu.keyNode, e.field, "use either for or until, not both")
	case hasFor:
		d.For = f.durationTemplate(vf, prefix+".for")
	case hasUntil:
		d.Until = f.template(vu, prefix+".until", false)
	default:
		f.errorf(e.node, e.field, "delay needs a duration (delay: 10m) or for/until")
	}
	m.finish("for", "until")
}

// durationTemplate compiles a duration that may be a template; a literal
// is checked now.
func (f *file) durationTemplate(e entry, name string) *render.Template {
	s, ok := f.str(e)
	if !ok {
		return nil
	}
	if !strings.Contains(s, "{{") {
		if _, ok := f.duration(e); !ok {
			return nil
		}
	}
	return f.template(e, name, false)
}

func (f *file) waitAck(r *Rule, s *Step, e entry, prefix string) {
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	w := &WaitAck{}
	s.WaitAck = w
	w.Timeout, w.OnTimeout = f.timeout(m, r, s, prefix)
	m.finish("timeout", "on_timeout")
}

func (f *file) waitEvent(r *Rule, s *Step, e entry, prefix string) {
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	w := &WaitEvent{}
	s.WaitEvent = w
	if v, ok := m.get("type"); !ok {
		m.required("type")
	} else if typ, ok := f.str(v); ok {
		w.Type = f.concreteType(v, typ)
	}
	if v, ok := m.get("correlate"); ok {
		w.Correlate = f.template(v, prefix+".correlate", false)
	}
	if v, ok := m.get("if"); ok {
		w.If = f.condition(v)
	}
	if !m.has("correlate") && !m.has("if") {
		f.errorf(m.node, e.field, "wait_event needs correlate (a template rendered against both events, e.g. \"{{ .event.data.order_id }}\") or if, or it would match any %s event", w.Type)
	}
	w.Timeout, w.OnTimeout = f.timeout(m, r, s, prefix)
	m.finish("type", "correlate", "if", "timeout", "on_timeout")
}

// timeout reads a wait's required timeout and its optional on_timeout steps.
func (f *file) timeout(m *mapping, r *Rule, s *Step, prefix string) (time.Duration, []*Step) {
	var d time.Duration
	if v, ok := m.get("timeout"); !ok {
		m.required("timeout")
	} else if t, ok := f.duration(v); ok {
		d = t
	}
	var steps []*Step
	if v, ok := m.get("on_timeout"); ok {
		steps = f.subSteps(r, s, v, prefix)
	}
	return d, steps
}

// subSteps decodes the on_timeout steps of a wait. They may only notify,
// call a webhook (without waiting for it) or emit.
func (f *file) subSteps(r *Rule, parent *Step, e entry, prefix string) []*Step {
	items, ok := f.items(e)
	if !ok {
		return nil
	}
	names := map[string]int{}
	var out []*Step
	for i, it := range items {
		s := f.step(r, prefix, it, i, names)
		if s == nil {
			continue
		}
		switch s.Kind {
		case StepNotify:
			if s.Notify != nil && len(s.Notify.Channels) > 1 {
				f.errorf(it.node, it.field, "on_timeout steps run at once and cannot wait for a failover (channels:); notify one channel here, or move the failover into a step after the wait")
				continue
			}
		case StepWebhook, StepEmit:
		default:
			f.errorf(it.node, it.field, "on_timeout steps may notify, call a webhook or emit; %s is not allowed here", s.Kind)
			continue
		}
		s.Name = fmt.Sprintf("%s/%s", parent.Name, s.Name)
		out = append(out, s)
	}
	if len(items) == 0 {
		f.errorf(e.node, e.field, "on_timeout needs at least one step")
	}
	return out
}

func (f *file) digest(r *Rule, s *Step, e entry, prefix string) {
	m := f.mappingOf(e)
	if m == nil {
		return
	}
	d := &Digest{}
	s.Digest = d
	if v, ok := m.get("key"); ok {
		d.Key = f.template(v, prefix+".key", false)
	}
	vf, hasFor := m.get("for")
	vs, hasSchedule := m.get("schedule")
	switch {
	case hasFor && hasSchedule:
		f.errorf(vs.keyNode, e.field, "use either for (a window) or schedule (cron), not both")
	case hasFor:
		if t, ok := f.duration(vf); ok {
			d.Window = t
		}
	case hasSchedule:
		if spec, ok := f.str(vs); ok {
			sched, err := cron.ParseStandard(spec)
			if err != nil {
				f.errorf(vs.node, vs.field, "%q is not a cron expression: %v", spec, err)
			} else {
				d.Schedule = spec
				d.Next = sched.Next
			}
		}
	default:
		f.errorf(e.node, e.field, "digest needs a window (for: 10m) or a schedule (schedule: \"0 9 * * *\")")
	}
	if v, ok := m.get("lookback"); ok {
		if b, ok := v.node.(*ast.BoolNode); ok {
			d.Lookback = b.Value
			if d.Lookback && hasSchedule {
				f.errorf(v.node, v.field, "lookback works with a window (for), not a schedule")
			}
		} else {
			f.errorf(v.node, v.field, "want true or false")
		}
	}
	m.finish("key", "for", "schedule", "lookback")
}
