package dingtalk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/dingtalk"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testToken  = "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1"
	testSecret = "SECf0e1d2c3b4a5968778695a4b3c2d1e0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// loopbackClient is an HTTP client through a guard that allows loopback,
// as the app builds it with network.allow_private: [127.0.0.0/8].
func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *dingtalk.Settings) *dingtalk.Sender {
	t.Helper()
	d, err := dingtalk.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// okBody is DingTalk's documented success answer.
const okBody = `{"errcode":0,"errmsg":"ok"}`

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &dingtalk.Settings{AccessToken: testToken, Secret: testSecret, APIURL: u + "/robot/send"})
		},
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if status >= 200 && status < 300 {
				io.WriteString(w, okBody)
				return
			}
			io.WriteString(w, http.StatusText(status))
		},
		Secrets: []string{testToken, testSecret},
	})
}

// TestSignVector checks Sign against DingTalk's published Python sample
// (custom robot access, 加签), run with the sample's secret "this is
// secret" and the timestamp fixed at 1577262236757 instead of the clock.
// DingTalk publishes the algorithm but no output for a fixed timestamp.
func TestSignVector(t *testing.T) {
	t.Parallel()
	const want = "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
	if got := dingtalk.Sign("this is secret", 1577262236757); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	// The sample's final, URL-encoded form (urllib.parse.quote_plus).
	if got := url.QueryEscape(dingtalk.Sign("this is secret", 1577262236757)); got != "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D" {
		t.Errorf("escaped sign = %q", got)
	}
}

// captured is one request as the provider saw it.
type captured struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// robot is an httptest server playing DingTalk: it records requests and
// answers each with the next body of answers (the last one repeats).
type robot struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []captured
	status  int
	answers []string
}

func startRobot(t *testing.T, status int, answers ...string) *robot {
	t.Helper()
	rb := &robot{status: status, answers: answers}
	rb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rb.mu.Lock()
		n := len(rb.reqs)
		rb.reqs = append(rb.reqs, captured{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), b})
		answer := rb.answers[min(n, len(rb.answers)-1)]
		rb.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rb.status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(rb.Close)
	return rb
}

func (rb *robot) requests() []captured {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return append([]captured(nil), rb.reqs...)
}

func message() *channel.Message {
	return &channel.Message{
		ID:        "msg-1",
		EventType: "order.paid",
		Key:       "shop/1001",
		Content:   channel.Content{Subject: "Order 1001 paid", Text: "Order 1001 was paid: 42.00 EUR <fast & easy>."},
	}
}

func TestSendSignedRequest(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, http.StatusOK, okBody)
	d := newSender(t, &dingtalk.Settings{
		AccessToken: testToken, Secret: testSecret, APIURL: rb.URL + "/robot/send",
		AtMobiles: []string{"+86 138-0013-8000"},
	})
	fixed := time.UnixMilli(1577262236757)
	dingtalk.SetClock(d, func() time.Time { return fixed })
	m := message()
	m.To = "user123"
	receipt, err := d.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if receipt.StatusCode != 200 || receipt.ProviderID != "" || !receipt.Delivered || string(receipt.Response) != okBody {
		t.Errorf("receipt = %+v", receipt)
	}
	reqs := rb.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	c := reqs[0]
	if c.method != http.MethodPost || c.path != "/robot/send" {
		t.Errorf("request = %s %s, want POST /robot/send", c.method, c.path)
	}
	wantQuery := url.Values{
		"access_token": {testToken},
		"timestamp":    {"1577262236757"},
		"sign":         {dingtalk.Sign(testSecret, 1577262236757)},
	}
	if c.query.Encode() != wantQuery.Encode() {
		t.Errorf("query = %s, want %s", c.query.Encode(), wantQuery.Encode())
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json;charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "markdown", c.body)
}

func TestSendUnsignedText(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, http.StatusOK, okBody)
	d := newSender(t, &dingtalk.Settings{AccessToken: testToken, APIURL: rb.URL + "/robot/send", Format: dingtalk.FormatText})
	m := message()
	m.To = "13800138000, all"
	if _, err := d.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := rb.requests()[0]
	if got := c.query.Encode(); got != "access_token="+testToken {
		t.Errorf("query = %s, want only access_token", got)
	}
	golden(t, "text", c.body)
}

func TestSendData(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, http.StatusOK, okBody)
	d := newSender(t, &dingtalk.Settings{AccessToken: testToken, APIURL: rb.URL})
	card := `{"msgtype":"actionCard","actionCard":{"title":"Order 1001","text":"### Paid","singleTitle":"Open","singleURL":"https://shop.example/orders/1001"}}`
	m := message()
	m.Data = json.RawMessage(card)
	if _, err := d.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := string(rb.requests()[0].body); got != card {
		t.Errorf("body = %s, want Data as it is", got)
	}

	// Data without msgtype is for other channels: the text is sent.
	m.Data = json.RawMessage(`{"order":1001}`)
	if _, err := d.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := string(rb.requests()[1].body); !strings.Contains(got, `"msgtype":"markdown"`) {
		t.Errorf("body = %s, want the markdown message", got)
	}
}

func TestSendParts(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, http.StatusOK, okBody)
	d := newSender(t, &dingtalk.Settings{AccessToken: testToken, APIURL: rb.URL, Format: dingtalk.FormatText})
	m := message()
	m.Parts = []string{"part one", "part two", "part three"}
	if _, err := d.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rb.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, want := range m.Parts {
		var b struct{ Text struct{ Content string } }
		if err := json.Unmarshal(reqs[i].body, &b); err != nil {
			t.Fatal(err)
		}
		if b.Text.Content != want {
			t.Errorf("request %d content = %q, want %q", i, b.Text.Content, want)
		}
	}
}

