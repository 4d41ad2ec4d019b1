package config

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/robfig/cron/v3"

	// Time zones must load on machines without a zoneinfo database
	// (minimal containers): a configuration that validates here must
	// run there.
	_ "time/tzdata"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
	"github.com/herald-notify/herald/internal/render"
	"github.com/herald-notify/herald/internal/rule"
)

// Schedule emits an event on every tick of a cron expression.
type Schedule struct {
	Name string
	// Expression is the cron expression as written ("30 2 * * *",
	// "0 */5 * * * *", "@daily", "@every 5m").
	Expression string
	// Cron is the parsed expression. Its times are read in Location.
	Cron cron.Schedule
	// Location is the time zone of the expression (default UTC).
	Location *time.Location
	// CatchUp fires one event at start for ticks missed while the server
	// was down (default true); otherwise they are skipped.
	CatchUp bool
	// Event is what every tick emits.
	Event SourceEvent
	Pos   Pos
}

// SourceEvent is the event a schedule emits on each tick.
type SourceEvent struct {
	// Type is a concrete event type.
	Type    string
	Subject string
	// Data is the event's JSON data (nil: none).
	Data json.RawMessage
}

// Heartbeat expects an event of a type at least every Interval (per key,
// when Key is set); a beat missing past Interval plus Grace emits
// heartbeat.missed, and the next beat heartbeat.recovered.
type Heartbeat struct {
	Name string
	// Type is the concrete event type that counts as a beat.
	Type string
	// Key renders the beat's key from the event ({{ .event.subject }});
	// nil tracks one heartbeat for every event of Type.
	Key      *render.Template
	Interval time.Duration
	// Grace is added to Interval before a beat counts as missed.
	Grace time.Duration
	Pos   Pos
}

// Monitor is an HTTP check that emits monitor.down after Failures
// consecutive failed checks and monitor.up after Successes consecutive
// good ones, only when the state changes.
type Monitor struct {
	Name string
	// URL is an absolute http or https URL. It may hold secrets; events
	// and logs show it without user info and query.
	URL    string
	Method string
	// Headers are sent with every check; values may be secrets.
	Headers map[string]channel.Secret
	// Status lists the statuses that count as up; empty means any 2xx.
	Status []int
	// BodyContains, when set, must appear in the response body.
	BodyContains string
	Interval     time.Duration
	// Timeout bounds one check (default 10s, at most Interval).
	Timeout time.Duration
	// Failures is how many failed checks in a row mark the monitor down
	// (default 1); Successes how many good ones mark it up again
	// (default 1).
	Failures  int
	Successes int
	Pos       Pos
	// urlPos is where the URL is written, for checks that need every
	// file read (network.allow_private may be in another file).
	urlPos Pos
}

// Source defaults.
const (
	defaultMonitorInterval = time.Minute
	defaultMonitorTimeout  = 10 * time.Second
	// minSourceInterval keeps a monitor or heartbeat from being
	// configured into a busy loop.
	minSourceInterval = time.Second
	// maxMonitorBodyContains bounds the substring a check looks for; the
	// check reads at most 1 MiB of the body.
	maxMonitorBodyContains = 4096
)

// sourceKeys are the top-level keys of event sources.
func sourceKeys() []string { return []string{"schedules", "heartbeats", "monitors"} }

// sources decodes the event source sections of one file.
func (f *file) sources(m *mapping) {
	if e, ok := m.get("schedules"); ok {
		sourceSection(f, e, "schedule", &f.l.cfg.Schedules, func(s *Schedule) Pos { return s.Pos }, f.schedule)
	}
	if e, ok := m.get("heartbeats"); ok {
		sourceSection(f, e, "heartbeat", &f.l.cfg.Heartbeats, func(h *Heartbeat) Pos { return h.Pos }, f.heartbeat)
	}
	if e, ok := m.get("monitors"); ok {
		sourceSection(f, e, "monitor", &f.l.cfg.Monitors, func(m *Monitor) Pos { return m.Pos }, f.monitor)
	}
}

// cronParser accepts five fields (minute first) or six (second first),
// and descriptors such as @daily and @every 5m.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// sourceName checks a source's name and that it is not declared twice;
// kind is "schedule", "heartbeat" or "monitor".
func (f *file) sourceName(e entry, kind string, first Pos, dup bool) bool {
	if !validName(e.key, false) {
		f.errorf(e.keyNode, e.field, "invalid %s name: use lower-case letters, digits, - and _, starting with a letter or digit", kind)
	}
	if dup {
		f.errorf(e.keyNode, e.field, "%s %q is already declared at %s", kind, e.key, first)
		return false
	}
	return true
}

