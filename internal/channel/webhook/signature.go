package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// SecretPrefix marks a Standard Webhooks secret whose key is base64.
const SecretPrefix = "whsec_"

// DecodeSecret returns the signing key of a secret: the base64-decoded part
// after "whsec_", or the bytes of any other string. (The Standard Webhooks
// libraries also base64-decode an unprefixed secret; here an unprefixed
// secret is a plain shared password, which is what people type into a
// configuration file. Give receivers that use those libraries the "whsec_"
// form.) An empty secret yields a nil key: requests are not signed.
func DecodeSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// The decoder's error names an offset, never the secret.
		return nil, errors.New("a whsec_ secret must be followed by standard base64")
	}
	if len(key) == 0 {
		return nil, errors.New("a whsec_ secret must not be empty")
	}
	return key, nil
}

// Sign returns the Standard Webhooks webhook-signature header value for a
// message: "v1," followed by the base64 HMAC-SHA256 of
// id + "." + timestamp + "." + body under key.
// See https://www.standardwebhooks.com (spec/standard-webhooks.md).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	return newSigner(key).sign(id, timestamp, body)
}

// signer computes signatures with pooled HMAC states, because one HMAC
// allocation per request is measurable on the delivery hot path.
type signer struct {
	pool sync.Pool
}

// macState is one pooled HMAC with a scratch buffer for the signed prefix.
type macState struct {
	mac hash.Hash
	buf []byte
}

func newSigner(key []byte) *signer {
	return &signer{pool: sync.Pool{New: func() any {
		return &macState{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 96)}
	}}}
}

func (s *signer) sign(id string, timestamp int64, body []byte) string {
	st := s.pool.Get().(*macState)
	st.mac.Reset()
	st.buf = append(st.buf[:0], id...)
	st.buf = append(st.buf, '.')
	st.buf = strconv.AppendInt(st.buf, timestamp, 10)
	st.buf = append(st.buf, '.')
	st.mac.Write(st.buf)
	st.mac.Write(body)
	var sum [sha256.Size]byte
	st.mac.Sum(sum[:0])
	s.pool.Put(st)

	var out [3 + 44]byte // "v1," + base64 of 32 bytes
	copy(out[:], "v1,")
	base64.StdEncoding.Encode(out[3:], sum[:])
	return string(out[:])
}
