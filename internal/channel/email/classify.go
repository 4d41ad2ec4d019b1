package email

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/wneessen/go-mail/smtp"

	"github.com/herald-notify/herald/internal/channel"
)

// classify turns an error met at step (an SMTP command or connection
// phase) into a classified delivery error:
//
//   - the context ended: retryable "canceled" or "timeout";
//   - an SMTP reply: 4xx is retryable ("smtp_451"), a refused login
//     (530, 534, 535, or any 5xx to AUTH) is permanent "auth", any other
//     5xx is permanent ("smtp_550");
//   - the client refusing to send credentials in clear text, or to a
//     server whose name does not match: permanent "auth";
//   - anything else is a network failure (see channel.ClassifyNetError).
func (s *Sender) classify(ctx context.Context, step string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The connection was closed under the client; the real cause is
		// the context, whatever the I/O error says.
		return channel.ClassifyNetError(fmt.Errorf("email: %s: %w", step, ctxErr))
	}
	wrapped := fmt.Errorf("email: %s %s: %w", s.addr, step, s.redact(err))
	var tp *textproto.Error
	if errors.As(err, &tp) {
		code := tp.Code
		switch {
		case code == 530 || code == 534 || code == 535 || (step == "AUTH" && code >= 500):
			return channel.Permanent("auth", code, wrapped)
		case code >= 400 && code <= 499:
			return channel.Retryable("smtp_"+strconv.Itoa(code), code, wrapped)
		case code >= 500 && code <= 599:
			return channel.Permanent("smtp_"+strconv.Itoa(code), code, wrapped)
		default:
			return channel.Retryable("smtp_"+strconv.Itoa(code), code, wrapped)
		}
	}
	if errors.Is(err, smtp.ErrUnencrypted) || errors.Is(err, smtp.ErrWrongHostname) {
		return channel.Permanent("auth", 0, wrapped)
	}
	return channel.ClassifyNetError(wrapped)
}

// redact keeps the password out of an error's text. SMTP servers do not
// echo credentials, but an error that did must not reach the attempt log.
func (s *Sender) redact(err error) error {
	if s.password == "" || !strings.Contains(err.Error(), s.password) {
		return err
	}
	return redactedError{text: strings.ReplaceAll(err.Error(), s.password, "<redacted>"), err: err}
}

// redactedError shows redacted text but keeps the cause for errors.Is/As.
type redactedError struct {
	text string
	err  error
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }
