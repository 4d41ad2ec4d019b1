// Package pushover sends messages through Pushover's Message API
// (https://pushover.net/api): one form-encoded POST to
// https://api.pushover.net/1/messages.json per message, with the
// application token, the user or group key and the message, plus title,
// url, url_title, priority (retry/expire for emergency), sound, device,
// html and ttl.
//
// The receipt's ProviderID is the emergency-priority "receipt" when
// Pushover returns one (it identifies the notification that keeps
// repeating until acknowledged), else the "request" id. Cancelling an
// emergency notification would take a second call, and Send makes
// exactly one per message part, so the channel does not update earlier
// messages.
package pushover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Limits documented at https://pushover.net/api#limits.
const (
	MaxMessage  = 1024 // characters
	MaxTitle    = 250
	MaxURL      = 512
	MaxURLTitle = 100
)

// Sender sends messages through Pushover. It is safe for concurrent use.
type Sender struct {
	s      Settings
	url    string
	client *http.Client
	now    func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("pushover: nil settings")
	}
	if client == nil {
		return nil, errors.New("pushover: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("pushover: %w", err)
	}
	return &Sender{s: *s, url: s.apiURL(), client: client, now: time.Now}, nil
}

// Capabilities implements channel.Describer: Pushover shows a title and
// up to 1024 characters of text, plain or in its small HTML subset.
func (p *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxMessage, Subject: true, HTML: true}
}

// Send sends m to the user or group key in m.To, else the settings'
// user: one request per text part. When m has HTML (and no parts) the
// HTML is sent with html=1; otherwise the text. The receipt is the first
// part's.
func (p *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("pushover: nil message"))
	}
	user := p.s.User.Value()
	if m.To != "" {
		user = m.To
	}
	if user == "" {
		return nil, channel.Permanent("no_destination", 0, errors.New("pushover: no user key: the channel has none and the message names none"))
	}
	if !keyPattern.MatchString(user) {
		return nil, channel.Permanent("invalid_destination", 0, errors.New("pushover: the user key is not 30 letters and digits"))
	}
	texts, html := m.Texts(), false
	if len(m.Parts) == 0 && m.HTML != "" {
		texts, html = []string{m.HTML}, true
	}
	secrets := []string{p.s.Token.Value(), user}
	var first *channel.Receipt
	for i, text := range texts {
		form := p.form(m, user, text, html)
		r, err := p.call(ctx, form, secrets)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = r
		}
	}
	return first, nil
}

// form builds the request parameters for one text.
func (p *Sender) form(m *channel.Message, user, text string, html bool) url.Values {
	f := url.Values{}
	f.Set("token", p.s.Token.Value())
	f.Set("user", user)
	if strings.TrimSpace(text) == "" {
		// message is required; an empty one is refused.
		text = m.Subject
	}
	f.Set("message", channel.Truncate(text, MaxMessage))
	if m.Subject != "" {
		f.Set("title", channel.Truncate(m.Subject, MaxTitle))
	}
	if html {
		f.Set("html", "1")
	}
	if len(p.s.Devices) > 0 {
		f.Set("device", strings.Join(p.s.Devices, ","))
	}
	if p.s.Sound != "" {
		f.Set("sound", p.s.Sound)
	}
	if p.s.URL != "" {
		f.Set("url", p.s.URL)
		if p.s.URLTitle != "" {
			f.Set("url_title", p.s.URLTitle)
		}
	}
	if p.s.TTL > 0 {
		f.Set("ttl", strconv.FormatInt(int64(p.s.TTL/time.Second), 10))
	}
	prio, set := m.Priority, m.Priority != 0
	if set {
		prio = Priority(prio)
	}
	if p.s.Priority != nil {
		prio, set = *p.s.Priority, true
	}
	if set && prio != 0 {
		f.Set("priority", strconv.Itoa(prio))
	}
	if prio == 2 {
		retry, expire := p.s.Retry, p.s.Expire
		if retry == 0 {
			retry = DefaultRetry
		}
		if expire == 0 {
			expire = DefaultExpire
		}
		f.Set("retry", strconv.FormatInt(int64(retry/time.Second), 10))
		f.Set("expire", strconv.FormatInt(int64(expire/time.Second), 10))
	}
	return f
}

// Priority maps Herald's ntfy-like priority (1 min .. 5 max) onto
// Pushover's -2..2: 1 → -2 (lowest: no notification), 2 → -1 (quiet),
// 3 → 0 (normal), 4 → 1 (high: bypasses quiet hours), 5 → 2 (emergency:
// repeats until acknowledged). Above 5 counts as 5, below 1 as 1.
func Priority(p int) int {
	switch {
	case p <= 1:
		return -2
	case p >= 5:
		return 2
	}
	return p - 3
}

// answer is Pushover's JSON answer, success or failure.
type answer struct {
	Status  int      `json:"status"`
	Request string   `json:"request"`
	Receipt string   `json:"receipt"`
	Errors  []string `json:"errors"`
}

// call makes one request and classifies the answer.
func (p *Sender) call(ctx context.Context, form url.Values, secrets []string) (*channel.Receipt, error) {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	resp, err := httpcall.Do(ctx, p.client, httpcall.Request{URL: p.url, Header: h, Body: []byte(form.Encode()), Secrets: secrets})
	if err != nil {
		return nil, err
	}
	if err := classify(resp, p.now(), secrets...); err != nil {
		return nil, err
	}
	var a answer
	if json.Unmarshal(resp.Body, &a) == nil && a.Status != 1 && (a.Request != "" || len(a.Errors) > 0) {
		// A 2xx whose body says status 0 is a refusal all the same.
		return nil, httpcall.Scrub(channel.Permanent("rejected", resp.StatusCode,
			fmt.Errorf("pushover: request refused: %s", strings.Join(a.Errors, "; "))), secrets...)
	}
	id := a.Receipt
	if id == "" {
		id = a.Request
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// classify applies the shared HTTP rules, then Pushover's: a 429 means
// the application is over its monthly message limit, so without a
// Retry-After it waits until X-Limit-App-Reset (the Unix time the count
// resets) when the header is there; 4xx answers name the bad parameter
// in "errors" and are permanent (bad token or user key: "auth").
func classify(resp *httpcall.Response, now time.Time, secrets ...string) error {
	err := httpcall.Classify(resp, secrets...)
	if err == nil {
		return nil
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := *ce
	if resp.StatusCode == http.StatusTooManyRequests {
		out.Reason = "quota_exceeded"
		if out.Class == channel.ClassRetryable {
			if reset, rerr := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("X-Limit-App-Reset")), 10, 64); rerr == nil {
				d := time.Unix(reset, 0).Sub(now)
				if d < 0 {
					d = 0
				}
				out.Class, out.After = channel.ClassRetryAfter, d
			}
		}
		return &out
	}
	var a map[string]any
	if resp.StatusCode/100 == 4 && json.Unmarshal(resp.Body, &a) == nil {
		if a["token"] == "invalid" || a["user"] == "invalid" {
			out.Reason = "auth"
			return &out
		}
	}
	return err
}