func (f *file) schedule(e entry) *Schedule {
	s := &Schedule{Name: e.key, Location: time.UTC, CatchUp: true, Pos: f.pos(e.keyNode)}
	m := f.mappingOf(e)
	if m == nil {
		return s
	}
	if v, ok := m.get("timezone"); ok {
		if tz, ok := f.str(v); ok {
			loc, err := loadLocation(tz)
			if err != nil {
				f.errorf(v.node, v.field, "%v", err)
			} else {
				s.Location = loc
			}
		}
	}
	if v, ok := m.get("cron"); !ok {
		m.required("cron")
	} else if expr, ok := f.str(v); ok {
		s.Expression = expr
		sched, err := parseCron(expr, s.Location)
		if err != nil {
			f.errorf(v.node, v.field, "%v", err)
		} else {
			s.Cron = sched
		}
	}
	if v, ok := m.get("catch_up"); ok {
		s.CatchUp, _ = f.boolean(v)
	}
	if v, ok := m.get("emit"); !ok {
		m.required("emit")
	} else {
		s.Event = f.sourceEvent(v)
	}
	m.finish("cron", "timezone", "catch_up", "emit")
	return s
}

func loadLocation(tz string) (*time.Location, error) {
	// LoadLocation treats "" as UTC and "Local" as the machine's zone;
	// both would make the schedule depend on where it runs unnoticed.
	if tz == "" || tz == "Local" {
		return nil, fmt.Errorf("want an IANA time zone name such as Europe/Berlin or UTC, got %q", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin, America/New_York or UTC)", tz)
	}
	return loc, nil
}

// parseCron parses a cron expression and checks that it ever fires.
func parseCron(expr string, loc *time.Location) (cron.Schedule, error) {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("bad cron expression: set the time zone with the timezone key, not in the expression")
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("bad cron expression %q: %v (want 5 fields: minute hour day-of-month month day-of-week, or 6 with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly, @every 10m)", expr, err)
	}
	if every, ok := strings.CutPrefix(expr, "@every "); ok {
		// The parser silently rounds to whole seconds (500ms becomes 1s).
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err == nil && (d < time.Second || d%time.Second != 0) {
			return nil, fmt.Errorf("bad cron expression %q: @every needs whole seconds, at least 1s", expr)
		}
	}
	// The parser looks at most five years ahead (30 February never
	// comes); such an expression is a mistake, not a schedule.
	if sched.Next(time.Now().In(loc)).IsZero() {
		return nil, fmt.Errorf("cron expression %q never fires", expr)
	}
	return sched, nil
}

// sourceEvent decodes the event a schedule emits.
func (f *file) sourceEvent(e entry) SourceEvent {
	var ev SourceEvent
	m := f.mappingOf(e)
	if m == nil {
		return ev
	}
	if v, ok := m.get("type"); !ok {
		m.required("type")
	} else if typ, ok := f.str(v); ok {
		ev.Type = f.concreteType(v, typ)
	}
	if v, ok := m.get("subject"); ok {
		ev.Subject, _ = f.str(v)
	}
	if v, ok := m.get("data"); ok {
		raw := v.node
		if v.mv != nil {
			raw = v.mv.Value
		}
		if val, ok := f.value(raw, v.field, 0); ok {
			b, err := json.Marshal(val)
			if err != nil {
				f.errorf(v.node, v.field, "cannot be written as JSON: %v", err)
			} else {
				ev.Data = b
			}
		}
	}
	m.finish("type", "subject", "data")
	return ev
}

// concreteType checks an event type a source emits or expects: no
// wildcards.
func (f *file) concreteType(e entry, typ string) string {
	p, err := rule.ParsePattern(typ)
	switch {
	case err != nil:
		f.errorf(e.node, e.field, "%v", err)
	case !p.Concrete():
		f.errorf(e.node, e.field, "%q has wildcards; give one concrete event type", typ)
	default:
		return typ
	}
	return ""
}

func (f *file) heartbeat(e entry) *Heartbeat {
	h := &Heartbeat{Name: e.key, Pos: f.pos(e.keyNode)}
	m := f.mappingOf(e)
	if m == nil {
		return h
	}
	if v, ok := m.get("type"); !ok {
		m.required("type")
	} else if typ, ok := f.str(v); ok {
		h.Type = f.concreteType(v, typ)
	}
	if v, ok := m.get("key"); ok {
		h.Key = f.template(v, "heartbeats."+e.key+".key", false)
	}
	if v, ok := m.get("interval"); !ok {
		m.required("interval")
	} else {
		h.Interval, _ = f.sourceInterval(v)
	}
	if v, ok := m.get("grace"); ok {
		h.Grace, _ = f.duration(v)
	}
	m.finish("type", "key", "interval", "grace")
	return h
}

// sourceInterval reads a duration of at least minSourceInterval.
func (f *file) sourceInterval(e entry) (time.Duration, bool) {
	d, ok := f.duration(e)
	if ok && d < minSourceInterval {
		f.errorf(e.node, e.field, "must be at least %s, got %q", minSourceInterval, shown(e.node))
		return 0, false
	}
	return d, ok
}

