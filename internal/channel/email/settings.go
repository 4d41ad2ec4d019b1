package email

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
)

// TLS modes.
const (
	// TLSStartTLS upgrades the connection with STARTTLS and fails if the
	// server does not offer it (the default).
	TLSStartTLS = "starttls"
	// TLSStartTLSOptional upgrades when the server offers STARTTLS and
	// continues in clear text when it does not. A server that offers it
	// but fails the handshake is an error, never a downgrade.
	TLSStartTLSOptional = "starttls_optional"
	// TLSImplicit speaks SMTP inside TLS from the first byte (SMTPS,
	// usually port 465).
	TLSImplicit = "tls"
	// TLSNone never encrypts. Only for local relays and tests.
	TLSNone = "none"
)

// Authentication mechanisms.
const (
	AuthPlain   = "plain"
	AuthLogin   = "login"
	AuthCRAMMD5 = "cram-md5"
)

// Default ports.
const (
	DefaultPort    = 587
	DefaultTLSPort = 465
)

// Settings configure an email channel.
type Settings struct {
	// Host is the SMTP server's name or address (required).
	Host string `yaml:"host"`
	// Port defaults to 587, or 465 with tls: tls.
	Port int `yaml:"port"`
	// Username and Password authenticate when Username is set.
	Username string         `yaml:"username"`
	Password channel.Secret `yaml:"password"`
	// Auth is the mechanism: plain (default), login or cram-md5. Plain
	// and login are refused over an unencrypted connection to anything
	// but localhost.
	Auth string `yaml:"auth"`
	// From is the sender, "addr@example.com" or "Name <addr@example.com>"
	// (required).
	From string `yaml:"from"`
	// TLS is starttls (default), starttls_optional, tls or none.
	TLS string `yaml:"tls"`
	// InsecureSkipVerify accepts any server certificate. For tests and
	// self-signed servers only; prefer CAFile.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// CAFile is a PEM file of certificates to trust instead of the
	// system's roots.
	CAFile string `yaml:"ca_file"`
	// HELO is the name announced in EHLO (default: this host's name).
	HELO string `yaml:"helo"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the password.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.Host) == "" {
		return errors.New("host is required")
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("port %d is out of range", s.Port)
	}
	if strings.TrimSpace(s.From) == "" {
		return errors.New("from is required")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("from %q is not an email address: %w", s.From, err)
	}
	switch s.TLS {
	case "", TLSStartTLS, TLSStartTLSOptional, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("tls %q is not starttls, starttls_optional, tls or none", s.TLS)
	}
	switch strings.ToLower(s.Auth) {
	case "", AuthPlain, AuthLogin, AuthCRAMMD5:
	default:
		return fmt.Errorf("auth %q is not plain, login or cram-md5", s.Auth)
	}
	if s.Password != "" && s.Username == "" {
		return errors.New("password is set but username is not")
	}
	if strings.ContainsAny(s.HELO, " \r\n") {
		return fmt.Errorf("helo %q is not a host name", s.HELO)
	}
	return nil
}

// tlsMode returns the TLS mode with its default.
func (s *Settings) tlsMode() string {
	if s.TLS == "" {
		return TLSStartTLS
	}
	return s.TLS
}

// port returns the port with its default.
func (s *Settings) port() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.tlsMode() == TLSImplicit:
		return DefaultTLSPort
	default:
		return DefaultPort
	}
}

// FromURL fills settings (a *Settings) from a channel URL:
//
//	smtp://user:pass@host:587?from=alerts@example.com&tls=none
//	smtps://user:pass@host?from=alerts@example.com
//
// smtps means implicit TLS (default port 465). The user name and password
// are URL-decoded. Query parameters: from, tls, auth, helo, ca_file,
// insecure_skip_verify; any other is an error.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("email: settings are %T, want *email.Settings", settings)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse repeats the URL, password included; say less.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("email: malformed URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
	case "smtps":
		s.TLS = TLSImplicit
	default:
		return fmt.Errorf("email: URL scheme %q is not smtp or smtps", u.Scheme)
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return errors.New("email: URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("email: URL port %q is invalid", p)
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			s.Password = channel.Secret(pw)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("email: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "from":
			s.From = v
		case "tls":
			if strings.EqualFold(u.Scheme, "smtps") && v != TLSImplicit {
				return fmt.Errorf("email: smtps:// means tls=tls, not %q", v)
			}
			s.TLS = v
		case "auth":
			s.Auth = v
		case "helo":
			s.HELO = v
		case "ca_file":
			s.CAFile = v
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("email: insecure_skip_verify %q is not a boolean", v)
			}
			s.InsecureSkipVerify = b
		default:
			return fmt.Errorf("email: unknown URL parameter %q", k)
		}
	}
	return nil
}
