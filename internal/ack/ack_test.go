package ack

import (
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s := NewSigner([]byte("key-1"), time.Hour)
	tok := s.Token("run-1", now)
	if id, err := s.Verify(tok, now.Add(59*time.Minute)); err != nil || id != "run-1" {
		t.Fatalf("Verify = %q %v", id, err)
	}
	tests := map[string]string{
		"expired":       tok,
		"other key":     NewSigner([]byte("key-2"), time.Hour).Token("run-1", now),
		"tampered":      tok[:3] + "x" + tok[4:],
		"no signature":  "abc",
		"bad base64":    "!!!.sig",
		"empty":         "",
		"signature cut": tok[:len(tok)-2],
	}
	for name, token := range tests {
		at := now
		if name == "expired" {
			at = now.Add(61 * time.Minute)
		}
		if _, err := s.Verify(token, at); err != ErrInvalid {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	s := NewSigner([]byte("k"), time.Hour)
	now := time.Unix(1_800_000_000, 0)
	f.Add(s.Token("r", now))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := s.Verify(token, now)
		if err == nil && s.Token(id, now) == "" {
			t.Fatal("verified a token for an empty id")
		}
	})
}
