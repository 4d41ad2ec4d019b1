// Package ack makes and checks acknowledgment links: a run id and an
// expiry, signed with HMAC-SHA256 under a key every node shares (it is
// kept in the database), so a link in a chat message or an email can
// acknowledge a run without an API token.
package ack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is returned for a link that is malformed, forged or expired.
var ErrInvalid = errors.New("the acknowledgment link is invalid or has expired")

// Signer signs and verifies acknowledgment tokens.
type Signer struct {
	key []byte
	ttl time.Duration
}

// NewSigner returns a Signer; tokens are valid for ttl.
func NewSigner(key []byte, ttl time.Duration) *Signer {
	return &Signer{key: key, ttl: ttl}
}

// Token returns a token for runID, valid from now for the signer's ttl.
func (s *Signer) Token(runID string, now time.Time) string {
	payload := runID + "." + strconv.FormatInt(now.Add(s.ttl).Unix(), 36)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.sign(payload)
}

// Verify returns the run id of a valid, unexpired token.
func (s *Signer) Verify(token string, now time.Time) (string, error) {
	enc, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", ErrInvalid
	}
	payload := string(raw)
	if !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return "", ErrInvalid
	}
	runID, exp, ok := strings.Cut(payload, ".")
	if !ok {
		return "", ErrInvalid
	}
	secs, err := strconv.ParseInt(exp, 36, 64)
	if err != nil || now.Unix() > secs {
		return "", ErrInvalid
	}
	return runID, nil
}

func (s *Signer) sign(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
