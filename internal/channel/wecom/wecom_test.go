package wecom_test

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
	"github.com/herald-notify/herald/internal/channel/wecom"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testKey = "693a91f6-7a0c-4bc4-97a0-0ec2a1fa5aaa"

// okBody is WeCom's documented success answer.
const okBody = `{"errcode":0,"errmsg":"ok"}`

// loopbackClient is an HTTP client through a guard that allows loopback,
// as the app builds it with network.allow_private: [127.0.0.0/8].
func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *wecom.Settings) *wecom.Sender {
	t.Helper()
	w, err := wecom.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &wecom.Settings{Key: testKey, APIURL: u + "/cgi-bin/webhook/send"})
		},
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.WriteHeader(status)
			if status >= 200 && status < 300 {
				io.WriteString(w, okBody)
				return
			}
			io.WriteString(w, http.StatusText(status))
		},
		Secrets: []string{testKey},
	})
}

type captured struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// robot is an httptest server playing WeCom: it records requests and
// answers each with the next of answers (the last one repeats).
type robot struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []captured
	answers []string
}

func startRobot(t *testing.T, answers ...string) *robot {
	t.Helper()
	rb := &robot{answers: answers}
	rb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rb.mu.Lock()
		n := len(rb.reqs)
		rb.reqs = append(rb.reqs, captured{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), b})
		answer := rb.answers[min(n, len(rb.answers)-1)]
		rb.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
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
		ID:      "msg-1",
		Key:     "shop/1001",
		To:      "wangqing,13800001111",
		Content: channel.Content{Subject: "Order 1001 paid", Text: "广州订单 1001 已支付: 42.00 EUR <fast & easy>."},
	}
}

func TestSendText(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, okBody)
	w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL + "/cgi-bin/webhook/send", MentionedList: []string{"@all"}})
	receipt, err := w.Send(t.Context(), message())
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
	if c.method != http.MethodPost || c.path != "/cgi-bin/webhook/send" || c.query.Encode() != "key="+testKey {
		t.Errorf("request = %s %s?%s, want POST /cgi-bin/webhook/send?key=…", c.method, c.path, c.query.Encode())
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "text", c.body)
}

func TestSendMarkdown(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, okBody)
	w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL, Format: wecom.FormatMarkdown})
	m := message()
	m.Text = "**订单 1001** 已支付\n> 42.00 EUR"
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	golden(t, "markdown", rb.requests()[0].body)
}

func TestSendData(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, okBody)
	w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL})
	news := `{"msgtype":"news","news":{"articles":[{"title":"Order 1001","url":"https://shop.example/1001"}]}}`
	m := message()
	m.Data = json.RawMessage(news)
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := string(rb.requests()[0].body); got != news {
		t.Errorf("body = %s, want Data as it is", got)
	}
	m.Data = json.RawMessage(`[1,2]`)
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := string(rb.requests()[1].body); !strings.HasPrefix(got, `{"msgtype":"text"`) {
		t.Errorf("body = %s, want the text message", got)
	}
}

func TestSendParts(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, okBody)
	w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL})
	m := message()
	m.To = ""
	m.Parts = []string{"第一部分", "second"}
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rb.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, want := range m.Parts {
		if got := string(reqs[i].body); got != `{"msgtype":"text","text":{"content":"`+want+`"}}` {
			t.Errorf("request %d = %s", i, got)
		}
	}
}

func TestLongTextTruncatedByBytes(t *testing.T) {
	t.Parallel()
	for _, format := range []string{wecom.FormatText, wecom.FormatMarkdown} {
		for _, unit := range []string{"a", "é", "微", "😀"} {
			t.Run(format+"/"+unit, func(t *testing.T) {
				t.Parallel()
				rb := startRobot(t, okBody)
				w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL, Format: format})
				limit := wecom.MaxTextBytes
				if format == wecom.FormatMarkdown {
					limit = wecom.MaxMarkdownBytes
				}
				m := message()
				m.Text = strings.Repeat(unit, limit+1)
				if _, err := w.Send(t.Context(), m); err != nil {
					t.Fatal(err)
				}
				var b struct {
					Text, Markdown struct{ Content string }
				}
				if err := json.Unmarshal(rb.requests()[0].body, &b); err != nil {
					t.Fatal(err)
				}
				got := b.Text.Content + b.Markdown.Content
				if len(got) > limit {
					t.Errorf("content is %d bytes, limit %d", len(got), limit)
				}
				if len(got) < limit-utf8.UTFMax-len(channel.Ellipsis)-len("\n<@wangqing>") {
					t.Errorf("content is %d bytes: cut more than needed", len(got))
				}
				if !utf8.ValidString(got) || !strings.Contains(got, channel.Ellipsis) {
					t.Errorf("content is not valid UTF-8 ending with the ellipsis")
				}
				if caps := w.Capabilities(); caps.MaxLength*utf8.UTFMax > limit {
					t.Errorf("MaxLength %d runes may exceed %d bytes", caps.MaxLength, limit)
				}
			})
		}
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	if got := newSender(t, &wecom.Settings{Key: testKey}).Capabilities(); got != (channel.Capabilities{MaxLength: 512, Split: true}) {
		t.Errorf("text Capabilities = %+v", got)
	}
	if got := newSender(t, &wecom.Settings{Key: testKey, Format: "markdown"}).Capabilities(); got != (channel.Capabilities{MaxLength: 1024, Split: true}) {
		t.Errorf("markdown Capabilities = %+v", got)
	}
}

func TestEmptyMessageIsPermanent(t *testing.T) {
	t.Parallel()
	rb := startRobot(t, okBody)
	w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL})
	_, err := w.Send(t.Context(), &channel.Message{})
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
		t.Errorf("Send = %v, want permanent", err)
	}
	if n := len(rb.requests()); n != 0 {
		t.Errorf("got %d requests for an empty message", n)
	}
}

// TestClassify feeds WeCom's documented answers (HTTP 200 with an
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
		{"freq", `{"errcode":45009,"errmsg":"api freq out of limit, hint: [1663215683_117_0ab6b4c5d], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=45009"}`, channel.ClassRetryAfter, time.Minute, "rate_limited"},
		{"busy", `{"errcode":-1,"errmsg":"system busy"}`, channel.ClassRetryable, 0, "busy"},
		{"bad key", `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1663215683_117_0ab6b4c5d], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`, channel.ClassPermanent, 0, "auth"},
		{"type", `{"errcode":40008,"errmsg":"invalid message type"}`, channel.ClassPermanent, 0, "invalid_message_type"},
		{"empty", `{"errcode":44004,"errmsg":"empty content"}`, channel.ClassPermanent, 0, "rejected"},
		{"not json", `<html>portal</html>`, channel.ClassRetryable, 0, "unexpected_response"},
		{"no errcode", `{}`, channel.ClassRetryable, 0, "unexpected_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rb := startRobot(t, tt.body)
			w := newSender(t, &wecom.Settings{Key: testKey, APIURL: rb.URL})
			_, err := w.Send(t.Context(), message())
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
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
	if err := wecom.Classify(200, []byte(okBody)); err != nil {
		t.Errorf("Classify(ok) = %v", err)
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
