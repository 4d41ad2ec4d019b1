package config

import (
	"github.com/goccy/go-yaml/ast"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

// setDefaults fills what a configuration has when it says nothing.
func setDefaults(cfg *Config) {
	cfg.Server = Server{
		Listen:          "127.0.0.1:8080",
		MaxBody:         1 << 20,
		MaxBatch:        1000,
		ShutdownTimeout: 15 * time.Second,
	}
	cfg.Storage = Storage{Path: "data/herald.db"}
	cfg.Delivery = Delivery{
		MaxAttempts:    8,
		BackoffInitial: time.Second,
		BackoffMax:     10 * time.Minute,
		Timeout:        10 * time.Second,
		Lease:          15 * time.Second,
		Concurrency:    16,
		MaxEmitDepth:   8,
	}
	cfg.Retention = Retention{
		Events:      7 * 24 * time.Hour,
		Idempotency: 24 * time.Hour,
	}
}

func (f *file) server(e entry) {
	m := f.mappingOf(e)
	s := &f.l.cfg.Server
	if v, ok := m.get("listen"); ok {
		if addr, ok := f.str(v); ok {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				f.errorf(v.node, v.field, "%q is not a host:port address (e.g. 127.0.0.1:8080, :8080)", shown(v.node))
			} else {
				s.Listen = addr
			}
		}
	}
	if v, ok := m.get("token"); ok {
		if tok, ok := f.str(v); ok {
			s.Token = channel.Secret(tok)
		}
	}
	if v, ok := m.get("public_url"); ok {
		if u, ok := f.str(v); ok && f.httpURL(v, u) {
			s.PublicURL = strings.TrimSuffix(u, "/")
		}
	}
	if v, ok := m.get("max_body"); ok {
		if n, ok := f.byteSize(v); ok {
			s.MaxBody = n
		}
	}
	if v, ok := m.get("max_batch"); ok {
		if n, ok := f.count(v, 1); ok {
			s.MaxBatch = n
		}
	}
	if v, ok := m.get("shutdown_timeout"); ok {
		if d, ok := f.duration(v); ok {
			s.ShutdownTimeout = d
		}
	}
	m.finish("listen", "token", "public_url", "max_body", "max_batch", "shutdown_timeout")
}

// httpURL checks that u is an absolute http or https URL.
func (f *file) httpURL(e entry, u string) bool {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		f.errorf(e.node, e.field, "%q is not an http:// or https:// URL", shown(e.node))
		return false
	}
	return true
}

// checkServer validates the server section as a whole, once every file
// is read: a server reachable from other machines must require a token.
func (l *loader) checkServer() {
	s := &l.cfg.Server
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return // reported where it was read
	}
	if !loopback(host) && s.Token == "" {
		l.add(l.sectionPos("server"), "server.token", "required when server.listen ("+s.Listen+") is not a loopback address: without it anyone who can reach the port can send events")
	}
	if s.PublicURL == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		s.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
}

func (l *loader) sectionPos(name string) Pos {
	if p, ok := l.sections[name]; ok {
		return p
	}
	return Pos{}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

func (f *file) storage(e entry) {
	st := &f.l.cfg.Storage
	// The short form: a PostgreSQL URL (or a SQLite path) as the value.
	switch e.node.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		if v, ok := f.str(e); ok {
			f.storageTarget(e, v)
		}
		return
	}
	m := f.mappingOf(e)
	pathGiven := m.has("path")
	if v, ok := m.get("path"); ok {
		if p, ok := f.str(v); ok {
			st.Path = p
		}
	}
	if v, ok := m.get("url"); ok {
		if u, ok := f.str(v); ok {
			if pathGiven {
				f.errorf(v.node, v.field, "give either path (SQLite) or url (PostgreSQL), not both")
			} else {
				f.storageTarget(v, u)
			}
		}
	}
	if v, ok := m.get("schema"); ok {
		if sc, ok := f.str(v); ok {
			if !validSchema(sc) {
				f.errorf(v.node, v.field, "schema %q must be lower-case letters, digits and _ (at most 51)", sc)
			}
			st.Schema = sc
		}
	}
	if v, ok := m.get("max_conns"); ok {
		st.MaxConns, _ = f.count(v, 1)
	}
	if v, ok := m.get("migrate"); ok {
		if b, ok := f.boolean(v); ok {
			st.NoMigrate = !b
		}
	}
	if st.URL == "" && (st.Schema != "" || st.MaxConns != 0) {
		f.errorf(e.node, e.field, "schema and max_conns apply to PostgreSQL storage (url: postgres://...)")
	}
	m.finish("path", "url", "schema", "max_conns", "migrate")
}

