// Package webpush sends notifications to browsers with the Web Push
// protocol: RFC 8030 (a POST to the subscription's push endpoint), RFC
// 8291 (the payload encrypted to the browser's key with the aes128gcm
// content coding of RFC 8188) and RFC 8292 (VAPID: the application server
// identifies itself with an ES256-signed token).
//
// The recipient is a PushSubscription in JSON, as the browser's
// subscription.toJSON() gives it: the message's To, or the settings'
// default subscription. The payload the service worker receives is JSON:
//
//	{"title": subject, "body": text, "data": message data, "tag": correlation key}
//
// (empty fields left out); the service worker decides how to show it, for
// example registration.showNotification(title, {body, data, tag}), where
// the same tag replaces an earlier notification on screen.
//
// A push message holds at most 4096 bytes after encryption, 3993 bytes of
// plaintext: the body text is shortened (ending in "…") until the JSON
// fits. The Topic header is derived from the correlation key, so the push
// service replaces a message it has not delivered yet with a newer one of
// the same run (RFC 8030 section 5.4): that is this channel's update.
//
// The push service answers 201 Created with the message's URL in
// Location (the receipt's provider id). 404 and 410 mean the subscription
// has expired or was withdrawn: the error is permanent with reason
// "subscription_gone", and the subscription should be removed.
package webpush

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Sizes of RFC 8291 section 4.
const (
	// RecordSize is the aes128gcm record size Herald declares; a push
	// message is a single record.
	RecordSize = 4096
	// MaxPayload is the most a push service must accept (RFC 8030
	// section 7.2).
	MaxPayload = 4096
	// headerLen is salt (16) + rs (4) + idlen (1) + keyid (65).
	headerLen = 86
	// MaxPlaintext is what fits in MaxPayload after the header, the
	// padding delimiter and the AEAD tag: 3993 bytes.
	MaxPlaintext = MaxPayload - headerLen - 1 - 16
)

// vapidLifetime is the VAPID token's validity; RFC 8292 allows at most 24
// hours, and a margin keeps clock skew from turning it into more.
const vapidLifetime = 12 * time.Hour

// Sender delivers push messages with one VAPID identity. It is safe for
// concurrent use.
type Sender struct {
	key        *ecdsa.PrivateKey
	publicB64  string
	privateB64 string
	subject    string
	ttl        string
	urgency    string
	noTopic    bool
	fallback   *Subscription
	client     *http.Client
	now        func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("webpush: nil settings")
	}
	if client == nil {
		return nil, errors.New("webpush: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("webpush: %w", err)
	}
	key, err := parseKeys(s.VAPIDPublicKey, s.VAPIDPrivateKey.Value())
	if err != nil {
		return nil, fmt.Errorf("webpush: %w", err)
	}
	pub, _ := key.PublicKey.Bytes()
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	w := &Sender{
		key:        key,
		publicB64:  b64.EncodeToString(pub),
		privateB64: s.VAPIDPrivateKey.Value(),
		subject:    s.Subject,
		ttl:        strconv.FormatInt(int64(ttl/time.Second), 10),
		urgency:    s.Urgency,
		noTopic:    s.NoTopic,
		client:     client,
		now:        time.Now,
	}
	if s.Subscription != "" {
		w.fallback, _ = ParseSubscription(s.Subscription)
	}
	return w, nil
}

// Capabilities implements channel.Describer. MaxLength is the plaintext
// budget in bytes, an upper bound on the body in runes; the sender
// shortens the body further until the encrypted payload fits. Update is
// the Topic replacement of undelivered messages.
func (w *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxPlaintext, Subject: true, Update: !w.noTopic}
}

