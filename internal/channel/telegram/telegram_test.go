package telegram_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/telegram"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// token is the example bot token of the Bot API documentation.
const token = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"

// okBody is a sendMessage success answer as the Bot API documents it: the
// sent Message inside "result".
const okBody = `{"ok":true,"result":{"message_id":42,"from":{"id":123456,"is_bot":true,"first_name":"Herald","username":"herald_bot"},"chat":{"id":-1001234567890,"title":"Ops","type":"supergroup"},"date":1700000000,"text":"Order 1001 paid"}}`

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *telegram.Settings) *telegram.Sender {
	t.Helper()
	if s.Token == "" {
		s.Token = token
	}
	snd, err := telegram.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// respond answers like the Bot API for a status: its success body for
// 2xx, its error envelope otherwise, with retry_after mirroring a
// Retry-After header the kit set.
func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	if status >= 200 && status < 300 {
		w.WriteHeader(status)
		io.WriteString(w, okBody)
		return
	}
	params := ""
	if ra := w.Header().Get("Retry-After"); ra != "" && !strings.ContainsAny(ra, " ,") {
		params = `,"parameters":{"retry_after":` + ra + `}`
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"ok":false,"error_code":%d,"description":%q%s}`, status, http.StatusText(status), params)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &telegram.Settings{APIURL: url, ChatID: "-1001234567890"})
		},
		Respond: respond,
		Secrets: []string{token, "ABC-DEF1234ghIkl-zyx57W2v1u123ew11"},
		Message: func() *channel.Message {
			m := channeltest.Message()
			m.To = ""
			return m
		},
	})
}

// captured is one request as the fake Bot API saw it.
type captured struct {
	method, path, contentType string
	body                      []byte
}

type fakeAPI struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

// startAPI starts a fake Bot API that answers every request with status
// and body.
func startAPI(t *testing.T, status int, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func (f *fakeAPI) only(t *testing.T) captured {
	t.Helper()
	r := f.requests()
	if len(r) != 1 {
		t.Fatalf("API got %d requests, want 1", len(r))
	}
	return r[0]
}

func message() *channel.Message {
	return &channel.Message{
		ID:             "msg-1",
		IdempotencyKey: "idem-1",
		Attempt:        1,
		EventType:      "order.paid",
		Key:            "shop/1001",
		Content: channel.Content{
			Subject: "Order #1001 paid!",
			Text:    "Order <1001> & co: 42.00 EUR.",
		},
	}
}

// golden compares got with testdata/name byte for byte, or rewrites the
// file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("request body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings telegram.Settings
		golden   string
	}{
		{"plain", telegram.Settings{ChatID: "-1001234567890"}, "send_plain.golden.json"},
		{"html", telegram.Settings{
			ChatID: "-1001234567890", ParseMode: "HTML", DisableNotification: true,
			DisableLinkPreview: true, MessageThreadID: 7,
		}, "send_html.golden.json"},
		{"markdownv2", telegram.Settings{ChatID: "@herald_ops", ParseMode: "MarkdownV2"}, "send_markdownv2.golden.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := startAPI(t, http.StatusOK, okBody)
			tt.settings.APIURL = api.URL
			m := message()
			if tt.settings.ParseMode == "MarkdownV2" {
				m.Text = "*42\\.00 EUR* paid"
			}
			receipt, err := newSender(t, &tt.settings).Send(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			c := api.only(t)
			if c.method != http.MethodPost || c.path != "/bot"+token+"/sendMessage" {
				t.Errorf("request = %s %s, want POST /bot<token>/sendMessage", c.method, c.path)
			}
			if c.contentType != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", c.contentType)
			}
			golden(t, tt.golden, c.body)
			if receipt.ProviderID != "-1001234567890/42" || receipt.StatusCode != 200 || !receipt.Delivered {
				t.Errorf("receipt = %+v, want ProviderID -1001234567890/42, status 200, delivered", receipt)
			}
		})
	}
}

func TestSendHTMLBody(t *testing.T) {
	t.Parallel()
	api := startAPI(t, http.StatusOK, okBody)
	m := message()
	m.HTML = "<b>42.00</b> EUR"
	if _, err := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "1", ParseMode: "html"}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(api.only(t).body, &got); err != nil {
		t.Fatal(err)
	}
	if want := "<b>Order #1001 paid!</b>\n<b>42.00</b> EUR"; got["text"] != want {
		t.Errorf("text = %q, want %q", got["text"], want)
	}
	if got["chat_id"] != float64(1) {
		t.Errorf("chat_id = %#v, want the integer 1", got["chat_id"])
	}
}

func TestSendRecipient(t *testing.T) {
	t.Parallel()
	api := startAPI(t, http.StatusOK, okBody)
	s := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "111"})
	m := message()
	m.To = "@herald_alerts"
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(api.only(t).body, &got)
	if got["chat_id"] != "@herald_alerts" {
		t.Errorf("chat_id = %#v, want the recipient @herald_alerts", got["chat_id"])
	}

	for _, to := range []string{"", "not a chat"} {
		s := newSender(t, &telegram.Settings{APIURL: api.URL})
		m := message()
		m.To = to
		_, err := s.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("To %q without chat_id: err = %v, want permanent", to, err)
		}
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("API got %d requests, want 1 (no call without a valid destination)", n)
	}
}

func TestSendParts(t *testing.T) {
	t.Parallel()
	api := startAPI(t, http.StatusOK, okBody)
	m := message()
	m.Parts = []string{"part one", "part two", "part three"}
	receipt, err := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "5"}).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := api.requests()
	want := []string{"Order #1001 paid!\n\npart one", "part two", "part three"}
	if len(reqs) != len(want) {
		t.Fatalf("API got %d requests, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		var b struct{ Text string }
		json.Unmarshal(r.body, &b)
		if b.Text != want[i] {
			t.Errorf("part %d text = %q, want %q", i, b.Text, want[i])
		}
	}
	if receipt.ProviderID != "-1001234567890/42" {
		t.Errorf("ProviderID = %q, want the first part's", receipt.ProviderID)
	}
}

func TestSendLength(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", "HTML", "MarkdownV2"} {
		t.Run("mode "+mode, func(t *testing.T) {
			t.Parallel()
			api := startAPI(t, http.StatusOK, okBody)
			m := message()
			m.Text = strings.Repeat("é<", 5000)
			if _, err := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "5", ParseMode: mode}).Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			var b struct{ Text string }
			json.Unmarshal(api.only(t).body, &b)
			visible := b.Text
			if mode == "HTML" {
				visible = strings.NewReplacer("<b>", "", "</b>", "", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(visible)
			}
			if mode == "MarkdownV2" {
				visible = strings.NewReplacer("\\", "", "*", "").Replace(visible)
			}
			if n := utf8.RuneCountInString(visible); n > telegram.MaxLength {
				t.Errorf("visible text is %d characters, over the limit %d", n, telegram.MaxLength)
			}
			if !strings.HasSuffix(b.Text, channel.Ellipsis) {
				t.Errorf("a cut text should end with %q", channel.Ellipsis)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	t.Run("edits the newest earlier message", func(t *testing.T) {
		t.Parallel()
		api := startAPI(t, http.StatusOK, okBody)
		s := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "5", Update: true})
		if !s.Capabilities().Update {
			t.Error("Capabilities().Update = false with update: true")
		}
		m := message()
		m.Subject, m.Text = "Resolved", "Order 1001 shipped"
		m.PreviousIDs = []string{"-1001234567890/42", "-1001234567890/41"}
		receipt, err := s.Send(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		c := api.only(t)
		if c.path != "/bot"+token+"/editMessageText" {
			t.Errorf("path = %s, want /bot<token>/editMessageText", c.path)
		}
		golden(t, "edit.golden.json", c.body)
		if receipt.ProviderID != "-1001234567890/42" {
			t.Errorf("ProviderID = %q, want -1001234567890/42", receipt.ProviderID)
		}
	})
	t.Run("not modified is success", func(t *testing.T) {
		t.Parallel()
		api := startAPI(t, http.StatusBadRequest, `{"ok":false,"error_code":400,"description":"Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}`)
		s := newSender(t, &telegram.Settings{APIURL: api.URL, Update: true})
		m := message()
		m.PreviousIDs = []string{"-100200/7"}
		receipt, err := s.Send(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		if receipt.ProviderID != "-100200/7" {
			t.Errorf("ProviderID = %q, want the edited message -100200/7", receipt.ProviderID)
		}
	})
	t.Run("off sends a new message", func(t *testing.T) {
		t.Parallel()
		api := startAPI(t, http.StatusOK, okBody)
		s := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "5"})
		m := message()
		m.PreviousIDs = []string{"-100200/7"}
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if p := api.only(t).path; !strings.HasSuffix(p, "/sendMessage") {
			t.Errorf("path = %s, want sendMessage", p)
		}
	})
}

