// Package email delivers messages over SMTP. Messages are composed with
// github.com/wneessen/go-mail (headers, quoted-printable, multipart) and
// sent with its SMTP client, which this package drives step by step so
// that every SMTP reply can be classified: a 4xx is retried, a 5xx or a
// refused login is permanent.
//
// Each send uses one connection (connect, EHLO, STARTTLS, AUTH, one
// message, QUIT). Mail volumes per channel are modest and a fresh
// connection cannot be left in a bad state by an earlier failure; pooling
// can come later if a benchmark asks for it.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/herald-notify/herald/internal/channel"
)

// DialFunc opens a network connection; pass netguard.Guard.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// defaultTimeout bounds a send whose context has no deadline.
const defaultTimeout = time.Minute

// Sender sends messages through one SMTP server. It is safe for
// concurrent use.
type Sender struct {
	addr     string // host:port
	host     string
	helo     string
	mode     string
	from     *mail.Address
	username string
	password string
	auth     string
	tls      *tls.Config
	dial     DialFunc
	now      func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. dial opens connections (nil uses
// a plain net.Dialer, which skips the private-address guard). A ca_file
// that cannot be read or holds no certificate is an error.
func New(s *Settings, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Sender, error) {
	if s == nil {
		return nil, errors.New("email: nil settings")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("email: from: %w", err)
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tlsConfig := &tls.Config{
		ServerName:         s.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.InsecureSkipVerify, // an explicit, documented opt-in
	}
	if s.CAFile != "" {
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("email: ca_file %s holds no PEM certificate", s.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	helo := s.HELO
	if helo == "" {
		// What go-mail would announce too; "localhost" when unknown.
		if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
			helo = h
		} else {
			helo = "localhost"
		}
	}
	auth := strings.ToLower(s.Auth)
	if auth == "" {
		auth = AuthPlain
	}
	return &Sender{
		addr:     net.JoinHostPort(s.Host, strconv.Itoa(s.port())),
		host:     s.Host,
		helo:     helo,
		mode:     s.tlsMode(),
		from:     from,
		username: s.Username,
		password: s.Password.Value(),
		auth:     auth,
		tls:      tlsConfig,
		dial:     dial,
		now:      time.Now,
	}, nil
}

// Capabilities implements channel.Describer.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{Subject: true, HTML: true}
}

// Send delivers m to m.To. The receipt's ProviderID is the message's
// Message-ID, "<m.ID@herald>", the same on every attempt so that a
// recipient's mail system can recognise a repeated delivery.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("email: nil message"))
	}
	if strings.TrimSpace(m.To) == "" {
		return nil, channel.Permanent("no_recipient", 0, errors.New("email: message has no recipient address"))
	}
	rcpt, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("email: recipient: %w", err))
	}
	msg, msgID := s.compose(m, rcpt)
	resp, err := s.deliver(ctx, msg, rcpt.Address)
	if err != nil {
		return nil, err
	}
	return &channel.Receipt{
		ProviderID: msgID,
		StatusCode: 250,
		Response:   []byte(resp),
	}, nil
}

// compose builds the MIME message: text and/or HTML (multipart/alternative
// when both), a stable Message-ID and X-Herald-Event.
func (s *Sender) compose(m *channel.Message, rcpt *mail.Address) (*gomail.Msg, string) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(rcpt)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(s.now())
	msg.SetUserAgent("Herald")
	id := m.ID
	if id == "" {
		id = m.IdempotencyKey
	}
	if id != "" {
		msg.SetMessageIDWithValue(id + "@herald")
	} else {
		msg.SetMessageID()
	}
	if m.EventType != "" {
		msg.SetGenHeader("X-Herald-Event", m.EventType)
	}
	// Earlier messages with the same correlation key: thread the mail.
	var refs []string
	for _, p := range m.PreviousIDs {
		if len(p) > 2 && p[0] == '<' && p[len(p)-1] == '>' && !strings.ContainsAny(p, " \r\n") {
			refs = append(refs, p)
		}
	}
	if len(refs) > 0 {
		msg.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, refs[0])
		// References lists the thread oldest first.
		for i, j := 0, len(refs)-1; i < j; i, j = i+1, j-1 {
			refs[i], refs[j] = refs[j], refs[i]
		}
		msg.SetGenHeaderPreformatted(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, msg.GetMessageID()
}

// deliver runs one SMTP session and returns the server's answer to the
// message data.
func (s *Sender) deliver(ctx context.Context, msg *gomail.Msg, rcpt string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", s.classify(ctx, "connect", err)
	}
	conn, err := s.dial(ctx, "tcp", s.addr)
	if err != nil {
		return "", s.classify(ctx, "connect", err)
	}
	// The SMTP client knows no context: closing the connection is how a
	// canceled or expired send is cut short at any step.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return "", s.classify(ctx, "connect", err)
	}

	if s.mode == TLSImplicit {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", s.classify(ctx, "TLS handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return "", s.classify(ctx, "greeting", err)
	}
	if err := c.Hello(s.helo); err != nil {
		return "", s.classify(ctx, "EHLO", err)
	}
	if s.mode == TLSStartTLS || s.mode == TLSStartTLSOptional {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return "", s.classify(ctx, "STARTTLS", err)
			}
		} else if s.mode == TLSStartTLS {
			return "", channel.Permanent("starttls_unsupported", 0,
				errors.New("email: the server does not offer STARTTLS (set tls: starttls_optional to allow clear text)"))
		}
	}
	if s.username != "" {
		if err := c.Auth(s.authMechanism()); err != nil {
			return "", s.classify(ctx, "AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return "", s.classify(ctx, "MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return "", s.classify(ctx, "RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return "", s.classify(ctx, "DATA", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return "", s.classify(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return "", s.classify(ctx, "end of DATA", err)
	}
	var resp string
	if dc, ok := w.(*smtp.DataCloser); ok {
		resp = dc.ServerResponse()
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	return resp, nil
}

func (s *Sender) authMechanism() smtp.Auth {
	switch s.auth {
	case AuthLogin:
		return smtp.LoginAuth(s.username, s.password, s.host, false)
	case AuthCRAMMD5:
		return smtp.CRAMMD5Auth(s.username, s.password)
	default:
		return smtp.PlainAuth("", s.username, s.password, s.host, false)
	}
}
