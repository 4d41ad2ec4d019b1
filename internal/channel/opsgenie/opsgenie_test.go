package opsgenie_test

import (
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
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/httpcall"
	"github.com/herald-notify/herald/internal/channel/opsgenie"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// apiKey has the shape of the key in Opsgenie's Alert API examples.
const apiKey = "eb243592-faa2-4ba2-a551-1afdf565c889"

// Answers as Opsgenie documents them: the Alert API's 202 example, the
// standard error shape ({message, took, requestId}) from "Response", and
// the 422 and 429 answers used in Opsgenie's own Go SDK tests.
const (
	acceptedBody = `{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}`
	unauthBody   = `{"message":"Could not authenticate","took":0.0,"requestId":"1ad5ec8f-2a4f-4b1c-8f5e-1c2d3e4f5a6b"}`
	invalidBody  = `{"message":"Request body is not processable. Please check the errors.","errors":{"recipients#type":"Invalid recipient type 'bb'"},"took":0.083,"requestId":"Id"}`
	limitedBody  = `{"message":"TooManyRequests","took":1,"requestId":"rId"}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *opsgenie.Settings) *opsgenie.Sender {
	t.Helper()
	o, err := opsgenie.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		w.Header().Set("X-RateLimit-State", "THROTTLED")
		w.Header().Set("X-RateLimit-Reason", "ACCOUNT")
		w.Header().Set("X-RateLimit-Period-In-Sec", "60")
	}
	w.WriteHeader(status)
	switch {
	case status >= 200 && status < 300:
		io.WriteString(w, acceptedBody)
	case status == http.StatusUnauthorized:
		io.WriteString(w, unauthBody)
	case status == http.StatusUnprocessableEntity:
		io.WriteString(w, invalidBody)
	case status == http.StatusTooManyRequests:
		io.WriteString(w, limitedBody)
	default:
		io.WriteString(w, `{"message":"`+http.StatusText(status)+`","took":0.001,"requestId":"r"}`)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: url})
		},
		Respond: respond,
		Secrets: []string{apiKey},
	})
}

type captured struct {
	method, path, query string
	header              http.Header
	body                []byte
}

type fakeOG struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startOG(t *testing.T) *fakeOG {
	t.Helper()
	f := &fakeOG{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), b})
		f.mu.Unlock()
		respond(w, r, http.StatusAccepted)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOG) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

// checkRequest checks the method, authentication and content type every
// Alert API call must have, and decodes the body.
func checkRequest(t *testing.T, c captured, path, query string) map[string]any {
	t.Helper()
	if c.method != http.MethodPost || c.path != path || c.query != query {
		t.Errorf("request = %s %s?%s, want POST %s?%s", c.method, c.path, c.query, path, query)
	}
	if got := c.header.Get("Authorization"); got != "GenieKey "+apiKey {
		t.Errorf("Authorization = %q, want GenieKey <key>", got)
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var v map[string]any
	if err := json.Unmarshal(c.body, &v); err != nil {
		t.Fatalf("body %q: %v", c.body, err)
	}
	return v
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("request body differs from %s:\n got %s\nwant %s", file, got, want)
	}
}

func message() *channel.Message {
	m := channeltest.Message()
	m.EventType = "host.down"
	m.Key = "prod/db01"
	m.Subject = "db01 is down"
	m.Text = "db01 stopped answering pings at 03:12 UTC.\nLast seen by probe eu-1."
	m.To = "#NOC @trinity@opsgenie.com"
	return m
}

func TestCreate(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{
		APIKey:     apiKey,
		APIURL:     og.URL,
		Responders: []opsgenie.Responder{{Type: "escalation", ID: "4513b7ea-3b91-438f-b7e4-e3e54af9147c"}},
		Tags:       []string{"OverwriteQuietHours", "Critical"},
		Details:    map[string]string{"env": "prod"},
		Entity:     "db01",
		CloseTypes: []string{"host.up"},
	})
	m := message()
	m.Priority = 1
	m.Data = json.RawMessage(`{"probe":"eu-1","attempts":3}`)
	r, err := o.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "43a29c5c-3dbf-4fa4-9c26-f4f71023e120" || r.StatusCode != 202 || r.Delivered {
		t.Errorf("receipt = %+v", r)
	}
	reqs := og.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	v := checkRequest(t, reqs[0], "/v2/alerts", "")
	if v["message"] != "db01 is down" || v["alias"] != "prod/db01" || v["description"] != m.Text || v["priority"] != "P1" {
		t.Errorf("alert = %v", v)
	}
	d, _ := v["details"].(map[string]any)
	if d["env"] != "prod" || d["probe"] != "eu-1" || d["attempts"] != "3" {
		t.Errorf("details = %v, want settings and data fields as strings", d)
	}
	if rs, _ := v["responders"].([]any); len(rs) != 3 {
		t.Errorf("responders = %v, want the settings' one and the recipient's two", v["responders"])
	}
	golden(t, "create.golden.json", reqs[0].body)
}

func TestClose(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL, CloseTypes: []string{"host.up", "*.resolved"}, User: "Herald"})
	m := message()
	m.EventType = "host.up"
	m.Key = "prod/db 01"
	m.Text = "db01 answers again."
	m.PreviousIDs = []string{"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}
	if _, err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	m2 := message()
	m2.EventType = "check.resolved"
	m2.Data = json.RawMessage(`{"note":"closed by data"}`)
	if _, err := o.Send(t.Context(), m2); err != nil {
		t.Fatal(err)
	}
	m3 := message()
	m3.Data = json.RawMessage(`{"action":"close"}`)
	if _, err := o.Send(t.Context(), m3); err != nil {
		t.Fatal(err)
	}
	reqs := og.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests", len(reqs))
	}
	v := checkRequest(t, reqs[0], "/v2/alerts/prod%2Fdb%2001/close", "identifierType=alias")
	if v["note"] != "db01 answers again." || v["user"] != "Herald" || v["source"] != "Herald" {
		t.Errorf("close body = %v", v)
	}
	golden(t, "close.golden.json", reqs[0].body)
	v = checkRequest(t, reqs[1], "/v2/alerts/prod%2Fdb01/close", "identifierType=alias")
	if v["note"] != "closed by data" {
		t.Errorf("note = %v, want the data's", v["note"])
	}
	checkRequest(t, reqs[2], "/v2/alerts/prod%2Fdb01/close", "identifierType=alias")
}

func TestCloseWithoutKey(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL, CloseTypes: []string{"host.up"}})
	m := message()
	m.EventType = "host.up"
	m.Key = ""
	_, err := o.Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "no_alias" {
		t.Fatalf("Send = %v, want permanent no_alias", err)
	}
	if n := len(og.requests()); n != 0 {
		t.Errorf("Opsgenie got %d requests", n)
	}
}

func TestMessageFromText(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL, Region: "eu"})
	m := message()
	m.Subject = ""
	m.Text = strings.Repeat("long first line ", 20) + "\nsecond line"
	if _, err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	v := checkRequest(t, og.requests()[0], "/v2/alerts", "")
	msg := v["message"].(string)
	if utf8.RuneCountInString(msg) != opsgenie.MaxMessage || strings.Contains(msg, "second") {
		t.Errorf("message = %q (%d characters), want the first line cut to %d", msg, utf8.RuneCountInString(msg), opsgenie.MaxMessage)
	}
}

func TestLongTextIsTruncated(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL})
	m := message()
	m.Text = strings.Repeat("ü", 20000)
	if _, err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	v := checkRequest(t, og.requests()[0], "/v2/alerts", "")
	if n := utf8.RuneCountInString(v["description"].(string)); n != opsgenie.MaxDescription {
		t.Errorf("description has %d characters, want %d", n, opsgenie.MaxDescription)
	}
}

func TestPriority(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL})
	for _, p := range []int{1, 0, -1} {
		m := message()
		m.Priority = p
		if _, err := o.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	m := message()
	m.Data = json.RawMessage(`{"priority":"p2"}`)
	if _, err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"P1", "P3", "P5", "P2"} {
		if got := checkRequest(t, og.requests()[i], "/v2/alerts", "")["priority"]; got != want {
			t.Errorf("request %d: priority = %v, want %s", i, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL})
	for _, tc := range []struct{ to, data string }{
		{"#", ""},
		{"", `{"priority":"urgent"}`},
		{"", `{"action":"delete"}`},
		{"", `{"tags":"not-a-list"}`},
		{"", `{"responders":[{"type":"robot","name":"x"}]}`},
		{"", `{broken`},
	} {
		m := message()
		m.To = tc.to
		m.Data = json.RawMessage(tc.data)
		if tc.data == "" {
			m.Data = nil
		}
		_, err := o.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("to %q data %s: Send = %v, want permanent", tc.to, tc.data, err)
		}
	}
	if n := len(og.requests()); n != 0 {
		t.Errorf("Opsgenie got %d requests for bad input", n)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	limited := http.Header{"X-Ratelimit-State": {"THROTTLED"}, "X-Ratelimit-Reason": {"ACCOUNT"}, "X-Ratelimit-Period-In-Sec": {"60"}}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		ok     bool
		class  channel.Class
		reason string
		after  time.Duration
		text   string
	}{
		{name: "accepted", status: 202, body: acceptedBody, ok: true},
		{name: "bad key", status: 401, body: unauthBody, class: channel.ClassPermanent, reason: "unauthenticated", text: "Could not authenticate"},
		{name: "no permission", status: 403, body: `{"message":"You are not authorized","took":0.001,"requestId":"x"}`, class: channel.ClassPermanent, reason: "forbidden"},
		{name: "invalid", status: 422, body: invalidBody, class: channel.ClassPermanent, reason: "unprocessable", text: "recipients#type: Invalid recipient type 'bb'"},
		{name: "throttled per minute", status: 429, header: limited, body: limitedBody, class: channel.ClassRetryAfter, reason: "rate_limited", after: time.Minute},
		{name: "throttled per second", status: 429, header: http.Header{"X-Ratelimit-Period-In-Sec": {"1"}}, body: limitedBody, class: channel.ClassRetryAfter, reason: "rate_limited", after: time.Second},
		{name: "Retry-After wins", status: 429, header: http.Header{"X-Ratelimit-Period-In-Sec": {"60"}, "Retry-After": {"5"}}, class: channel.ClassRetryAfter, reason: "rate_limited", after: 5 * time.Second},
		{name: "throttled, no hint", status: 429, body: limitedBody, class: channel.ClassRetryable, reason: "rate_limited"},
		{name: "server error", status: 500, body: `{"message":"Internal Server Error","took":0.0,"requestId":"y"}`, class: channel.ClassRetryable, reason: "http_500"},
		{name: "unavailable", status: 503, body: "<html>", class: channel.ClassRetryable, reason: "http_503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := opsgenie.Classify(&httpcall.Response{StatusCode: tt.status, Header: tt.header, Body: []byte(tt.body)})
			if tt.ok {
				if err != nil {
					t.Fatalf("Classify = %v", err)
				}
				return
			}
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Classify = %v, want *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.After != tt.after || ce.StatusCode != tt.status {
				t.Errorf("Classify = %v/%q/%v/%d, want %v/%q/%v/%d", ce.Class, ce.Reason, ce.After, ce.StatusCode, tt.class, tt.reason, tt.after, tt.status)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestLongAlias(t *testing.T) {
	t.Parallel()
	k := strings.Repeat("a", 600)
	if a := opsgenie.Alias(k); len(a) > opsgenie.MaxAlias || a != opsgenie.Alias(k) || !strings.HasPrefix(a, "sha256:") {
		t.Errorf("Alias(600 chars) = %q", a)
	}
	if opsgenie.Alias("short") != "short" {
		t.Error("a short alias was changed")
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	c := newSender(t, &opsgenie.Settings{APIKey: apiKey}).Capabilities()
	if c.MaxLength != 15000 || !c.Update || !c.Subject || c.Split {
		t.Errorf("Capabilities = %+v", c)
	}
}

// TestCloseNoteLimit: a close note may be as long as Opsgenie takes for a
// note (MaxNote), longer than an alert's description.
func TestCloseNoteLimit(t *testing.T) {
	t.Parallel()
	og := startOG(t)
	o := newSender(t, &opsgenie.Settings{APIKey: apiKey, APIURL: og.URL, CloseTypes: []string{"host.up"}})
	m := message()
	m.EventType = "host.up"
	m.Text = strings.Repeat("n", opsgenie.MaxDescription+1000)
	if _, err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := og.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	v := checkRequest(t, reqs[0], "/v2/alerts/prod%2Fdb01/close", "identifierType=alias")
	if n := len(v["note"].(string)); n != opsgenie.MaxDescription+1000 {
		t.Errorf("note of %d characters, want all %d (the note limit is %d)", n, opsgenie.MaxDescription+1000, opsgenie.MaxNote)
	}
}
