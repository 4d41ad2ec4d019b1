package matrix_test

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
	"github.com/herald-notify/herald/internal/channel/matrix"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Values from the client-server API specification's examples.
const (
	token   = "syt_aGVyYWxk_lHvbGmtVuDgWxnPVMKNy_1mJ0Bc"
	roomID  = "!636q39766251:example.com"
	eventID = "$YUwRidLecu:example.com"
	okBody  = `{"event_id":"$YUwRidLecu:example.com"}`
	// roomPath is roomID escaped as in the spec's request example.
	roomPath = "%21636q39766251%3Aexample.com"
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *matrix.Settings) *matrix.Sender {
	t.Helper()
	if s.Homeserver == "" {
		s.Homeserver = "https://matrix.example.com"
	}
	if s.AccessToken == "" {
		s.AccessToken = token
	}
	snd, err := matrix.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// respond answers like a homeserver: the event id on success, the
// standard error object otherwise (M_LIMIT_EXCEEDED with retry_after_ms
// for 429).
func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case status >= 200 && status < 300:
		io.WriteString(w, okBody)
	case status == http.StatusTooManyRequests:
		io.WriteString(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2000}`)
	default:
		fmt.Fprintf(w, `{"errcode":"M_UNKNOWN","error":%q}`, http.StatusText(status))
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &matrix.Settings{APIURL: url, Room: roomID})
		},
		Respond: respond,
		Secrets: []string{token},
		Message: func() *channel.Message {
			m := channeltest.Message()
			m.To = ""
			return m
		},
	})
}

type captured struct {
	method, rawPath, auth, contentType string
	body                               []byte
}

type fakeHS struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

// startHS starts a fake homeserver; answer decides each response.
func startHS(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *fakeHS {
	t.Helper()
	f := &fakeHS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		answer(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func fixed(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func (f *fakeHS) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func (f *fakeHS) only(t *testing.T) captured {
	t.Helper()
	r := f.requests()
	if len(r) != 1 {
		t.Fatalf("homeserver got %d requests, want 1", len(r))
	}
	return r[0]
}

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

func message() *channel.Message {
	return &channel.Message{
		ID: "msg-1", IdempotencyKey: "idem-1", Attempt: 1, EventType: "order.paid", Key: "shop/1001",
		Content: channel.Content{Subject: "Order 1001 paid", Text: "Order <1001> & co: 42.00 EUR.\nShip today."},
	}
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msgtype string
		html    string
		golden  string
	}{
		{"text", "", "", "send_text.golden.json"},
		{"notice with html", "notice", "<p>Order <b>1001</b> &amp; co</p>", "send_html.golden.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := startHS(t, fixed(200, okBody))
			m := message()
			m.HTML = tt.html
			receipt, err := newSender(t, &matrix.Settings{APIURL: hs.URL, Room: roomID, MsgType: tt.msgtype}).Send(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			c := hs.only(t)
			wantPath := "/_matrix/client/v3/rooms/" + roomPath + "/send/m.room.message/idem-1.0"
			if c.method != http.MethodPut || c.rawPath != wantPath {
				t.Errorf("request = %s %s, want PUT %s", c.method, c.rawPath, wantPath)
			}
			if c.auth != "Bearer "+token || c.contentType != "application/json" {
				t.Errorf("Authorization %q, Content-Type %q: want the bearer token and application/json", c.auth, c.contentType)
			}
			golden(t, tt.golden, c.body)
			if receipt.ProviderID != roomID+"/"+eventID || receipt.StatusCode != 200 {
				t.Errorf("receipt = %+v, want ProviderID %s/%s", receipt, roomID, eventID)
			}
		})
	}
}

// TestRetrySameTxn is the point of the transaction id: a second attempt
// of the same message uses the same URL, so the homeserver answers with
// the event it already created instead of posting again.
func TestRetrySameTxn(t *testing.T) {
	t.Parallel()
	hs := startHS(t, fixed(200, okBody))
	s := newSender(t, &matrix.Settings{APIURL: hs.URL, Room: roomID})
	m := message()
	m.Parts = []string{"one", "two"}
	for attempt := 1; attempt <= 2; attempt++ {
		m.Attempt = attempt
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	reqs := hs.requests()
	if len(reqs) != 4 {
		t.Fatalf("got %d requests, want 4", len(reqs))
	}
	base := "/_matrix/client/v3/rooms/" + roomPath + "/send/m.room.message/"
	for i, want := range []string{"idem-1.0", "idem-1.1", "idem-1.0", "idem-1.1"} {
		if reqs[i].rawPath != base+want {
			t.Errorf("request %d path = %s, want txn %s", i, reqs[i].rawPath, want)
		}
	}
	other := message()
	other.IdempotencyKey = "idem-2"
	s.Send(t.Context(), other)
	if p := hs.requests()[4].rawPath; p != base+"idem-2.0" {
		t.Errorf("another message's path = %s, want its own txn idem-2.0", p)
	}
}

func TestAliasResolution(t *testing.T) {
	t.Parallel()
	hs := startHS(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if r.URL.EscapedPath() != "/_matrix/client/v3/directory/room/%23monkeys%3Amatrix.org" {
				w.WriteHeader(404)
				io.WriteString(w, `{"errcode":"M_NOT_FOUND","error":"Room alias not found."}`)
				return
			}
			io.WriteString(w, `{"room_id":"!abnjk:matrix.org","servers":["matrix.org","elsewhere.com"]}`)
			return
		}
		io.WriteString(w, okBody)
	})
	s := newSender(t, &matrix.Settings{APIURL: hs.URL, Room: "#monkeys:matrix.org"})
	for range 2 {
		r, err := s.Send(t.Context(), message())
		if err != nil {
			t.Fatal(err)
		}
		if r.ProviderID != "!abnjk:matrix.org/"+eventID {
			t.Errorf("ProviderID = %q, want the resolved room's", r.ProviderID)
		}
	}
	reqs := hs.requests()
	if len(reqs) != 3 || reqs[0].method != http.MethodGet || reqs[0].auth != "Bearer "+token {
		t.Fatalf("requests = %+v, want one directory lookup (cached) then two sends", reqs)
	}
	if reqs[2].rawPath != "/_matrix/client/v3/rooms/%21abnjk%3Amatrix.org/send/m.room.message/idem-1.0" {
		t.Errorf("send path = %s", reqs[2].rawPath)
	}

	m := message()
	m.To = "#nobody:matrix.org"
	_, err := s.Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "not_found" {
		t.Errorf("unknown alias: err = %v, want permanent not_found", err)
	}
}

func TestSendDestination(t *testing.T) {
	t.Parallel()
	hs := startHS(t, fixed(200, okBody))
	for _, to := range []string{"", "general", "@user:example.com"} {
		m := message()
		m.To = to
		_, err := newSender(t, &matrix.Settings{APIURL: hs.URL}).Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("To %q without a room: err = %v, want permanent", to, err)
		}
	}
	if n := len(hs.requests()); n != 0 {
		t.Errorf("%d requests without a valid room", n)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	hs := startHS(t, fixed(200, `{"event_id":"$edit1:example.com"}`))
	s := newSender(t, &matrix.Settings{APIURL: hs.URL, Room: "!other:example.com", Update: true})
	if !s.Capabilities().Update {
		t.Error("Capabilities().Update = false with update: true")
	}
	m := message()
	m.Subject, m.Text = "Resolved", "Order 1001 shipped"
	m.PreviousIDs = []string{roomID + "/" + eventID, roomID + "/$older:example.com"}
	r, err := s.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	c := hs.only(t)
	if want := "/_matrix/client/v3/rooms/" + roomPath + "/send/m.room.message/idem-1.edit"; c.rawPath != want {
		t.Errorf("path = %s, want %s", c.rawPath, want)
	}
	golden(t, "edit.golden.json", c.body)
	if r.ProviderID != roomID+"/$edit1:example.com" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
}

func TestSendLength(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		strings.Repeat("word ", 10000),
		strings.Repeat("😀\"", 15000), // 6 bytes per pair when encoded
	} {
		hs := startHS(t, fixed(200, okBody))
		m := message()
		m.Text = text
		if _, err := newSender(t, &matrix.Settings{APIURL: hs.URL, Room: roomID}).Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		c := hs.only(t)
		if len(c.body) > matrix.MaxContentBytes {
			t.Errorf("content is %d bytes, over %d", len(c.body), matrix.MaxContentBytes)
		}
		var ev struct{ Body string }
		json.Unmarshal(c.body, &ev)
		if n := utf8.RuneCountInString(ev.Body); n > matrix.MaxLength {
			t.Errorf("body is %d characters, over %d", n, matrix.MaxLength)
		}
		if !strings.HasSuffix(ev.Body, channel.Ellipsis) {
			t.Error("a cut body should end with an ellipsis")
		}
	}
}

// TestClassify feeds the specification's error answers to Send.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		header string // Retry-After
		body   string
		class  channel.Class
		reason string
		after  time.Duration
	}{
		{"rate limited, retry_after_ms", 429, "", `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2000}`, channel.ClassRetryAfter, "rate_limited", 2 * time.Second},
		{"rate limited, Retry-After wins", 429, "5", `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2000}`, channel.ClassRetryAfter, "rate_limited", 5 * time.Second},
		{"rate limited, no delay", 429, "", `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests"}`, channel.ClassRetryable, "rate_limited", 0},
		{"unknown token", 401, "", `{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed.","soft_logout":false}`, channel.ClassPermanent, "unauthorized", 0},
		{"missing token", 401, "", `{"errcode":"M_MISSING_TOKEN","error":"Missing access token."}`, channel.ClassPermanent, "unauthorized", 0},
		{"not in room", 403, "", `{"errcode":"M_FORBIDDEN","error":"User @herald:example.com not in room !636q39766251:example.com"}`, channel.ClassPermanent, "forbidden", 0},
		{"unknown room", 404, "", `{"errcode":"M_NOT_FOUND","error":"Unknown room"}`, channel.ClassPermanent, "not_found", 0},
		{"too large", 413, "", `{"errcode":"M_TOO_LARGE","error":"event too large"}`, channel.ClassPermanent, "too_large", 0},
		{"bad json", 400, "", `{"errcode":"M_BAD_JSON","error":"Content not JSON."}`, channel.ClassPermanent, "http_400", 0},
		{"server error", 500, "", `{"errcode":"M_UNKNOWN","error":"Internal server error"}`, channel.ClassRetryable, "http_500", 0},
		{"proxy page", 502, "", `<html>Bad Gateway</html>`, channel.ClassRetryable, "http_502", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := startHS(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := newSender(t, &matrix.Settings{APIURL: hs.URL, Room: roomID}).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.After != tt.after || ce.StatusCode != tt.status {
				t.Errorf("error = %v/%s after %v status %d, want %v/%s after %v status %d (%v)",
					ce.Class, ce.Reason, ce.After, ce.StatusCode, tt.class, tt.reason, tt.after, tt.status, err)
			}
		})
	}
}