func (f *file) monitor(e entry) *Monitor {
	mon := &Monitor{Name: e.key, Method: http.MethodGet, Interval: defaultMonitorInterval, Failures: 1, Successes: 1, Pos: f.pos(e.keyNode)}
	m := f.mappingOf(e)
	if m == nil {
		return mon
	}
	if v, ok := m.get("url"); !ok {
		m.required("url")
	} else if u, ok := f.str(v); ok && f.httpURL(v, u) {
		mon.URL = u
		mon.urlPos = f.pos(v.node)
	}
	if v, ok := m.get("method"); ok {
		if method, ok := f.str(v); ok {
			if validMethod(method) {
				mon.Method = method
			} else {
				f.errorf(v.node, v.field, "%q is not an HTTP method (methods: %s)", shown(v.node), strings.Join(methods(), ", "))
			}
		}
	}
	if v, ok := m.get("headers"); ok {
		hm := f.mappingOf(v)
		for _, h := range hm.rest() {
			if !validHeader(h.key) {
				f.errorf(h.keyNode, h.field, "%q is not a valid HTTP header name", h.key)
				continue
			}
			if s, ok := f.str(h); ok {
				if mon.Headers == nil {
					mon.Headers = map[string]channel.Secret{}
				}
				mon.Headers[h.key] = channel.Secret(s)
			}
		}
	}
	if v, ok := m.get("status"); ok {
		mon.Status = f.statuses(v)
	}
	if v, ok := m.get("body_contains"); ok {
		if s, ok := f.str(v); ok {
			if s == "" || len(s) > maxMonitorBodyContains {
				f.errorf(v.node, v.field, "must be 1 to %d bytes long", maxMonitorBodyContains)
			} else {
				mon.BodyContains = s
			}
		}
	}
	if v, ok := m.get("interval"); ok {
		if d, ok := f.sourceInterval(v); ok {
			mon.Interval = d
		}
	}
	mon.Timeout = min(defaultMonitorTimeout, mon.Interval)
	if v, ok := m.get("timeout"); ok {
		if d, ok := f.duration(v); ok {
			if d > mon.Interval {
				f.errorf(v.node, v.field, "%s is longer than the interval (%s): a check must end before the next one starts", d, mon.Interval)
			} else {
				mon.Timeout = d
			}
		}
	}
	if v, ok := m.get("failures"); ok {
		if n, ok := f.count(v, 1); ok {
			mon.Failures = n
		}
	}
	if v, ok := m.get("successes"); ok {
		if n, ok := f.count(v, 1); ok {
			mon.Successes = n
		}
	}
	m.finish("url", "method", "headers", "status", "body_contains", "interval", "timeout", "failures", "successes")
	return mon
}

// statuses reads one HTTP status or a list of them.
func (f *file) statuses(e entry) []int {
	var items []entry
	if _, ok := e.node.(*ast.SequenceNode); ok {
		items, _ = f.items(e)
	} else {
		items = []entry{e}
	}
	var out []int
	for _, it := range items {
		n, ok := f.integer(it)
		if !ok {
			continue
		}
		if n < 100 || n > 599 {
			f.errorf(it.node, it.field, "%d is not an HTTP status (100 to 599)", n)
			continue
		}
		out = append(out, int(n))
	}
	return out
}

// boolean reads true or false; a string holding one is accepted too, for
// values that come from ${env:NAME}.
func (f *file) boolean(e entry) (bool, bool) {
	switch n := e.node.(type) {
	case *ast.BoolNode:
		return n.Value, true
	case *ast.StringNode:
		switch strings.TrimSpace(n.Value) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		f.errorf(e.node, e.field, "want true or false, got %q", shown(n))
		return false, false
	}
	f.errorf(e.node, e.field, "want true or false, got %s", kindOf(e.node))
	return false, false
}

// checkSources validates event sources against the rest of the
// configuration, once every file has been read.
func (l *loader) checkSources() {
	for _, name := range keys(l.cfg.Monitors) {
		l.checkMonitorURL(l.cfg.Monitors[name])
	}
}

// checkMonitorURL reports a monitor URL whose host is a literal private
// address (or localhost) that network.allow_private does not allow:
// every check would be refused, so the monitor would only ever be down.
func (l *loader) checkMonitorURL(mon *Monitor) {
	if mon.URL == "" {
		return
	}
	u, err := url.Parse(mon.URL)
	if err != nil {
		return // reported where it was read
	}
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if host == "localhost" {
		addr, err = netip.MustParseAddr("127.0.0.1"), nil
	}
	if err != nil || netguard.Public(addr) {
		return
	}
	if netguard.New(l.cfg.Network.AllowPrivate).Allowed(addr) {
		return
	}
	l.add(mon.urlPos, "monitors."+mon.Name+".url", fmt.Sprintf("%s is a private address, which outbound calls refuse: list it in network.allow_private (e.g. allow_private: [%s])", host, netip.PrefixFrom(addr, addr.BitLen())))
}

// sourceSection reads a schedules, heartbeats or monitors section: each
// entry named validly and once across files, parsed by parse into dst.
func sourceSection[T any](f *file, e entry, kind string, dst *map[string]*T, pos func(*T) Pos, parse func(entry) *T) {
	if *dst == nil {
		*dst = map[string]*T{}
	}
	for _, se := range f.mappingOf(e).rest() {
		first, dup := (*dst)[se.key]
		var firstPos Pos
		if dup {
			firstPos = pos(first)
		}
		if !f.sourceName(se, kind, firstPos, dup) {
			continue
		}
		(*dst)[se.key] = parse(se)
	}
}
