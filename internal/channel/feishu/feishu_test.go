package feishu_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/feishu"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testHook   = "f19a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
	testSecret = "zs0TqQ9mX2vL7pK4rN8w"
)

// Feishu's documented answers.
const (
	okBody    = `{"code":0,"data":{},"msg":"success"}`
	okBodyOld = `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`
)

// loopbackClient is an HTTP client through a guard that allows loopback,
// as the app builds it with network.allow_private: [127.0.0.0/8].
func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *feishu.Settings) *feishu.Sender {
	t.Helper()
	f, err := feishu.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &feishu.Settings{HookID: testHook, Secret: testSecret, APIURL: u + "/open-apis/bot/v2/hook"})
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
		Secrets: []string{testHook, testSecret},
	})
}

// TestSignVector checks Sign against Feishu's published Python 3 sample
// (custom bot, 签名校验) run with the timestamp of the documentation's
// request example (1599360473) and the secret "demo-secret" instead of
// the clock and a real secret. Feishu publishes the algorithm but no
// output for given inputs.
func TestSignVector(t *testing.T) {
	t.Parallel()
	if got, want := feishu.Sign("demo-secret", 1599360473), "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

type captured struct {
	method, path string
	header       http.Header
	body         []byte
}

// bot is an httptest server playing Feishu: it records requests and
// answers each with the next of answers (the last one repeats).
type bot struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []captured
	status  int
	answers []string
}

func startBot(t *testing.T, status int, answers ...string) *bot {
	t.Helper()
	b := &bot{status: status, answers: answers}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		n := len(b.reqs)
		b.reqs = append(b.reqs, captured{r.Method, r.URL.Path, r.Header.Clone(), body})
		answer := b.answers[min(n, len(b.answers)-1)]
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(b.status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *bot) requests() []captured {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]captured(nil), b.reqs...)
}

func message() *channel.Message {
	return &channel.Message{
		ID:      "msg-1",
		Key:     "shop/1001",
		To:      "ou_7d8a6e6df7621556ce0d21922b676706",
		Content: channel.Content{Subject: "Order 1001 paid", Text: "订单 1001 已支付\n42.00 EUR <fast & easy>"},
	}
}

func TestSendSignedPost(t *testing.T) {
	t.Parallel()
	b := startBot(t, http.StatusOK, okBodyOld)
	f := newSender(t, &feishu.Settings{HookID: testHook, Secret: testSecret, APIURL: b.URL + "/open-apis/bot/v2/hook/"})
	feishu.SetClock(f, func() time.Time { return time.Unix(1599360473, 0) })
	receipt, err := f.Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if receipt.StatusCode != 200 || receipt.ProviderID != "" || !receipt.Delivered {
		t.Errorf("receipt = %+v", receipt)
	}
	reqs := b.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	c := reqs[0]
	if c.method != http.MethodPost || c.path != "/open-apis/bot/v2/hook/"+testHook {
		t.Errorf("request = %s %s", c.method, c.path)
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var sig struct{ Timestamp, Sign string }
	if err := json.Unmarshal(c.body, &sig); err != nil {
		t.Fatal(err)
	}
	if sig.Timestamp != "1599360473" || sig.Sign != feishu.Sign(testSecret, 1599360473) {
		t.Errorf("timestamp, sign = %q, %q", sig.Timestamp, sig.Sign)
	}
	golden(t, "post", c.body)
}

func TestSendText(t *testing.T) {
	t.Parallel()
	b := startBot(t, http.StatusOK, okBody)
	f := newSender(t, &feishu.Settings{HookID: testHook, APIURL: b.URL, Mentions: []string{"all"}})
	m := message()
	m.Subject = ""
	if _, err := f.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	golden(t, "text", b.requests()[0].body)
}

func TestRegions(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]string{
		"":     "https://open.feishu.cn/open-apis/bot/v2/hook/" + testHook,
		"lark": "https://open.larksuite.com/open-apis/bot/v2/hook/" + testHook,
	} {
		var got string
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			got = r.URL.String()
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(okBody)), Header: http.Header{}}, nil
		})}
		f, err := feishu.New(&feishu.Settings{HookID: testHook, Region: region}, client)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Send(t.Context(), message()); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("region %q posts to %s, want %s", region, got, want)
		}
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSendData(t *testing.T) {
	t.Parallel()
	b := startBot(t, http.StatusOK, okBody)
	f := newSender(t, &feishu.Settings{HookID: testHook, Secret: testSecret, APIURL: b.URL})
	feishu.SetClock(f, func() time.Time { return time.Unix(1599360473, 0) })
	sign := feishu.Sign(testSecret, 1599360473)
	card := `{"header":{"title":{"tag":"plain_text","content":"Order 1001"}},"elements":[{"tag":"div","text":{"tag":"lark_md","content":"**paid**"}}]}`
	tests := []struct{ data, want string }{
		// A complete body: sent with the signature added.
		{`{"msg_type":"share_chat","content":{"share_chat_id":"oc_f5b1a7eb27ae2c7b6adc2a74faf339ff"}}`,
			`{"content":{"share_chat_id":"oc_f5b1a7eb27ae2c7b6adc2a74faf339ff"},"msg_type":"share_chat","sign":"` + sign + `","timestamp":"1599360473"}`},
		// A card: wrapped as an interactive message.
		{card, `{"card":` + card + `,"msg_type":"interactive","sign":"` + sign + `","timestamp":"1599360473"}`},
	}
	for i, tt := range tests {
		m := message()
		m.Data = json.RawMessage(tt.data)
		if _, err := f.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if got := string(b.requests()[i].body); got != tt.want {
			t.Errorf("body = %s\nwant %s", got, tt.want)
		}
	}
	// Other data is for other channels: the post is sent.
	m := message()
	m.Data = json.RawMessage(`{"order":1001}`)
	if _, err := f.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := string(b.requests()[2].body); !strings.Contains(got, `"msg_type":"post"`) {
		t.Errorf("body = %s, want the post", got)
	}
}

