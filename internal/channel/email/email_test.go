package email_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/email"
	"github.com/herald-notify/herald/internal/channel/email/smtptest"
	"github.com/herald-notify/herald/internal/netguard"
)

const (
	user     = "herald"
	password = "pa55-w0rd-hidden"
)

// loopbackDial is the guarded dialer the app uses, with loopback allowed.
var loopbackDial = netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).DialContext

func message() *channel.Message {
	return &channel.Message{
		ID:             "msg-1",
		IdempotencyKey: "msg-1",
		Attempt:        1,
		EventType:      "order.paid",
		EventID:        "evt-1",
		To:             "Ada Customer <ada@example.com>",
		Content: channel.Content{
			Subject: "Your order 1001 — paid",
			Text:    "Thank you, Ada.\nYour order 1001 is paid.",
			HTML:    "<p>Thank you, <b>Ada</b>.</p>",
		},
	}
}

// settings returns settings that reach srv.
func settings(srv *smtptest.Server, mode string) *email.Settings {
	return &email.Settings{Host: srv.Host(), Port: srv.Port(), From: "Herald <alerts@example.com>", TLS: mode}
}

// caFile writes srv's certificate to a file and returns its path.
func caFile(t *testing.T, srv *smtptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newSender(t *testing.T, s *email.Settings) *email.Sender {
	t.Helper()
	sender, err := email.New(s, loopbackDial)
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

func TestSendModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		server   smtptest.Options
		settings func(t *testing.T, srv *smtptest.Server) *email.Settings
		wantTLS  bool
		wantAuth string
	}{
		{
			name:   "plain",
			server: smtptest.Options{},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				return settings(srv, email.TLSNone)
			},
		},
		{
			name:   "starttls_optional without STARTTLS",
			server: smtptest.Options{},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				return settings(srv, email.TLSStartTLSOptional)
			},
		},
		{
			name:   "starttls with ca_file",
			server: smtptest.Options{TLS: smtptest.TLSStartTLS},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, "") // starttls is the default
				s.CAFile = caFile(t, srv)
				return s
			},
			wantTLS: true,
		},
		{
			name:   "starttls_optional upgrades",
			server: smtptest.Options{TLS: smtptest.TLSStartTLS},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSStartTLSOptional)
				s.InsecureSkipVerify = true
				return s
			},
			wantTLS: true,
		},
		{
			name:   "implicit tls",
			server: smtptest.Options{TLS: smtptest.TLSImplicit},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSImplicit)
				s.CAFile = caFile(t, srv)
				return s
			},
			wantTLS: true,
		},
		{
			name:   "starttls with AUTH PLAIN",
			server: smtptest.Options{TLS: smtptest.TLSStartTLS, Username: user, Password: password},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSStartTLS)
				s.CAFile = caFile(t, srv)
				s.Username, s.Password = user, password
				return s
			},
			wantTLS:  true,
			wantAuth: user,
		},
		{
			name:   "implicit tls with AUTH PLAIN",
			server: smtptest.Options{TLS: smtptest.TLSImplicit, Username: user, Password: password},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSImplicit)
				s.InsecureSkipVerify = true
				s.Username, s.Password = user, password
				return s
			},
			wantTLS:  true,
			wantAuth: user,
		},
		{
			// Go's PLAIN refuses clear text except to localhost.
			name:   "AUTH PLAIN in clear text to localhost",
			server: smtptest.Options{Username: user, Password: password},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSNone)
				s.Username, s.Password = user, password
				return s
			},
			wantAuth: user,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, tt.server)
			r, err := newSender(t, tt.settings(t, srv)).Send(t.Context(), message())
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if r.StatusCode != 250 || r.ProviderID != "<msg-1@herald>" || r.Delivered {
				t.Errorf("receipt = %+v, want status 250, ProviderID <msg-1@herald>, not delivered", r)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server accepted %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != "alerts@example.com" || !cmp.Equal(got.To, []string{"ada@example.com"}) {
				t.Errorf("envelope = %s -> %v, want alerts@example.com -> [ada@example.com]", got.From, got.To)
			}
			if got.TLS != tt.wantTLS || got.Auth != tt.wantAuth {
				t.Errorf("session TLS=%v auth=%q, want TLS=%v auth=%q", got.TLS, got.Auth, tt.wantTLS, tt.wantAuth)
			}
		})
	}
}

