// Package logchan is the "log" channel: it writes each message to a
// structured logger instead of delivering it anywhere. It is meant for
// demos, first steps and dry runs, where seeing what would be sent is the
// point.
package logchan

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
)

// Settings configure a log channel.
type Settings struct {
	// Level is the slog level messages are logged at: debug, info
	// (default), warn or error, optionally with an offset ("info+2").
	Level string `yaml:"level"`
}

// Validate reports whether Level names a level.
func (s *Settings) Validate() error {
	_, err := s.level()
	return err
}

func (s *Settings) level() (slog.Level, error) {
	var l slog.Level
	if s == nil || strings.TrimSpace(s.Level) == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s.Level))); err != nil {
		return slog.LevelInfo, fmt.Errorf("level %q is not debug, info, warn or error", s.Level)
	}
	return l, nil
}

// Sender logs messages. It is safe for concurrent use.
type Sender struct {
	logger *slog.Logger
	level  slog.Level
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender that logs to logger (nil discards). An invalid
// level, which Validate reports at load time, falls back to info.
func New(s *Settings, logger *slog.Logger) *Sender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	level, _ := s.level()
	return &Sender{logger: logger, level: level}
}

// Capabilities implements channel.Describer.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{Subject: true, HTML: true}
}

// Send logs m. Logging is the delivery, so the receipt says delivered.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, channel.ClassifyNetError(err)
	}
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("logchan: nil message"))
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("message_id", m.ID),
		slog.Int("attempt", m.Attempt),
		slog.String("event_type", m.EventType),
		slog.String("event_id", m.EventID),
	)
	add := func(key, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(key, v))
		}
	}
	add("key", m.Key)
	add("to", m.To)
	add("subject", m.Subject)
	add("text", m.Text)
	add("html", m.HTML)
	if len(m.Data) > 0 {
		attrs = append(attrs, slog.String("data", string(m.Data)))
	}
	if r := m.Request; r != nil {
		// Only the method and the redacted URL: request headers are where
		// credentials travel.
		attrs = append(attrs, slog.String("request", r.Method+" "+channel.RedactURL(r.URL)))
	}
	s.logger.LogAttrs(ctx, s.level, "message", attrs...)
	return &channel.Receipt{ProviderID: m.ID, Delivered: true}, nil
}
