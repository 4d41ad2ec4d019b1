// Package bark pushes notifications to iOS devices through a Bark server
// (github.com/Finb/bark-server, API v2): one JSON POST to {server}/push
// per message with the device key, title, body and the optional level,
// sound, group, url, icon, badge and isArchive fields.
//
// Bark answers {"code":200,"message":"success","timestamp":...} and gives
// no message id, so receipts carry none and earlier notifications are not
// updated. Failures come back as {"code":400,"message":"failed to get
// device token: ..."} (unknown device key) or {"code":500,"message":"push
// failed: <APNs reason>"}.
//
// Data: when Content.Data is a JSON object, its keys are added to the
// push body (bark-server passes unknown fields on to the app as
// parameters, e.g. "copy", "autoCopy", "ciphertext"), replacing the
// fields built here except device_key.
package bark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxBodyBytes bounds the body: APNs refuses payloads over 4 KB
// (Apple's documented limit for a remote notification), and title, the
// other fields and the server's additions share that budget.
const MaxBodyBytes = 3000

// MaxLength is MaxBodyBytes in the worst common case of three-byte
// characters (CJK), so any text within it fits.
const MaxLength = MaxBodyBytes / 3

// maxTitleBytes keeps the title within the same budget.
const maxTitleBytes = 512

// Sender pushes to a Bark server. It is safe for concurrent use.
type Sender struct {
	s      Settings
	url    string
	client *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("bark: nil settings")
	}
	if client == nil {
		return nil, errors.New("bark: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("bark: %w", err)
	}
	return &Sender{s: *s, url: s.server() + "/push", client: client}, nil
}

// Capabilities implements channel.Describer: a Bark notification has a
// title and a plain body bounded by the APNs payload size.
func (b *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Subject: true}
}

// push is bark-server's API v2 push body.
type push struct {
	DeviceKey string `json:"device_key"`
	Title     string `json:"title,omitempty"`
	Body      string `json:"body"`
	Level     string `json:"level,omitempty"`
	Sound     string `json:"sound,omitempty"`
	Group     string `json:"group,omitempty"`
	URL       string `json:"url,omitempty"`
	Icon      string `json:"icon,omitempty"`
	Badge     int    `json:"badge,omitempty"`
	IsArchive string `json:"isArchive,omitempty"`
}

// Send pushes m to the device key in m.To, else the settings' key: one
// request per text part. The receipt is the first part's.
func (b *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("bark: nil message"))
	}
	key := b.s.DeviceKey.Value()
	if m.To != "" {
		key = m.To
	}
	if key == "" {
		return nil, channel.Permanent("no_destination", 0, errors.New("bark: no device key: the channel has none and the message names none"))
	}
	if !validKey(key) {
		return nil, channel.Permanent("invalid_destination", 0, errors.New("bark: the device key may only contain letters, digits, '-' and '_'"))
	}
	var first *channel.Receipt
	for i, text := range m.Texts() {
		body, err := b.body(m, key, text)
		if err != nil {
			return nil, err
		}
		r, err := b.call(ctx, key, body)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = r
		}
	}
	return first, nil
}

// body builds the JSON body for one text.
func (b *Sender) body(m *channel.Message, key, text string) ([]byte, error) {
	p := push{
		DeviceKey: key,
		Title:     channel.TruncateBytes(m.Subject, maxTitleBytes),
		Body:      channel.TruncateBytes(text, MaxBodyBytes),
		Level:     Level(m.Priority),
		Sound:     b.s.Sound,
		Group:     b.s.Group,
		URL:       b.s.URL,
		Icon:      b.s.Icon,
		Badge:     b.s.Badge,
	}
	if b.s.Level != "" {
		p.Level = b.s.Level
	}
	if b.s.Archive {
		p.IsArchive = "1"
	}
	out, err := json.Marshal(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("bark: encode message: %w", err))
	}
	if len(m.Data) == 0 {
		return out, nil
	}
	var data, merged map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &data); err != nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("bark: content data is not a JSON object"))
	}
	if err := json.Unmarshal(out, &merged); err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("bark: %w", err))
	}
	for k, v := range data {
		if k != "device_key" && k != "device_keys" {
			merged[k] = v
		}
	}
	out, err = json.Marshal(merged)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("bark: encode message: %w", err))
	}
	return out, nil
}

// Level maps Herald's ntfy-like priority (1 min .. 5 max) to a Bark
// interruption level: 1-2 passive (no sound, no screen), 3 active (the
// default), 4 timeSensitive (breaks through Focus), 5 critical (sounds
// even when muted). 0 leaves the level unset (Bark's default, active).
func Level(p int) string {
	switch {
	case p == 0:
		return ""
	case p <= 2:
		return LevelPassive
	case p == 3:
		return LevelActive
	case p == 4:
		return LevelTimeSensitive
	}
	return LevelCritical
}

// answer is bark-server's reply.
type answer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// call makes one request and classifies the answer.
func (b *Sender) call(ctx context.Context, key string, body []byte) (*channel.Receipt, error) {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	resp, err := httpcall.Do(ctx, b.client, httpcall.Request{URL: b.url, Header: h, Body: body, Secrets: []string{key}})
	if err != nil {
		return nil, err
	}
	if err := classify(resp, key); err != nil {
		return nil, err
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// permanentAPNs are APNs reasons (Apple's "Handling notification
// responses from APNs") that bark-server reports as "push failed: <reason>"
// with code 500 but that no retry can fix: the device token is gone or
// wrong, or the payload is refused.
var permanentAPNs = []string{"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic", "PayloadTooLarge", "ExpiredToken"}

// classify applies the shared HTTP rules, then the body's "code" (which
// bark-server also sends with HTTP 200): 400 is permanent ("failed to get
// device token" means an unknown device key), 5xx retryable unless the
// APNs reason is one retrying cannot fix.
func classify(resp *httpcall.Response, secrets ...string) error {
	var a answer
	parsed := json.Unmarshal(resp.Body, &a) == nil && a.Code != 0
	err := httpcall.Classify(resp, secrets...)
	if err == nil {
		if !parsed || a.Code/100 == 2 {
			return nil
		}
		// A 2xx whose body reports a failure.
		status := a.Code
		err = channel.Permanent(fmt.Sprintf("bark_%d", status), resp.StatusCode, fmt.Errorf("bark: %s", oneLine(a.Message)))
		if status >= 500 || status == http.StatusTooManyRequests {
			err = channel.Retryable(fmt.Sprintf("bark_%d", status), resp.StatusCode, fmt.Errorf("bark: %s", oneLine(a.Message)))
		}
		err = httpcall.Scrub(err, secrets...)
	}
	if !parsed {
		return err
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := *ce
	switch {
	case strings.Contains(a.Message, "failed to get device token"), strings.Contains(a.Message, "device key is empty"):
		out.Class, out.After, out.Reason = channel.ClassPermanent, 0, "unknown_device"
	case strings.HasPrefix(a.Message, "push failed"):
		for _, r := range permanentAPNs {
			if strings.Contains(a.Message, r) {
				out.Class, out.After, out.Reason = channel.ClassPermanent, 0, "apns_rejected"
				break
			}
		}
	}
	return &out
}

// oneLine cuts s to a short single line for an error text.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return channel.TruncateBytes(s, 200)
}
