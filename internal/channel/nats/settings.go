package nats

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

// Defaults applied by New when a setting is left empty.
const (
	DefaultPort           = 4222
	DefaultConnectTimeout = 5 * time.Second
	// DefaultName is the connection name the server shows in its
	// monitoring (connz).
	DefaultName = "herald"
)

// Settings configure a NATS channel.
type Settings struct {
	// Server is the server's URL, nats://host:4222 (tls://host:4222 to
	// require TLS), or several separated by commas, which the client
	// fails over between. Required.
	Server string `yaml:"server"`
	// Subject is where messages go when a message has no recipient (To).
	Subject string `yaml:"subject"`
	// JetStream publishes to a stream and waits for its acknowledgement,
	// with the message's idempotency key as Nats-Msg-Id so the stream
	// drops retried attempts it already has. Off: core NATS publish.
	JetStream bool `yaml:"jetstream"`
	// Username and Password, or Token, or CredsFile (a .creds file with a
	// user JWT and its NKey seed) authenticate; at most one of the three.
	Username  string         `yaml:"username"`
	Password  channel.Secret `yaml:"password"`
	Token     channel.Secret `yaml:"token"`
	CredsFile string         `yaml:"creds_file"`
	// CAFile is a PEM file of certificates to trust instead of the
	// system's roots; setting it requires TLS.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any server certificate. For tests and
	// self-signed servers only; prefer CAFile.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ConnectTimeout bounds dialing one server (default 5s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Name is the connection name shown by the server (default "herald").
	Name string `yaml:"name"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the password or the token.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.Server) == "" {
		return errors.New("server is required (nats://host:4222)")
	}
	if _, err := serverURLs(s.Server); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if s.Subject != "" {
		if err := CheckSubject(s.Subject); err != nil {
			return fmt.Errorf("subject: %w", err)
		}
	}
	if s.Password != "" && s.Username == "" {
		return errors.New("password is set but username is not")
	}
	n := 0
	for _, set := range []bool{s.Username != "", s.Token != "", s.CredsFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("username/password, token and creds_file are alternatives: set one")
	}
	if s.ConnectTimeout < 0 {
		return errors.New("connect_timeout must not be negative")
	}
	if strings.ContainsAny(s.Name, "\r\n") {
		return errors.New("name must be one line")
	}
	return nil
}

// serverURLs parses the comma-separated server URLs. Credentials in them
// are taken out (see New) so that the URLs the client logs and reports
// carry none. Its errors never quote a URL.
func serverURLs(list string) ([]*url.URL, error) {
	var us []*url.URL
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil {
			return nil, errors.New("malformed server URL")
		}
		switch strings.ToLower(u.Scheme) {
		case "nats", "tls", "ws", "wss":
			u.Scheme = strings.ToLower(u.Scheme)
		default:
			return nil, errors.New("server URL scheme must be nats, tls, ws or wss")
		}
		if u.Hostname() == "" {
			return nil, errors.New("server URL has no host")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nil, errors.New("server URL port is not a number from 1 to 65535")
			}
		}
		us = append(us, u)
	}
	return us, nil
}

// CheckSubject reports why subject cannot be a publish subject: empty,
// holding whitespace or control characters (the protocol's delimiters),
// an empty token (a leading, trailing or doubled '.'), or a wildcard ('*'
// or '>'), which only subscriptions may use.
func CheckSubject(subject string) error {
	if subject == "" {
		return errors.New("subject is empty")
	}
	for i := 0; i < len(subject); i++ {
		switch c := subject[i]; {
		case c <= ' ' || c == 0x7f:
			return errors.New("subject contains whitespace or a control character")
		case c == '*' || c == '>':
			return errors.New("subject contains a wildcard (* or >); a message is published to one subject, wildcards are for subscriptions")
		}
	}
	if subject[0] == '.' || subject[len(subject)-1] == '.' || strings.Contains(subject, "..") {
		return errors.New("subject has an empty token (a leading, trailing or doubled '.')")
	}
	return nil
}

// urlShape is how a NATS channel URL looks, quoted by FromURL's errors.
const urlShape = "nats://[user:password@]host[:port]/subject?jetstream=true"

// FromURL fills settings (a *Settings) from a channel URL:
//
//	nats://[user:password@]host[:port]/subject?jetstream=true
//	nats://token@host[:port]/subject
//	tls://[user:password@]host[:port]/subject
//
// nats means TLS when the server asks for it, tls requires it; the default
// port is 4222. A user name without a password is a token, as nats.go
// reads URLs. The subject is the percent-decoded path after the first
// slash. The user name and password are percent-decoded; a password
// holding '/', '?' or '#' must encode them. Query parameters: jetstream,
// creds_file, ca_file, insecure_skip_verify, connect_timeout and name; any
// other is an error. The errors never quote the user information or
// parameter values, so a password cannot leak through a configuration
// error.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("nats: settings are %T, want *nats.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("nats: URL must look like " + urlShape)
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "nats", "tls":
	default:
		if chanurl.ValidScheme(scheme) {
			return fmt.Errorf("nats: URL scheme %q is not nats or tls", scheme)
		}
		return errors.New("nats: URL must look like " + urlShape)
	}
	// The user information is split off by hand, before anything else is
	// parsed, so that no parse error can quote the password.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		user, pass, hasPass := strings.Cut(authority[:i], ":")
		authority = authority[i+1:]
		u, err := url.PathUnescape(user)
		if err != nil {
			return errors.New("nats: the user name in the URL is not validly percent-encoded")
		}
		if !hasPass {
			if u == "" {
				return errors.New("nats: the URL has an empty token before '@'")
			}
			s.Token = channel.Secret(u)
		} else {
			if u == "" {
				return errors.New("nats: the URL has a password but no user name")
			}
			p, err := url.PathUnescape(pass)
			if err != nil {
				return errors.New("nats: the password in the URL is not validly percent-encoded")
			}
			s.Username, s.Password = u, channel.Secret(p)
		}
	}
	host, port, err := chanurl.SplitHostPort(authority, 4222, ",")
	if err != nil {
		return fmt.Errorf("nats: URL %w", err)
	}
	if port == 0 {
		port = DefaultPort
	}
	if strings.IndexByte(tail, '#') >= 0 {
		return errors.New("nats: the URL contains '#' (write %23 for a literal # in the subject)")
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" {
		subject, err := url.PathUnescape(path[1:])
		if err != nil {
			return errors.New("nats: the subject in the URL is not validly percent-encoded")
		}
		if subject != "" {
			if err := CheckSubject(subject); err != nil {
				return fmt.Errorf("nats: URL: %w", err)
			}
			s.Subject = subject
		}
	}
	s.Server = scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
	return s.query(query)
}

// query applies the URL's query parameters. Its errors quote no values
// and only parameter names that look like names: a user name holding an
// unencoded '?' moves the password into the query.
func (s *Settings) query(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return errors.New("nats: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "jetstream":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("nats: URL parameter jetstream is not a boolean (true or false)")
			}
			s.JetStream = b
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("nats: URL parameter insecure_skip_verify is not a boolean (true or false)")
			}
			s.InsecureSkipVerify = b
		case "creds_file":
			s.CredsFile = v
		case "ca_file":
			s.CAFile = v
		case "name":
			s.Name = v
		case "connect_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("nats: URL parameter connect_timeout is not a duration such as 5s")
			}
			s.ConnectTimeout = d
		default:
			name := "an unknown URL parameter"
			if chanurl.SimpleName(k) {
				name = fmt.Sprintf("unknown URL parameter %q", k)
			}
			return fmt.Errorf("nats: %s (known: jetstream, creds_file, ca_file, insecure_skip_verify, connect_timeout, name)", name)
		}
	}
	return nil
}
