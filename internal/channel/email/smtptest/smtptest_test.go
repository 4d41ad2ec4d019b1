package smtptest_test

import (
	"context"
	"errors"
	"net/smtp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/herald-notify/herald/internal/channel/email/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestServer drives the server with the standard library's client, so the
// test server is checked independently of the email package.
func TestServer(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{
		Rcpt: func(to string) error {
			if strings.HasPrefix(to, "nobody@") {
				return smtptest.Reply(550, "no such user")
			}
			return nil
		},
	})
	err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.Wait(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[0]; got.From != "a@example.com" || len(got.To) != 1 || got.To[0] != "b@example.com" || !strings.Contains(string(got.Data), "hello") {
		t.Errorf("message = %+v", got)
	}
	err = smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"nobody@example.com"}, []byte("x\r\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Errorf("send to a refused recipient = %v, want a 550", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server holds %d messages, want 1", n)
	}
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Username: "u", Password: "p"})
	err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte("x\r\n"))
	if err == nil {
		t.Fatal("send without AUTH succeeded")
	}
	err = smtp.SendMail(srv.Addr(), smtp.PlainAuth("", "u", "wrong", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, []byte("x\r\n"))
	if err == nil || srv.AuthFailures() != 1 {
		t.Errorf("wrong password: err = %v, failures = %d; want an error and 1 failure", err, srv.AuthFailures())
	}
	if err := smtp.SendMail(srv.Addr(), smtp.PlainAuth("", "u", "p", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, []byte("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].Auth != "u" {
		t.Errorf("messages = %+v, want one from user u", got)
	}
}

func TestWaitCanceled(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSStartTLS})
	if srv.Certificate() == nil || len(srv.CertPEM()) == 0 {
		t.Error("a TLS server has no certificate")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := srv.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}
