package smsgateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/template"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Defaults.
const (
	// DefaultBody is the request body when none is configured.
	DefaultBody = `{"to":{{json .To}},"text":{{json .Text}}}`
	// DefaultContentType goes with DefaultBody.
	DefaultContentType = "application/json"
	// DefaultMaxLength is ten 160-character SMS.
	DefaultMaxLength = 1600
)

// Settings configure a generic HTTP SMS gateway: the request Herald makes
// is described by templates (Go text/template) over the message.
//
// Templates see .To, .Text, .Subject, .MessageID, .Key and .Token, and
// the functions json (a string as a JSON string literal, quotes included)
// and urlquery (query escaping, from text/template).
type Settings struct {
	// URL is the gateway's endpoint (a template; escape a recipient in it
	// with urlquery: ...?to={{urlquery .To}}).
	URL string `yaml:"url"`
	// Method is the HTTP method (default POST).
	Method string `yaml:"method"`
	// Headers are added to the request; values are templates, so
	// "Authorization: Bearer {{.Token}}" keeps the token in Token.
	Headers map[string]string `yaml:"headers"`
	// Body is the request body template (default DefaultBody).
	Body string `yaml:"body"`
	// ContentType is the Content-Type header (default application/json).
	ContentType string `yaml:"content_type"`
	// Token is a secret the templates can use as .Token; it never appears
	// in errors.
	Token channel.Secret `yaml:"token"`
	// SuccessStatus lists the HTTP statuses that mean "accepted" (default:
	// any 2xx).
	SuccessStatus []int `yaml:"success_status"`
	// IDField is a dot path into a JSON answer ("data.id",
	// "messages.0.id") whose value becomes the provider id.
	IDField string `yaml:"id_field"`
	// MaxLength caps the text in runes (default 1600).
	MaxLength int `yaml:"max_length"`
	// To is the default recipient.
	To string `yaml:"to"`
	// AnyRecipient accepts recipients that are not E.164 numbers (a
	// gateway with its own address format); by default they must be.
	AnyRecipient bool `yaml:"any_recipient"`
	// SubjectPrefix, when true, sends "subject: text" as .Text.
	SubjectPrefix bool `yaml:"subject_prefix"`
}

// templates are the parsed templates of a Settings.
type templates struct {
	url     *template.Template
	body    *template.Template
	headers map[string]*template.Template
}

var funcs = template.FuncMap{
	"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
	// basic returns the credentials of an "Authorization: Basic" header.
	"basic": func(user, password string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	},
}

func parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid template: %w", name, err)
	}
	return t, nil
}

// parse parses every template of s.
func (s *Settings) parse() (*templates, error) {
	var t templates
	var err error
	if t.url, err = parse("url", s.URL); err != nil {
		return nil, err
	}
	body := s.Body
	if body == "" {
		body = DefaultBody
	}
	if t.body, err = parse("body", body); err != nil {
		return nil, err
	}
	t.headers = make(map[string]*template.Template, len(s.Headers))
	for k, v := range s.Headers {
		if !validToken(k) {
			return nil, fmt.Errorf("headers: %q is not a valid header name", k)
		}
		if t.headers[k], err = parse("headers."+k, v); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// sample is the data a configuration is checked with.
var sample = data{To: "+15558675310", Text: "text", Subject: "subject", MessageID: "id", Key: "key", Token: "token"}

// Validate reports the first problem with the settings: a missing or
// broken template, a URL that does not render to an http(s) URL, a bad
// status list. Its errors never contain the token or header values.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.URL) == "" {
		return errors.New("url is required")
	}
	t, err := s.parse()
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := t.url.Execute(&b, sample); err != nil {
		return errors.New("url: the template fails on a sample message")
	}
	if err := netguard.CheckURL(b.String()); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if s.Method != "" && !validToken(s.Method) {
		return fmt.Errorf("method %q is not a valid HTTP method", s.Method)
	}
	if strings.ContainsAny(s.ContentType, "\r\n") {
		return errors.New("content_type contains a line break")
	}
	for _, code := range s.SuccessStatus {
		if code < 100 || code > 599 {
			return fmt.Errorf("success_status %d is not an HTTP status", code)
		}
	}
	if s.MaxLength < 0 {
		return errors.New("max_length must not be negative")
	}
	if s.To != "" && !s.AnyRecipient && !channel.ValidE164(s.To) {
		return fmt.Errorf("to %q is not an E.164 phone number (set any_recipient for other formats)", s.To)
	}
	if s.IDField != "" && (strings.HasPrefix(s.IDField, ".") || strings.HasSuffix(s.IDField, ".") || strings.Contains(s.IDField, "..")) {
		return fmt.Errorf("id_field %q is not a dot path such as data.id", s.IDField)
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL: smsgw+https://
// (or smsgw+http://) followed by the gateway's URL, which may be a
// template (?to={{urlquery .To}}). A user and password in it become an
// "Authorization: Basic" header (the password kept in Token) instead of
// staying in the URL. Every other option needs explicit fields.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("smsgateway: settings are %T, want *smsgateway.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !(strings.EqualFold(scheme, "smsgw+https") || strings.EqualFold(scheme, "smsgw+http")) {
		return errors.New("smsgateway: URL must look like smsgw+https://host/path")
	}
	target := strings.ToLower(strings.TrimPrefix(strings.ToLower(scheme), "smsgw+")) + "://"
	var out Settings
	hostAndPath := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		hostAndPath = rest[:end]
	}
	if at := strings.LastIndexByte(hostAndPath, '@'); at >= 0 {
		user, pass, _ := strings.Cut(hostAndPath[:at], ":")
		u, err1 := url.PathUnescape(user)
		p, err2 := url.PathUnescape(pass)
		if err1 != nil || err2 != nil {
			return errors.New("smsgateway: URL user or password has a malformed percent-escape")
		}
		out.Token = channel.Secret(p)
		out.Headers = map[string]string{"Authorization": "Basic {{basic " + strconv.Quote(u) + " .Token}}"}
		rest = rest[at+1:]
	}
	out.URL = target + rest
	if err := out.Validate(); err != nil {
		return fmt.Errorf("smsgateway: %w", err)
	}
	*s = out
	return nil
}

// validToken reports whether s is an RFC 9110 token (a method or a header
// name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
