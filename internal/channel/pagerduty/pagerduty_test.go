package pagerduty_test

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
	"github.com/herald-notify/herald/internal/channel/pagerduty"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// routingKey is the routing key of PagerDuty's own example event.
const routingKey = "e93facc04764012d7bfb002500d5d1a6"

// Bodies from the Events API v2 reference (developer.pagerduty.com, "Send
// an event to PagerDuty", and its OpenAPI document).
const (
	successBody = `{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}`
	invalidBody = `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`
	errorBody   = `{"status":"Unrecognized object","message":"Event object format is unrecognized","errors":["JSON parse error"]}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *pagerduty.Settings) *pagerduty.Sender {
	t.Helper()
	p, err := pagerduty.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// respond answers like the Events API for a status.
func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case status >= 200 && status < 300:
		io.WriteString(w, successBody)
	case status == http.StatusBadRequest:
		io.WriteString(w, invalidBody)
	case status == http.StatusTooManyRequests:
		// PagerDuty documents no body for 429.
	case status >= 500:
		io.WriteString(w, errorBody)
	default:
		io.WriteString(w, http.StatusText(status))
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: url + "/v2/enqueue"})
		},
		Respond: respond,
		Secrets: []string{routingKey},
	})
}

// captured is one request as the fake PagerDuty saw it.
type captured struct {
	method, path string
	header       http.Header
	body         []byte
}

type fakePD struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startPD(t *testing.T, status int, body string) *fakePD {
	t.Helper()
	f := &fakePD{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.Path, r.Header.Clone(), b})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePD) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func (f *fakePD) only(t *testing.T) captured {
	t.Helper()
	r := f.requests()
	if len(r) != 1 {
		t.Fatalf("PagerDuty got %d requests, want 1", len(r))
	}
	return r[0]
}

// checkRequest checks what every Events API call must look like.
func checkRequest(t *testing.T, c captured) map[string]any {
	t.Helper()
	if c.method != http.MethodPost || c.path != "/v2/enqueue" {
		t.Errorf("request = %s %s, want POST /v2/enqueue", c.method, c.path)
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if a := c.header.Get("Authorization"); a != "" {
		t.Errorf("Authorization = %q; the Events API authenticates by routing_key in the body", a)
	}
	var v map[string]any
	if err := json.Unmarshal(c.body, &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", c.body, err)
	}
	if v["routing_key"] != routingKey {
		t.Errorf("routing_key = %v, want the configured key", v["routing_key"])
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
	m.EventType = "disk.full"
	m.Key = "srv01/HTTP"
	m.Subject = "DISK at 99% on machine prod-datapipe03.example.com"
	m.Text = "Free space 1%, load avg 0.75."
	m.To = ""
	return m
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{
		RoutingKey: routingKey,
		APIURL:     pd.URL + "/v2/enqueue",
		Source:     "prod-datapipe03.example.com",
		Component:  "mysql",
		Group:      "prod-datapipe",
		Class:      "disk",
		ClientURL:  "https://monitoring.example.com",
	})
	m := message()
	m.Data = json.RawMessage(`{"free space":"1%","severity":"critical","links":[{"href":"https://example.com/runbook","text":"Runbook"}]}`)
	r, err := p.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "srv01/HTTP" || r.StatusCode != http.StatusAccepted || r.Delivered {
		t.Errorf("receipt = %+v, want provider id srv01/HTTP, status 202, not delivered", r)
	}
	c := pd.only(t)
	v := checkRequest(t, c)
	if v["event_action"] != "trigger" || v["dedup_key"] != "srv01/HTTP" {
		t.Errorf("event_action/dedup_key = %v/%v", v["event_action"], v["dedup_key"])
	}
	pl, _ := v["payload"].(map[string]any)
	if pl["severity"] != "critical" || pl["summary"] != m.Subject || pl["source"] != "prod-datapipe03.example.com" {
		t.Errorf("payload = %v", pl)
	}
	cd, _ := pl["custom_details"].(map[string]any)
	if cd["free space"] != "1%" || cd["text"] != m.Text || cd["event_type"] != "disk.full" {
		t.Errorf("custom_details = %v, want data fields, text and event type", cd)
	}
	if _, ok := cd["severity"]; ok {
		t.Error("severity from data leaked into custom_details")
	}
	golden(t, "trigger.golden.json", c.body)
}

func TestResolveByEventType(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, `{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}`)
	p := newSender(t, &pagerduty.Settings{
		RoutingKey:       routingKey,
		APIURL:           pd.URL + "/v2/enqueue",
		ResolveTypes:     []string{"*.recovered", "disk.ok"},
		AcknowledgeTypes: []string{"disk.ack*"},
	})
	tests := []struct {
		eventType, action string
	}{
		{"disk.recovered", "resolve"},
		{"disk.ok", "resolve"},
		{"disk.acknowledged", "acknowledge"},
		{"disk.full", "trigger"},
	}
	for _, tt := range tests {
		m := message()
		m.EventType = tt.eventType
		m.PreviousIDs = []string{"srv01/HTTP"}
		if _, err := p.Send(t.Context(), m); err != nil {
			t.Fatalf("%s: %v", tt.eventType, err)
		}
	}
	reqs := pd.requests()
	if len(reqs) != len(tests) {
		t.Fatalf("got %d requests, want %d", len(reqs), len(tests))
	}
	for i, tt := range tests {
		v := checkRequest(t, reqs[i])
		if v["event_action"] != tt.action || v["dedup_key"] != "srv01/HTTP" {
			t.Errorf("%s: event_action = %v, dedup_key = %v, want %s srv01/HTTP", tt.eventType, v["event_action"], v["dedup_key"], tt.action)
		}
		if _, has := v["payload"]; has != (tt.action == "trigger") {
			t.Errorf("%s: payload present = %v; the API takes a payload only with trigger", tt.eventType, has)
		}
	}
	golden(t, "resolve.golden.json", reqs[0].body)
}

func TestDataEventActionWins(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: pd.URL + "/v2/enqueue"})
	m := message()
	m.Key = ""
	m.PreviousIDs = []string{"pd-generated-key"}
	m.Data = json.RawMessage(`{"event_action":"resolve"}`)
	if _, err := p.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	v := checkRequest(t, pd.only(t))
	if v["event_action"] != "resolve" || v["dedup_key"] != "pd-generated-key" {
		t.Errorf("event = %v, want resolve of the previous provider id", v)
	}
}

func TestResolveWithoutKey(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: pd.URL + "/v2/enqueue", Action: "resolve"})
	m := message()
	m.Key = ""
	_, err := p.Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "no_dedup_key" {
		t.Fatalf("Send = %v, want permanent no_dedup_key", err)
	}
	if n := len(pd.requests()); n != 0 {
		t.Errorf("PagerDuty got %d requests", n)
	}
}

func TestSeverityFromPriority(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: pd.URL + "/v2/enqueue"})
	want := map[int]string{1: "critical", 0: "error", -1: "warning"}
	for _, prio := range []int{1, 0, -1} {
		m := message()
		m.Priority = prio
		if _, err := p.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	for i, prio := range []int{1, 0, -1} {
		v := checkRequest(t, pd.requests()[i])
		if got := v["payload"].(map[string]any)["severity"]; got != want[prio] {
			t.Errorf("priority %d: severity = %v, want %s", prio, got, want[prio])
		}
	}
}

func TestLongDedupKeyIsHashed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 300)
	got := pagerduty.DedupKey(long)
	if len(got) > pagerduty.MaxDedupKey || !strings.HasPrefix(got, "sha256:") {
		t.Errorf("DedupKey(300 chars) = %q", got)
	}
	if got != pagerduty.DedupKey(long) {
		t.Error("DedupKey is not stable")
	}
	if pagerduty.DedupKey(strings.Repeat("k", 255)) != strings.Repeat("k", 255) {
		t.Error("a 255-character key was changed")
	}
}

func TestLongTextIsTruncated(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: pd.URL + "/v2/enqueue"})
	m := message()
	m.Subject = ""
	m.Text = strings.Repeat("é", 3000)
	if _, err := p.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	v := checkRequest(t, pd.only(t))
	summary := v["payload"].(map[string]any)["summary"].(string)
	if n := utf8.RuneCountInString(summary); n != pagerduty.MaxSummary {
		t.Errorf("summary has %d characters, want exactly %d", n, pagerduty.MaxSummary)
	}
	if !strings.HasSuffix(summary, channel.Ellipsis) {
		t.Error("truncated summary does not end with an ellipsis")
	}
}

func TestPartsSentInOrder(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: pd.URL + "/v2/enqueue"})
	m := message()
	m.Subject = ""
	m.Parts = []string{"part one", "part two"}
	r, err := p.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "srv01/HTTP" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
	reqs := pd.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	for i, want := range m.Parts {
		v := checkRequest(t, reqs[i])
		if got := v["payload"].(map[string]any)["summary"]; got != want {
			t.Errorf("part %d summary = %v, want %q", i, got, want)
		}
	}
}

func TestBadData(t *testing.T) {
	t.Parallel()
	pd := startPD(t, http.StatusAccepted, successBody)
	p := newSender(t, &pagerduty.Settings{RoutingKey: routingKey, APIURL: pd.URL + "/v2/enqueue"})
	for _, data := range []string{`{"severity":"fatal"}`, `{"event_action":"close"}`, `{"severity":3}`, `{"custom_details":[1]}`, `{not json`} {
		m := message()
		m.Data = json.RawMessage(data)
		_, err := p.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("data %s: Send = %v, want permanent", data, err)
		}
	}
	if n := len(pd.requests()); n != 0 {
		t.Errorf("PagerDuty got %d requests for invalid data", n)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
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
		{name: "accepted", status: 202, body: successBody, ok: true},
		{name: "invalid event", status: 400, body: invalidBody, class: channel.ClassPermanent, reason: "invalid_event", text: "Length of 'routing_key' is incorrect"},
		{name: "throttled", status: 429, class: channel.ClassRetryable, reason: "throttled"},
		{name: "throttled with Retry-After", status: 429, header: http.Header{"Retry-After": {"7"}}, class: channel.ClassRetryAfter, reason: "throttled", after: 7 * time.Second},
		{name: "internal error", status: 500, body: errorBody, class: channel.ClassRetryable, reason: "http_500", text: "JSON parse error"},
		{name: "bad gateway", status: 502, body: "<html>bad gateway</html>", class: channel.ClassRetryable, reason: "http_502"},
		{name: "2xx not success", status: 202, body: `{"status":"invalid event","message":"Event object is invalid"}`, class: channel.ClassPermanent, reason: "invalid_event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := pagerduty.Classify(&httpcall.Response{StatusCode: tt.status, Header: tt.header, Body: []byte(tt.body)})
			if tt.ok {
				if err != nil {
					t.Fatalf("Classify = %v, want nil", err)
				}
				return
			}
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Classify = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.StatusCode != tt.status || ce.After != tt.after {
				t.Errorf("Classify = %v/%q/%d/%v, want %v/%q/%d/%v", ce.Class, ce.Reason, ce.StatusCode, ce.After, tt.class, tt.reason, tt.status, tt.after)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	c := newSender(t, &pagerduty.Settings{RoutingKey: routingKey}).Capabilities()
	if c.MaxLength != 1024 || !c.Update || !c.Subject || c.Split || c.HTML {
		t.Errorf("Capabilities = %+v", c)
	}
}
