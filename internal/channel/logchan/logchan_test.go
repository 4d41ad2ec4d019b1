package logchan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/logchan"
)

func TestSend(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := logchan.New(&logchan.Settings{Level: "warn"}, logger)
	m := &channel.Message{
		ID: "msg-1", Attempt: 2, EventType: "order.paid", EventID: "evt-1", To: "ops",
		Content: channel.Content{
			Subject: "Paid", Text: "Order 1001", Data: json.RawMessage(`{"a":1}`),
			Request: &channel.Request{Method: "POST", URL: "https://u:pw@example.com/x?token=t0k"},
		},
	}
	r, err := s.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&channel.Receipt{ProviderID: "msg-1", Delivered: true}, r); diff != "" {
		t.Errorf("receipt (-want +got):\n%s", diff)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	delete(got, "time")
	want := map[string]any{
		"level": "WARN", "msg": "message", "message_id": "msg-1", "attempt": 2.0,
		"event_type": "order.paid", "event_id": "evt-1", "to": "ops", "subject": "Paid",
		"text": "Order 1001", "data": `{"a":1}`, "request": "POST https://redacted@example.com/x?redacted",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log record (-want +got):\n%s", diff)
	}
	if strings.Contains(buf.String(), "t0k") || strings.Contains(buf.String(), "pw@") {
		t.Errorf("log line leaks a credential: %s", buf.String())
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  string
		ok    bool
	}{
		{"", "INFO", true},
		{"debug", "DEBUG", true},
		{"ERROR", "ERROR", true},
		{"info+2", "INFO+2", true},
		{"loud", "INFO", false},
	}
	for _, tt := range tests {
		s := &logchan.Settings{Level: tt.level}
		if err := s.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tt.level, err, tt.ok)
		}
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if _, err := logchan.New(s, logger).Send(t.Context(), &channel.Message{ID: "m"}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "level="+tt.want+" ") {
			t.Errorf("level %q: log line %q, want level=%s", tt.level, buf.String(), tt.want)
		}
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	s := logchan.New(nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var ce *channel.Error
	if _, err := s.Send(ctx, &channel.Message{ID: "m"}); !errors.As(err, &ce) || ce.Class != channel.ClassRetryable {
		t.Errorf("Send with a canceled context = %v, want retryable", err)
	}
	if _, err := s.Send(t.Context(), nil); !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
		t.Errorf("Send(nil) = %v, want permanent", err)
	}
	if _, err := s.Send(t.Context(), &channel.Message{ID: "m"}); err != nil {
		t.Errorf("Send with a nil logger: %v", err)
	}
}