// storageTarget sets a PostgreSQL URL or a SQLite path.
func (f *file) storageTarget(e entry, v string) {
	st := &f.l.cfg.Storage
	if scheme, _, ok := strings.Cut(v, "://"); ok {
		switch scheme {
		case "postgres", "postgresql":
			st.URL = v
		default:
			f.errorf(e.node, e.field, "storage URL scheme %q is not postgres:// (for SQLite give a file path)", scheme)
		}
		return
	}
	st.Path = v
}

func validSchema(s string) bool {
	if s == "" || len(s) > 51 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func (f *file) delivery(e entry) {
	m := f.mappingOf(e)
	d := &f.l.cfg.Delivery
	if v, ok := m.get("max_attempts"); ok {
		if n, ok := f.count(v, 1); ok {
			d.MaxAttempts = n
		}
	}
	if v, ok := m.get("backoff"); ok {
		b := f.mappingOf(v)
		if w, ok := b.get("initial"); ok {
			if t, ok := f.duration(w); ok {
				d.BackoffInitial = t
			}
		}
		if w, ok := b.get("max"); ok {
			if t, ok := f.duration(w); ok {
				d.BackoffMax = t
			}
		}
		if b != nil && d.BackoffInitial > d.BackoffMax {
			f.errorf(v.node, v.field, "initial (%s) is longer than max (%s)", d.BackoffInitial, d.BackoffMax)
		}
		b.finish("initial", "max")
	}
	if v, ok := m.get("timeout"); ok {
		if t, ok := f.duration(v); ok {
			d.Timeout = t
		}
	}
	if v, ok := m.get("lease"); ok {
		if t, ok := f.duration(v); ok {
			// A job must outlive the moment a worker takes it (the
			// engine drops jobs with under a second of lease left).
			if t < 2*time.Second {
				f.errorf(v.node, v.field, "must be at least 2s, got %s", t)
			} else {
				d.Lease = t
			}
		}
	}
	if v, ok := m.get("concurrency"); ok {
		if n, ok := f.count(v, 1); ok {
			d.Concurrency = n
		}
	}
	if v, ok := m.get("max_emit_depth"); ok {
		if n, ok := f.count(v, 1); ok {
			d.MaxEmitDepth = n
		}
	}
	m.finish("max_attempts", "backoff", "timeout", "lease", "concurrency", "max_emit_depth")
}

func (f *file) retention(e entry) {
	m := f.mappingOf(e)
	r := &f.l.cfg.Retention
	if v, ok := m.get("events"); ok {
		if t, ok := f.duration(v); ok {
			r.Events = t
		}
	}
	if v, ok := m.get("idempotency"); ok {
		if t, ok := f.duration(v); ok {
			r.Idempotency = t
		}
	}
	m.finish("events", "idempotency")
}

func (f *file) network(e entry) {
	m := f.mappingOf(e)
	if v, ok := m.get("allow_private"); ok {
		items, _ := f.strs(v)
		for _, it := range items {
			s, _ := f.str(it)
			if p, err := netip.ParsePrefix(s); err == nil {
				f.l.cfg.Network.AllowPrivate = append(f.l.cfg.Network.AllowPrivate, p.Masked())
			} else if a, err := netip.ParseAddr(s); err == nil {
				f.l.cfg.Network.AllowPrivate = append(f.l.cfg.Network.AllowPrivate, netip.PrefixFrom(a, a.BitLen()))
			} else {
				f.errorf(it.node, it.field, "%q is not an IP address or a CIDR prefix (e.g. 10.0.0.0/8, 127.0.0.1)", shown(it.node))
			}
		}
	}
	m.finish("allow_private")
}