// TestClassify feeds the Bot API's documented error answers to Send.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		class  channel.Class
		reason string
		after  time.Duration
	}{
		{"flood control", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}`, channel.ClassRetryAfter, "rate_limited", 5 * time.Second},
		{"429 without retry_after", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests"}`, channel.ClassRetryable, "http_429", 0},
		{"chat not found", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, channel.ClassPermanent, "chat_not_found", 0},
		{"too long", 400, `{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}`, channel.ClassPermanent, "message_too_long", 0},
		{"parse entities", 400, `{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 12"}`, channel.ClassPermanent, "parse_error", 0},
		{"migrated", 400, `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}`, channel.ClassPermanent, "chat_migrated", 0},
		{"unauthorized", 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, channel.ClassPermanent, "unauthorized", 0},
		{"blocked", 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`, channel.ClassPermanent, "forbidden", 0},
		{"not found", 404, `{"ok":false,"error_code":404,"description":"Not Found"}`, channel.ClassPermanent, "not_found", 0},
		{"internal", 500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`, channel.ClassRetryable, "http_500", 0},
		{"bad gateway page", 502, `<html>502 Bad Gateway</html>`, channel.ClassRetryable, "http_502", 0},
		{"ok false in a 200", 200, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, channel.ClassPermanent, "chat_not_found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := startAPI(t, tt.status, tt.body)
			_, err := newSender(t, &telegram.Settings{APIURL: api.URL, ChatID: "5"}).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.After != tt.after || ce.StatusCode != tt.status {
				t.Errorf("error = %v/%s after %v status %d, want %v/%s after %v status %d (%v)",
					ce.Class, ce.Reason, ce.After, ce.StatusCode, tt.class, tt.reason, tt.after, tt.status, err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestEscapeMarkdownV2(t *testing.T) {
	t.Parallel()
	in := "_*[]()~`>#+-=|{}.!\\ ok é"
	want := `\_\*\[\]\(\)\~\` + "`" + `\>\#\+\-\=\|\{\}\.\!\\ ok é`
	if got := telegram.EscapeMarkdownV2(in); got != want {
		t.Errorf("EscapeMarkdownV2(%q) = %q, want %q", in, got, want)
	}
	if got := telegram.EscapeHTML(`<a href="x">&</a>`); got != `&lt;a href="x"&gt;&amp;&lt;/a&gt;` {
		t.Errorf("EscapeHTML = %q", got)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := telegram.New(&telegram.Settings{Token: token}, nil); err == nil {
		t.Error("New with a nil client succeeded")
	}
	_, err := telegram.New(&telegram.Settings{Token: "123456:short"}, loopbackClient())
	if err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("New with a malformed token: err = %v, want an error without the token", err)
	}
}