// Send encrypts and posts one push message per text part of m (normally
// one) and returns the receipt of the first.
func (w *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("webpush: nil message"))
	}
	sub, secrets, err := w.recipient(m.To)
	if err != nil {
		return nil, err
	}
	texts := m.Texts()
	topic := ""
	if !w.noTopic && len(texts) == 1 {
		// Parts share the key; a topic would make each replace the last.
		topic = Topic(m.Key)
	}
	var first *channel.Receipt
	for _, text := range texts {
		plain, err := Payload(m.Subject, text, m.Data, m.Key)
		if err != nil {
			return nil, err
		}
		body, err := Encrypt(plain, sub.uaPublic, sub.auth, nil, nil)
		if err != nil {
			return nil, channel.Permanent("encryption_failed", 0, fmt.Errorf("webpush: %w", err))
		}
		r, err := w.post(ctx, sub, body, topic, w.urgencyFor(m.Priority), secrets)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// recipient parses the subscription a message goes to and returns the
// values to keep out of errors.
func (w *Sender) recipient(to string) (*subscription, []string, error) {
	var s *Subscription
	switch {
	case strings.TrimSpace(to) != "":
		var err error
		if s, err = ParseSubscription(to); err != nil {
			return nil, nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("webpush: recipient: %w", err))
		}
	case w.fallback != nil:
		s = w.fallback
	default:
		return nil, nil, channel.Permanent("no_recipient", 0, errors.New("webpush: the message has no recipient and the channel no default subscription"))
	}
	sub, err := s.parse()
	if err != nil {
		return nil, nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("webpush: recipient: %w", err))
	}
	return sub, []string{w.privateB64, s.Keys.Auth}, nil
}

func (w *Sender) urgencyFor(priority int) string {
	switch {
	case w.urgency != "":
		return w.urgency
	case priority > 0:
		return UrgencyHigh
	case priority < 0:
		return UrgencyLow
	default:
		return UrgencyNormal
	}
}