func TestSendPartFailureStops(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, http.StatusOK, okBody, `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`)
	d := newSender(t, &dingtalk.Settings{AccessToken: testToken, APIURL: rb.URL})
	m := message()
	m.Parts = []string{"one", "two", "three"}
	_, err := d.Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassRetryAfter {
		t.Fatalf("Send = %v, want a retry-after error", err)
	}
	if n := len(rb.requests()); n != 2 {
		t.Errorf("got %d requests, want 2 (stop at the failing part)", n)
	}
}

func TestLongTextTruncatedByBytes(t *testing.T) {
	t.Parallel()
	for _, unit := range []string{"a", "é", "钉", "😀"} {
		t.Run(unit, func(t *testing.T) {
			t.Parallel()
			rb := startRobot(t, http.StatusOK, okBody)
			d := newSender(t, &dingtalk.Settings{AccessToken: testToken, APIURL: rb.URL, Format: dingtalk.FormatText})
			m := message()
			m.To = "13800138000"
			m.Text = strings.Repeat(unit, dingtalk.MaxContentBytes) // far over in bytes and runes
			if _, err := d.Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			var b struct{ Text struct{ Content string } }
			if err := json.Unmarshal(rb.requests()[0].body, &b); err != nil {
				t.Fatal(err)
			}
			got := b.Text.Content
			if len(got) > dingtalk.MaxContentBytes {
				t.Errorf("content is %d bytes, limit %d", len(got), dingtalk.MaxContentBytes)
			}
			if len(got) < dingtalk.MaxContentBytes-utf8.UTFMax-len("\n@13800138000")-len(channel.Ellipsis) {
				t.Errorf("content is %d bytes: cut more than needed", len(got))
			}
			if !utf8.ValidString(got) || !strings.Contains(got, channel.Ellipsis+"\n@13800138000") {
				t.Errorf("content does not end with the ellipsis and the mention: ...%q", got[len(got)-40:])
			}
		})
	}
	// The rune limit the engine splits by always fits the byte limit.
	if dingtalk.MaxLength*utf8.UTFMax > dingtalk.MaxContentBytes {
		t.Errorf("MaxLength %d runes may exceed %d bytes", dingtalk.MaxLength, dingtalk.MaxContentBytes)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	d := newSender(t, &dingtalk.Settings{AccessToken: testToken})
	got := d.Capabilities()
	want := channel.Capabilities{MaxLength: 5000, Split: true, Subject: true}
	if got != want {
		t.Errorf("Capabilities = %+v, want %+v", got, want)
	}
}

func TestEmptyMessageIsPermanent(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, http.StatusOK, okBody)
	d := newSender(t, &dingtalk.Settings{AccessToken: testToken, APIURL: rb.URL})
	_, err := d.Send(t.Context(), &channel.Message{})
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
		t.Errorf("Send = %v, want permanent", err)
	}
	if n := len(rb.requests()); n != 0 {
		t.Errorf("got %d requests for an empty message", n)
	}
}

// TestClassify feeds the answers DingTalk documents (HTTP 200 with an
// errcode) through a real send.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		class  channel.Class
		after  time.Duration
		reason string
	}{
		{"keywords", `{"errcode":310000,"errmsg":"keywords not in content"}`, channel.ClassPermanent, 0, "security_check"},
		{"timestamp", `{"errcode":310000,"errmsg":"invalid timestamp"}`, channel.ClassPermanent, 0, "security_check"},
		{"sign", `{"errcode":310000,"errmsg":"sign not match"}`, channel.ClassPermanent, 0, "security_check"},
		{"ip", `{"errcode":310000,"errmsg":"ip X.X.X.X not in whitelist"}`, channel.ClassPermanent, 0, "security_check"},
		{"too fast", `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`, channel.ClassRetryAfter, 10 * time.Minute, "rate_limited"},
		{"rate limited", `{"errcode":410100,"errmsg":"send too fast"}`, channel.ClassRetryAfter, 10 * time.Minute, "rate_limited"},
		{"token", `{"errcode":300001,"errmsg":"token is not exist"}`, channel.ClassPermanent, 0, "auth"},
		{"group", `{"errcode":400013,"errmsg":"group is dissolved"}`, channel.ClassPermanent, 0, "group_dissolved"},
		{"busy", `{"errcode":-1,"errmsg":"系统繁忙"}`, channel.ClassRetryable, 0, "busy"},
		{"unknown", `{"errcode":40035,"errmsg":"缺少参数 json"}`, channel.ClassPermanent, 0, "rejected"},
		{"not json", `<html>portal</html>`, channel.ClassRetryable, 0, "unexpected_response"},
		{"no errcode", `{"ok":true}`, channel.ClassRetryable, 0, "unexpected_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rb := startRobot(t, http.StatusOK, tt.body)
			d := newSender(t, &dingtalk.Settings{AccessToken: testToken, Secret: testSecret, APIURL: rb.URL})
			_, err := d.Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.After != tt.after || ce.Reason != tt.reason || ce.StatusCode != 200 {
				t.Errorf("error = class %v after %v reason %q status %d, want %v %v %q 200",
					ce.Class, ce.After, ce.Reason, ce.StatusCode, tt.class, tt.after, tt.reason)
			}
			if !bytes.Equal(ce.Response, []byte(tt.body)) {
				t.Errorf("Response = %s, want the body", ce.Response)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	if err := dingtalk.Classify(200, []byte(okBody)); err != nil {
		t.Errorf("Classify(ok) = %v", err)
	}
}

// golden compares got with testdata/<name>.golden.json, rewriting it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}
