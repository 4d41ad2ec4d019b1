package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultTTL is how long a push service keeps an undelivered message when
// the settings do not say: a day, long enough for a laptop that sleeps
// overnight, short enough that a stale alert does not pop up next week.
const DefaultTTL = 24 * time.Hour

// Urgency values of RFC 8030 section 5.3.
const (
	UrgencyVeryLow = "very-low"
	UrgencyLow     = "low"
	UrgencyNormal  = "normal"
	UrgencyHigh    = "high"
)

// Settings configure a Web Push channel.
type Settings struct {
	// VAPIDPublicKey is the application server's public key (RFC 8292),
	// the uncompressed P-256 point in unpadded base64url, as web-push
	// libraries print it and browsers take it as applicationServerKey
	// (required).
	VAPIDPublicKey string `yaml:"vapid_public_key"`
	// VAPIDPrivateKey is the matching private scalar (32 bytes, unpadded
	// base64url) (required).
	VAPIDPrivateKey channel.Secret `yaml:"vapid_private_key"`
	// Subject is the contact put in the VAPID token's "sub" claim, a
	// mailto: or https: URI, so push services can reach the operator
	// (required).
	Subject string `yaml:"subject"`
	// TTL is how long the push service keeps a message it cannot deliver
	// yet (default 24h; whole seconds; 0 means the default).
	TTL time.Duration `yaml:"ttl"`
	// Urgency is very-low, low, normal or high. Empty derives it from the
	// message priority (high: high, normal: normal, low: low).
	Urgency string `yaml:"urgency"`
	// Subscription is the default recipient: a PushSubscription as the
	// browser's subscription.toJSON() gives it, as a JSON string.
	Subscription string `yaml:"subscription"`
	// NoTopic turns off the Topic header, so that a newer message with
	// the same correlation key no longer replaces an undelivered older
	// one.
	NoTopic bool `yaml:"no_topic"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the private key or the subscription's keys.
func (s *Settings) Validate() error {
	if _, err := parseKeys(s.VAPIDPublicKey, s.VAPIDPrivateKey.Value()); err != nil {
		return err
	}
	if err := checkSubject(s.Subject); err != nil {
		return err
	}
	if s.TTL < 0 {
		return errors.New("ttl must not be negative")
	}
	if s.TTL%time.Second != 0 {
		return errors.New("ttl must be whole seconds")
	}
	switch s.Urgency {
	case "", UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
	default:
		return fmt.Errorf("urgency %q is not very-low, low, normal or high", s.Urgency)
	}
	if s.Subscription != "" {
		if _, err := ParseSubscription(s.Subscription); err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
	}
	return nil
}

func checkSubject(sub string) error {
	switch {
	case sub == "":
		return errors.New("subject is required (mailto: or https: contact for the push services)")
	case strings.HasPrefix(sub, "mailto:") && len(sub) > len("mailto:"):
		return nil
	case strings.HasPrefix(sub, "https://"):
		if u, err := url.Parse(sub); err == nil && u.Host != "" {
			return nil
		}
	}
	return errors.New("subject must be a mailto: or https: URI")
}

var b64 = base64.RawURLEncoding

// decodeB64 decodes unpadded or padded base64url, the forms browsers and
// libraries produce.
func decodeB64(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
}

// parseKeys decodes the VAPID key pair and checks that the halves match.
func parseKeys(pub, priv string) (*ecdsa.PrivateKey, error) {
	if pub == "" || priv == "" {
		return nil, errors.New("vapid_public_key and vapid_private_key are required (see herald's GenerateVAPIDKeys)")
	}
	d, err := decodeB64(priv)
	if err != nil || len(d) != 32 {
		return nil, errors.New("vapid_private_key must be 32 bytes in base64url")
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, errors.New("vapid_private_key is not a valid P-256 private key")
	}
	p, err := decodeB64(pub)
	if err != nil || len(p) != 65 || p[0] != 4 {
		return nil, errors.New("vapid_public_key must be an uncompressed P-256 point (65 bytes) in base64url")
	}
	mine, err := key.PublicKey.Bytes()
	if err != nil || string(mine) != string(p) {
		return nil, errors.New("vapid_public_key does not belong to vapid_private_key")
	}
	return key, nil
}

// GenerateVAPIDKeys returns a new VAPID key pair in the unpadded
// base64url form the settings (and browsers' applicationServerKey) take.
func GenerateVAPIDKeys() (public, private string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		return "", "", err
	}
	d, err := key.Bytes()
	if err != nil {
		return "", "", err
	}
	return b64.EncodeToString(pub), b64.EncodeToString(d), nil
}

// Subscription is a browser's push subscription (PushSubscription.toJSON()).
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		// P256dh is the user agent's ECDH public key (uncompressed P-256
		// point, base64url).
		P256dh string `json:"p256dh"`
		// Auth is the 16-byte authentication secret (base64url).
		Auth string `json:"auth"`
	} `json:"keys"`
}

// subscription is a parsed, checked Subscription.
type subscription struct {
	endpoint *url.URL
	uaPublic []byte
	auth     []byte
}

// ParseSubscription reads and checks a PushSubscription in JSON. The
// endpoint must be https (http only to a loopback address, for tests);
// its errors never repeat the endpoint or the keys.
func ParseSubscription(raw string) (*Subscription, error) {
	var s Subscription
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, errors.New("not a PushSubscription in JSON ({\"endpoint\":...,\"keys\":{\"p256dh\":...,\"auth\":...}})")
	}
	if _, err := s.parse(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Subscription) parse() (*subscription, error) {
	if s.Endpoint == "" {
		return nil, errors.New("the subscription has no endpoint")
	}
	if err := netguard.CheckURL(s.Endpoint); err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, errors.New("endpoint: malformed URL")
	}
	if !strings.EqualFold(u.Scheme, "https") && !loopback(u.Hostname()) {
		return nil, errors.New("endpoint must be https (push services only speak https)")
	}
	pub, err := decodeB64(s.Keys.P256dh)
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		return nil, errors.New("keys.p256dh must be an uncompressed P-256 point (65 bytes) in base64url")
	}
	auth, err := decodeB64(s.Keys.Auth)
	if err != nil || len(auth) != 16 {
		return nil, errors.New("keys.auth must be 16 bytes in base64url")
	}
	return &subscription{endpoint: u, uaPublic: pub, auth: auth}, nil
}

// loopback reports whether host is a loopback address (or localhost),
// the one place plain http is allowed: a test push service.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FromURL fills settings (a *Settings) from a channel URL:
//
//	webpush://?subject=mailto:ops@example.com&ttl=3600&urgency=high
//
// The keys and the default subscription are too long and too secret for
// a URL: set vapid_public_key, vapid_private_key and subscription as
// explicit fields. Query parameters: subject, ttl (seconds or a Go
// duration), urgency, no_topic; any other is an error. Apprise has no Web
// Push URL form, so this one is Herald's own.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("webpush: settings are %T, want *webpush.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || !strings.EqualFold(scheme, "webpush") {
		return errors.New("webpush: URL must look like webpush://?subject=mailto:you@example.com")
	}
	host, rawQuery, _ := strings.Cut(rest, "?")
	if strings.Trim(host, "/") != "" {
		return errors.New("webpush: URL must have no host or path (the push endpoint comes from each subscription)")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("webpush: malformed URL query (bad %-escape or ';')")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "subject":
			if err := checkSubject(v); err != nil {
				return fmt.Errorf("webpush: URL parameter %w", err)
			}
			s.Subject = v
		case "ttl":
			d, err := parseTTL(v)
			if err != nil {
				return fmt.Errorf("webpush: URL parameter ttl: %w", err)
			}
			s.TTL = d
		case "urgency":
			switch v {
			case UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
				s.Urgency = v
			default:
				return errors.New("webpush: URL parameter urgency must be very-low, low, normal or high")
			}
		case "no_topic":
			switch strings.ToLower(v) {
			case "", "1", "true", "yes":
				s.NoTopic = true
			case "0", "false", "no":
				s.NoTopic = false
			default:
				return errors.New("webpush: URL parameter no_topic must be true or false")
			}
		case "vapid_private_key", "private_key":
			return errors.New("webpush: the private key does not belong in the URL; set vapid_private_key")
		default:
			if len(k) >= 20 {
				// Long names are more likely pasted keys than typos.
				return errors.New("webpush: unknown URL parameter")
			}
			return fmt.Errorf("webpush: unknown URL parameter %q", k)
		}
	}
	return nil
}

// parseTTL reads whole seconds or a Go duration.
func parseTTL(v string) (time.Duration, error) {
	if secs, err := strconv.ParseInt(v, 10, 32); err == nil {
		if secs < 0 {
			return 0, errors.New("must not be negative")
		}
		return time.Duration(secs) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d%time.Second != 0 || d > math.MaxInt32*time.Second {
		return 0, errors.New("must be whole seconds or a duration like 1h")
	}
	return d, nil
}