// notification is the JSON the service worker receives.
type notification struct {
	Title string          `json:"title,omitempty"`
	Body  string          `json:"body,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Tag   string          `json:"tag,omitempty"`
}

// Payload returns the plaintext push payload for a message, its body text
// shortened until it fits in MaxPlaintext bytes. A message whose title,
// data and tag alone do not fit is a permanent failure.
func Payload(title, body string, data json.RawMessage, tag string) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && !json.Valid(data) {
		return nil, channel.Permanent("invalid_data", 0, errors.New("webpush: message data is not valid JSON"))
	}
	encode := func(b string) []byte {
		out, _ := json.Marshal(notification{Title: title, Body: b, Data: data, Tag: tag})
		return out
	}
	if p := encode(body); len(p) <= MaxPlaintext {
		return p, nil
	}
	if len(encode("")) > MaxPlaintext {
		return nil, channel.Permanent("payload_too_large", 0, fmt.Errorf("webpush: title, data and tag alone exceed the %d-byte push payload", MaxPlaintext))
	}
	// Binary search for the longest truncation that fits.
	lo, hi := 0, utf8.RuneCountInString(body)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(encode(channel.Truncate(body, mid))) <= MaxPlaintext {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return encode(channel.Truncate(body, lo)), nil
}

var topicPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Topic returns the Topic header for a correlation key: the key itself
// when it is at most 32 characters of the URL-safe base64 alphabet (RFC
// 8030 section 5.4 allows nothing else), otherwise the first 32
// characters of the base64url SHA-256 of the key. Empty for an empty key.
func Topic(key string) string {
	if key == "" {
		return ""
	}
	if topicPattern.MatchString(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return b64.EncodeToString(sum[:])[:32]
}

// Encrypt encrypts plaintext for a user agent (RFC 8291): ECDH with the
// user agent's P-256 public key uaPublic (65 bytes, uncompressed) and the
// 16-byte auth secret, then the aes128gcm content coding (RFC 8188) in
// one 4096-byte record. asPrivate (the application server's ephemeral
// key) and salt (16 bytes) are drawn at random when nil; tests pass them
// to reproduce RFC 8291's example.
func Encrypt(plaintext, uaPublic, auth []byte, asPrivate *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("plaintext of %d bytes exceeds %d", len(plaintext), MaxPlaintext)
	}
	if len(auth) != 16 {
		return nil, errors.New("auth secret must be 16 bytes")
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, errors.New("p256dh is not a valid P-256 public key")
	}
	if asPrivate == nil {
		if asPrivate, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
			return nil, err
		}
	}
	if salt == nil {
		salt = make([]byte, 16)
		if _, err := io.ReadFull(rand.Reader, salt); err != nil {
			return nil, err
		}
	}
	if len(salt) != 16 {
		return nil, errors.New("salt must be 16 bytes")
	}
	asPublic := asPrivate.PublicKey().Bytes()
	secret, err := asPrivate.ECDH(ua)
	if err != nil {
		return nil, err
	}
	cek, nonce, err := deriveKeys(secret, auth, salt, uaPublic, asPublic)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, headerLen+len(plaintext)+1+gcm.Overhead())
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, RecordSize)
	out = append(out, byte(len(asPublic)))
	out = append(out, asPublic...)
	record := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), 0x02) // last-record padding delimiter
	return gcm.Seal(out, nonce, record, nil), nil
}

// deriveKeys derives the content encryption key and nonce of RFC 8291
// section 3.4 and RFC 8188 section 2.2 from the ECDH secret.
func deriveKeys(ecdhSecret, auth, salt, uaPublic, asPublic []byte) (cek, nonce []byte, err error) {
	// key_info = "WebPush: info" || 0x00 || ua_public || as_public
	info := "WebPush: info\x00" + string(uaPublic) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, info, 32)
	if err != nil {
		return nil, nil, err
	}
	if cek, err = hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16); err != nil {
		return nil, nil, err
	}
	if nonce, err = hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12); err != nil {
		return nil, nil, err
	}
	return cek, nonce, nil
}

// vapidHeader is the JWS header of every VAPID token.
var vapidHeader = b64.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))

// vapidClaims are the claims of RFC 8292 section 2, in the order of the
// RFC's example.
type vapidClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// SigningInput returns the JWS signing input (header.claims) of a VAPID
// token for an audience (the push endpoint's origin), expiry and subject.
func SigningInput(aud string, exp int64, sub string) string {
	c, _ := json.Marshal(vapidClaims{Aud: aud, Exp: exp, Sub: sub})
	return vapidHeader + "." + b64.EncodeToString(c)
}

// vapid returns the Authorization header value for a push endpoint's
// origin: "vapid t=<ES256 JWT>, k=<public key>" (RFC 8292 section 3).
func (w *Sender) vapid(origin string) (string, error) {
	input := SigningInput(origin, w.now().Add(vapidLifetime).Unix(), w.subject)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, w.key, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + input + "." + b64.EncodeToString(sig) + ", k=" + w.publicB64, nil
}

// post sends one encrypted message and classifies the answer.
func (w *Sender) post(ctx context.Context, sub *subscription, body []byte, topic, urgency string, secrets []string) (*channel.Receipt, error) {
	origin := sub.endpoint.Scheme + "://" + sub.endpoint.Host
	auth, err := w.vapid(origin)
	if err != nil {
		return nil, channel.Permanent("vapid_failed", 0, errors.New("webpush: signing the VAPID token failed"))
	}
	h := http.Header{
		"Content-Type":     {"application/octet-stream"},
		"Content-Encoding": {"aes128gcm"},
		"Ttl":              {w.ttl},
		"Urgency":          {urgency},
		"Authorization":    {auth},
	}
	if topic != "" {
		h.Set("Topic", topic)
	}
	resp, err := httpcall.Do(ctx, w.client, httpcall.Request{URL: sub.endpoint.String(), Header: h, Body: body, Secrets: secrets})
	if err != nil {
		return nil, err
	}
	if err := Classify(resp); err != nil {
		return nil, httpcall.Scrub(err, httpcall.Secrets(sub.endpoint.String(), secrets...)...)
	}
	return &channel.Receipt{ProviderID: resp.Header.Get("Location"), StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// Classify turns a push service's answer into nil (accepted) or a
// classified error: 404 and 410 are the subscription's end (permanent,
// "subscription_gone"), 413 a payload too large, 400/401/403 a rejected
// request or VAPID token (permanent), 429 and 5xx retryable (Retry-After
// honoured).
func Classify(resp *httpcall.Response) error {
	err := httpcall.Classify(resp)
	if err == nil {
		return nil
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := *ce
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		out.Reason = "subscription_gone"
		out.Err = fmt.Errorf("webpush: the subscription has expired or was unsubscribed (HTTP %d); remove it: %w", resp.StatusCode, ce.Err)
		return &out
	case http.StatusRequestEntityTooLarge:
		out.Reason = "payload_too_large"
	case http.StatusUnauthorized, http.StatusForbidden:
		out.Reason = "vapid_rejected"
	case http.StatusBadRequest:
		out.Reason = "bad_request"
	case http.StatusTooManyRequests:
		out.Reason = "rate_limited"
	}
	out.Err = fmt.Errorf("webpush: %w", ce.Err)
	return &out
}