// parsed is the part of a received message the tests check.
type parsed struct {
	Header map[string]string
	Type   string
	Parts  map[string]string // content type -> decoded body
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, raw)
	}
	dec := new(mime.WordDecoder)
	p := parsed{Header: map[string]string{}, Parts: map[string]string{}}
	for _, k := range []string{"From", "To", "Subject", "Message-Id", "X-Herald-Event", "In-Reply-To", "References"} {
		v, err := dec.DecodeHeader(msg.Header.Get(k))
		if err != nil {
			t.Fatalf("header %s: %v", k, err)
		}
		if v != "" {
			p.Header[k] = v
		}
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	p.Type = mediaType
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
			b, err := io.ReadAll(part) // multipart decodes quoted-printable
			if err != nil {
				t.Fatal(err)
			}
			p.Parts[ct] = string(b)
		}
		return p
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	p.Parts[mediaType] = string(b)
	return p
}

func TestSendContent(t *testing.T) {
	t.Parallel()
	textOnly := message()
	textOnly.HTML = ""
	htmlOnly := message()
	htmlOnly.Text = ""
	threaded := message()
	threaded.HTML = ""
	threaded.PreviousIDs = []string{"<msg-0b@herald>", "junk id", "<msg-0a@herald>"}

	base := map[string]string{
		"From":           `"Herald" <alerts@example.com>`,
		"To":             `"Ada Customer" <ada@example.com>`,
		"Subject":        "Your order 1001 — paid",
		"Message-Id":     "<msg-1@herald>",
		"X-Herald-Event": "order.paid",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name string
		m    *channel.Message
		want parsed
	}{
		{"text and html", message(), parsed{
			Header: base,
			Type:   "multipart/alternative",
			Parts: map[string]string{
				"text/plain": "Thank you, Ada.\r\nYour order 1001 is paid.",
				"text/html":  "<p>Thank you, <b>Ada</b>.</p>",
			},
		}},
		{"text only", textOnly, parsed{
			Header: base,
			Type:   "text/plain",
			Parts:  map[string]string{"text/plain": "Thank you, Ada.\r\nYour order 1001 is paid."},
		}},
		{"html only", htmlOnly, parsed{
			Header: base,
			Type:   "text/html",
			Parts:  map[string]string{"text/html": "<p>Thank you, <b>Ada</b>.</p>"},
		}},
		{"threaded", threaded, parsed{
			Header: with(map[string]string{"In-Reply-To": "<msg-0b@herald>", "References": "<msg-0a@herald> <msg-0b@herald>"}),
			Type:   "text/plain",
			Parts:  map[string]string{"text/plain": "Thank you, Ada.\r\nYour order 1001 is paid."},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{})
			if _, err := newSender(t, settings(srv, email.TLSNone)).Send(t.Context(), tt.m); err != nil {
				t.Fatal(err)
			}
			got := parse(t, srv.Messages()[0].Data)
			// Bodies may end with a line break the encoder adds.
			for k, v := range got.Parts {
				got.Parts[k] = strings.TrimRight(v, "\r\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("received message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessageIDStableAcrossAttempts(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, settings(srv, email.TLSNone))
	m := message()
	for attempt := 1; attempt <= 2; attempt++ {
		m.Attempt = attempt
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := srv.Wait(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range msgs {
		if id := parse(t, got.Data).Header["Message-Id"]; id != "<msg-1@herald>" {
			t.Errorf("Message-ID = %q, want <msg-1@herald> on every attempt", id)
		}
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	closedPort := func(t *testing.T) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		return port
	}
	tests := []struct {
		name     string
		server   smtptest.Options
		settings func(t *testing.T, srv *smtptest.Server) *email.Settings
		dial     email.DialFunc
		to       string
		class    channel.Class
		reason   string
		status   int
	}{
		{
			name:   "auth failure",
			server: smtptest.Options{TLS: smtptest.TLSStartTLS, Username: user, Password: "another-password"},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSStartTLS)
				s.InsecureSkipVerify = true
				s.Username, s.Password = user, password
				return s
			},
			class: channel.ClassPermanent, reason: "auth", status: 535,
		},
		{
			name:   "temporary RCPT failure",
			server: smtptest.Options{Rcpt: func(string) error { return smtptest.Reply(451, "greylisted, try again") }},
			class:  channel.ClassRetryable, reason: "smtp_451", status: 451,
		},
		{
			name:   "mailbox unavailable",
			server: smtptest.Options{Rcpt: func(string) error { return smtptest.Reply(550, "no such user") }},
			class:  channel.ClassPermanent, reason: "smtp_550", status: 550,
		},
		{
			name:   "temporary DATA failure",
			server: smtptest.Options{Data: func(smtptest.Message) error { return smtptest.Reply(452, "mailbox full") }},
			class:  channel.ClassRetryable, reason: "smtp_452", status: 452,
		},
		{
			name:   "content rejected",
			server: smtptest.Options{Data: func(smtptest.Message) error { return smtptest.Reply(554, "spam") }},
			class:  channel.ClassPermanent, reason: "smtp_554", status: 554,
		},
		{
			name:   "STARTTLS required but not offered",
			server: smtptest.Options{},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				return settings(srv, email.TLSStartTLS)
			},
			class: channel.ClassPermanent, reason: "starttls_unsupported",
		},
		{
			name:   "untrusted certificate",
			server: smtptest.Options{TLS: smtptest.TLSStartTLS},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				return settings(srv, email.TLSStartTLS)
			},
			class: channel.ClassRetryable, reason: "tls",
		},
		{
			name:   "untrusted certificate, implicit tls",
			server: smtptest.Options{TLS: smtptest.TLSImplicit},
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				return settings(srv, email.TLSImplicit)
			},
			class: channel.ClassRetryable, reason: "tls",
		},
		{
			name: "connection refused",
			settings: func(t *testing.T, srv *smtptest.Server) *email.Settings {
				s := settings(srv, email.TLSNone)
				s.Port = closedPort(t)
				return s
			},
			class: channel.ClassRetryable, reason: "connect",
		},
		{
			name:  "blocked address",
			dial:  netguard.New(nil).DialContext,
			class: channel.ClassPermanent, reason: "blocked_address",
		},
		{
			name:  "no recipient",
			to:    " ",
			class: channel.ClassPermanent, reason: "no_recipient",
		},
		{
			name:  "invalid recipient",
			to:    "not an address",
			class: channel.ClassPermanent, reason: "invalid_recipient",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, tt.server)
			s := settings(srv, email.TLSNone)
			if tt.settings != nil {
				s = tt.settings(t, srv)
			}
			dial := email.DialFunc(loopbackDial)
			if tt.dial != nil {
				dial = tt.dial
			}
			sender, err := email.New(s, dial)
			if err != nil {
				t.Fatal(err)
			}
			m := message()
			if tt.to != "" {
				m.To = tt.to
			}
			_, err = sender.Send(t.Context(), m)
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("Send = %v/%q/%d (%v), want %v/%q/%d", ce.Class, ce.Reason, ce.StatusCode, err, tt.class, tt.reason, tt.status)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error leaks the password: %v", err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

// blockingData returns a server option whose DATA hook signals arrival and
// then waits until the test ends.
func blockingData(t *testing.T) (smtptest.Options, <-chan struct{}) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return smtptest.Options{Data: func(smtptest.Message) error {
		arrived <- struct{}{}
		<-release
		return smtptest.Reply(451, "too late")
	}}, arrived
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cause  error
		reason string
	}{
		{"canceled", context.Canceled, "canceled"},
		{"deadline", context.DeadlineExceeded, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, arrived := blockingData(t)
			srv := smtptest.Start(t, opts)
			s := newSender(t, settings(srv, email.TLSNone))
			ctx := channeltest.NewManualContext(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := s.Send(ctx, message())
				done <- err
			}()
			<-arrived
			ctx.End(tt.cause)
			err := <-done
			var ce *channel.Error
			if !errors.As(err, &ce) || ce.Class != channel.ClassRetryable || ce.Reason != tt.reason {
				t.Errorf("Send = %v, want retryable %q", err, tt.reason)
			}
		})
	}
	t.Run("canceled before", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newSender(t, settings(srv, email.TLSNone)).Send(ctx, message())
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassRetryable || ce.Reason != "canceled" {
			t.Errorf("Send = %v, want retryable canceled", err)
		}
	})
}
