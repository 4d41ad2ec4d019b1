package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// nanos converts a time to the stored form: nanoseconds since the epoch.
func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

// nullNanos stores a zero time as NULL.
func nullNanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UTC().UnixNano()
	return &n
}

// fromNanos converts a stored time back, in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return fromNanos(*n)
}

// nullString stores "" as NULL. PostgreSQL text cannot hold NUL bytes, so
// free text from providers and templates has them replaced.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	s = clean(s)
	return &s
}

// clean replaces NUL bytes, which PostgreSQL text refuses.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nullJSON stores empty JSON as NULL.
func nullJSON(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(jsonbSafe(b))
	return &s
}

// jsonbSafe replaces the JSON escape \u0000, which PostgreSQL's jsonb
// refuses (run state is merged as jsonb), by U+FFFD. A provider's
// response with a NUL byte would otherwise fail every commit of the
// attempt, and the message would be sent again and again.
func jsonbSafe(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	return bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
}

func marshalOrNil(v any, empty bool) (*string, error) {
	if empty {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func jsonUnmarshal(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("postgres: decode stored JSON: %w", err)
	}
	return nil
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