func TestSendParts(t *testing.T) {
	t.Parallel()
	b := startBot(t, http.StatusOK, okBody)
	f := newSender(t, &feishu.Settings{HookID: testHook, APIURL: b.URL, Format: feishu.FormatText})
	m := message()
	m.To = ""
	m.Parts = []string{"one", "two", "three"}
	if _, err := f.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := b.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, want := range m.Parts {
		if got := string(reqs[i].body); got != `{"msg_type":"text","content":{"text":"`+want+`"}}` {
			t.Errorf("request %d = %s", i, got)
		}
	}
}

func TestLongTextFitsBodyLimit(t *testing.T) {
	t.Parallel()
	for _, format := range []string{feishu.FormatText, feishu.FormatPost} {
		// "\n" and '"' grow when JSON-escaped; emoji are 4 bytes.
		for _, unit := range []string{"a", "飞", "😀", "\"\n"} {
			t.Run(format+"/"+unit, func(t *testing.T) {
				t.Parallel()
				b := startBot(t, http.StatusOK, okBody)
				f := newSender(t, &feishu.Settings{HookID: testHook, Secret: testSecret, APIURL: b.URL, Format: format})
				m := message()
				m.Text = strings.Repeat(unit, feishu.MaxBodyBytes)
				if _, err := f.Send(t.Context(), m); err != nil {
					t.Fatal(err)
				}
				body := b.requests()[0].body
				if len(body) > feishu.MaxBodyBytes {
					t.Errorf("body is %d bytes, limit %d", len(body), feishu.MaxBodyBytes)
				}
				if len(body) < feishu.MaxBodyBytes-200 {
					t.Errorf("body is %d bytes: cut more than needed", len(body))
				}
				if !bytes.Contains(body, []byte(channel.Ellipsis)) || !json.Valid(body) {
					t.Errorf("body is not valid JSON with the ellipsis")
				}
			})
		}
	}
	// MaxLength runes of the widest script fit, with a subject.
	b := startBot(t, http.StatusOK, okBody)
	f := newSender(t, &feishu.Settings{HookID: testHook, Secret: testSecret, APIURL: b.URL})
	m := message()
	m.Text = strings.Repeat("😀", feishu.MaxLength)
	if _, err := f.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.requests()[0].body, []byte(channel.Ellipsis)) {
		t.Error("a text of MaxLength runes was cut")
	}
}

func TestEmptyMessageIsPermanent(t *testing.T) {
	t.Parallel()
	b := startBot(t, http.StatusOK, okBody)
	f := newSender(t, &feishu.Settings{HookID: testHook, APIURL: b.URL})
	_, err := f.Send(t.Context(), &channel.Message{})
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
		t.Errorf("Send = %v, want permanent", err)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("got %d requests for an empty message", n)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	got := newSender(t, &feishu.Settings{HookID: testHook}).Capabilities()
	if want := (channel.Capabilities{MaxLength: 4000, Split: true, Subject: true}); got != want {
		t.Errorf("Capabilities = %+v, want %+v", got, want)
	}
}

// TestClassify feeds Feishu's documented answers through a real send.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		class  channel.Class
		after  time.Duration
		reason string
	}{
		{"sign", 200, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`, channel.ClassPermanent, 0, "security_check"},
		{"ip", 200, `{"code":19022,"data":{},"msg":"Ip Not Allowed"}`, channel.ClassPermanent, 0, "security_check"},
		{"keywords", 200, `{"code":19024,"data":{},"msg":"Key Words Not Found"}`, channel.ClassPermanent, 0, "security_check"},
		{"bad request", 400, `{"code":9499,"msg":"Bad Request","data":{}}`, channel.ClassPermanent, 0, "http_400"},
		{"bad request 200", 200, `{"code":9499,"msg":"Bad Request","data":{}}`, channel.ClassPermanent, 0, "bad_request"},
		{"frequency", 200, `{"code":11232,"data":{},"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}`, channel.ClassRetryAfter, time.Minute, "rate_limited"},
		{"frequency 429", 429, `{"code":11232,"data":{},"msg":"frequency limited"}`, channel.ClassRetryAfter, time.Minute, "rate_limited"},
		{"old style", 200, `{"StatusCode":19021,"StatusMessage":"sign match fail"}`, channel.ClassPermanent, 0, "security_check"},
		{"hook", 200, `{"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}`, channel.ClassPermanent, 0, "auth"},
		{"unknown", 200, `{"code":12345,"msg":"?"}`, channel.ClassPermanent, 0, "rejected"},
		{"not json", 200, `<html>portal</html>`, channel.ClassRetryable, 0, "unexpected_response"},
		{"no code", 200, `{"data":{}}`, channel.ClassRetryable, 0, "unexpected_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := startBot(t, tt.status, tt.body)
			f := newSender(t, &feishu.Settings{HookID: testHook, Secret: testSecret, APIURL: b.URL})
			_, err := f.Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.After != tt.after || ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("error = class %v after %v reason %q status %d, want %v %v %q %d",
					ce.Class, ce.After, ce.Reason, ce.StatusCode, tt.class, tt.after, tt.reason, tt.status)
			}
			if strings.Contains(err.Error(), testHook) || strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	if err := feishu.Classify(200, []byte(okBodyOld)); err != nil {
		t.Errorf("Classify(old ok) = %v", err)
	}
}

// golden compares got with testdata/<name>.golden.json, rewriting it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
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
